"""The lab surface: what measurement code needs beyond the product API.

research/ and the maintainers' scripts (training the shipped default generators, benchmarks) import
from here and from `dnerf_core`, never from the modules below, so the package's insides can move
without breaking them (tests/test_layers.py checks it). A name here is kept stable like a public
one, but it is a tool for measuring and training the generators (oracle worlds, kernels, metrics,
splits), not something a user of the labeled-data factory needs. Names load on first use.

Renamed here, because the product API has a different function of the same name:
  load_base_generator = generators.registry.load_generator (the generator alone, no semantic branch)
  train_branch        = semantic.train.train_semantic (in memory, from tensors; the API trains from a kit)
  write_kit           = semantic.annotations.make_kit (keyword settings; the API takes KitOptions)
"""
from __future__ import annotations

import importlib


def _from(module: str, *names: str) -> dict[str, tuple[str, str]]:
    return {name: (module, name) for name in names}


# lab name -> (module that defines it, its name there)
_LAZY: dict[str, tuple[str, str]] = {
    # errors
    **_from("dnerf_core.errors", "AnnotationError", "CheckpointError", "GeneratorSpecError"),
    # labels and cameras
    **_from("dnerf_core.labels", "BACKGROUND_ID"),
    **_from("dnerf_core.cameras", "orbit_cameras", "random_orbit_cameras", "spread_orbit_cameras",
            "video_orbit_cameras"),
    # files, seeds and metrics
    **_from("dnerf_core.io.atomic", "atomic_write_text", "emit_json"),
    **_from("dnerf_core.io.tagged_file", "load_tagged", "save_tagged"),
    **_from("dnerf_core.io.splits", "EVAL_POSE_SEED", "HELDOUT_SEED_START", "heldout_seeds"),
    **_from("dnerf_core.io.metrics", "confusion_matrix", "mask_iou", "masked_abs_error", "psnr",
            "segmentation_scores"),
    **_from("dnerf_core.allocator", "exact_resident_memory", "retain_freed_memory"),
    # generators and oracle worlds
    **_from("dnerf_core.generators.base", "Generator", "LabelingWrapper", "RenderOutput", "Subject"),
    **_from("dnerf_core.generators.registry", "shipped_semantic"),
    "load_base_generator": ("dnerf_core.generators.registry", "load_generator"),
    **_from("dnerf_core.generators.procedural", "ProceduralGenerator"),
    **_from("dnerf_core.generators.procedural.figure", "FigureGenerator", "make_figure", "random_pose"),
    **_from("dnerf_core.generators.triplane_gan", "TriPlaneGAN"),
    **_from("dnerf_core.generators.networks.decoder", "TriPlaneDecoder"),
    **_from("dnerf_core.generators.networks.layers", "SynthesisLayer", "ToRGB"),
    **_from("dnerf_core.generators.default_config", "default_config"),
    **_from("dnerf_core.generators.triplane_io", "save_triplane"),
    **_from("dnerf_core.generators.surface_labels", "SURFACE_OPACITY", "SurfaceOracleLabels",
            "oracle_labels_on_surface"),
    # distilling the default generators
    **_from("dnerf_core.generators.distill", "DistillConfig", "distill_step", "learning_rate", "point_losses",
            "point_targets", "ray_losses", "ray_targets", "reference_step", "rescale_decoder",
            "resume_training_state", "save_training_state", "supervision_points"),
    **_from("dnerf_core.generators.training_run", "TrainingRun", "run_steps", "start_run"),
    **_from("dnerf_core.generators.articulated", "ArticulatedTriPlane", "articulated_distill_step",
            "default_figure_config", "load_articulated", "save_articulated"),
    # render kernels
    **_from("dnerf_core.render.config", "DEFAULT_CHUNK_RAYS"),
    **_from("dnerf_core.render.raymarch", "march_chunked"),
    **_from("dnerf_core.render.triplane", "channels_innermost", "sample_planes", "sample_planes_summed"),
    **_from("dnerf_core.render.plane_taps", "plane_table", "plane_taps", "sample_table_summed"),
    **_from("dnerf_core.render.plane_mlp", "native_available", "native_kernel"),
    **_from("dnerf_core.render.agreement", "pooled_agreement", "render_agreement"),
    # the semantic branch
    **_from("dnerf_core.semantic.branch", "SemanticBranch"),
    **_from("dnerf_core.semantic.labeled", "LabeledGenerator"),
    **_from("dnerf_core.semantic.train", "batch_loss", "class_weights", "decay_learning_rates", "prepare_views",
            "same_train_config"),
    "train_branch": ("dnerf_core.semantic.train", "train_semantic"),
    **_from("dnerf_core.semantic.annotations", "kit_views", "spec_category", "views_by_seed"),
    "write_kit": ("dnerf_core.semantic.annotations", "make_kit"),
    **_from("dnerf_core.semantic.position", "encode_positions", "position_features"),
    **_from("dnerf_core.semantic.masks", "resize_masks"),
    **_from("dnerf_core.semantic.checkpoint", "generator_identity", "load_semantic", "read_semantic"),
    **_from("dnerf_core.semantic.render", "render_semantic_rays"),
    # views, clouds and meshes
    **_from("dnerf_core.factory.views", "ViewSet", "render_views", "supports_render_path", "to_resolution"),
    **_from("dnerf_core.factory.pointcloud", "BackprojectConfig", "backproject", "default_voxel_size",
            "labeled_point_cloud", "voxel_downsample"),
    **_from("dnerf_core.factory.mesh", "FACE_LABELINGS", "MeshConfig", "extract_surface", "face_labels"),
    **_from("dnerf_core.factory.surface_views", "SurfaceConfig", "bake_surface", "render_surface"),
    # reading back what `dnerf dataset` wrote
    **_from("dnerf_core.factory.torch_dataset", "FolderViews"),
    **_from("dnerf_core.factory.export.shapenet_part", "read_pts_seg"),
    # inversion
    **_from("dnerf_core.inversion.config", "FitConfig"),
    **_from("dnerf_core.inversion.objective", "ViewObjective"),
    **_from("dnerf_core.inversion.rgb", "average_latent", "invert_rgb"),
    **_from("dnerf_core.inversion.targets", "label_term", "rgb_term"),
    **_from("dnerf_core.inversion.mask", "MASK_FIT", "invert_mask"),
    **_from("dnerf_core.inversion.edit", "EDIT_FIT", "edit_scores", "transplant_part"),
    **_from("dnerf_core.inversion.pose", "yaw_error_degrees"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
