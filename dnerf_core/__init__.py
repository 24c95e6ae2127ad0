"""dnerf: a 3D-aware labeled-data factory (DatasetNeRF on tri-plane generators).

    import dnerf_core as dn
    gen = dn.load_generator("default:car", semantic=None, device="auto")
    labeled = dn.label_subject(gen, seed=7, views=8, resolution=64)
    dn.export(labeled, "out/car-7", formats=("ply", "glb", "masks"))

The names below are the public API (dnerf_core/api/: __init__, semantic, inversion). They are imported on first use, so
`import dnerf_core` stays light (no torch until a name that needs it is touched).
"""
from __future__ import annotations

import importlib

__all__ = ["__version__", "AnnotationKit", "Cameras", "DatasetConfig", "DEFAULT_FORMATS", "DnerfError", "edit",
           "edit_start", "edit_subject", "EditOptions", "ensure_dir", "EditStart", "export", "ExportOptions", "ExportResult",
           "FORMATS", "GeneratorSpec", "IGNORE_ID", "intrinsics_matrix", "invert", "InvertOptions", "JobOutcome",
           "KitOptions", "label_subject", "LabeledSubject", "LabelSet", "load_generator", "load_kit",
           "make_dataset", "make_kit", "MAX_ABS_PITCH", "NerfOptions", "option_fields", "orbit_views", "Pose", "PoseFile",
           "ray_bundle", "read_pose_file", "render_view", "require_branch", "sample_subject", "save_edited",
           "SemanticConfig", "SemanticTrainConfig", "Skeleton", "subject_skeleton", "train_semantic",
           "TrainSemanticOptions", "write_mask_png",
           "write_view_mask"]

# public name -> module that defines it
_LAZY = {
    **{name: "dnerf_core.cameras" for name in ("Cameras", "intrinsics_matrix", "ray_bundle")},
    "IGNORE_ID": "dnerf_core.labels",
    **{name: "dnerf_core.pose_file" for name in ("PoseFile", "read_pose_file")},
    "write_mask_png": "dnerf_core.io.masks",
    "ensure_dir": "dnerf_core.io.atomic",
    "option_fields": "dnerf_core.options",
    "DnerfError": "dnerf_core.errors",
    "LabelSet": "dnerf_core.labels",
    # option classes come from torch-free modules, so reading them (CLI, add-on) stays light
    "EditOptions": "dnerf_core.inversion.options",
    "InvertOptions": "dnerf_core.inversion.options",
    **{name: "dnerf_core.api.inversion" for name in ("EditStart", "JobOutcome", "MAX_ABS_PITCH", "Pose", "edit",
                                                     "edit_start", "edit_subject", "invert", "render_view",
                                                     "require_branch", "save_edited", "write_view_mask")},
    **{name: "dnerf_core.generators.skeleton_rig" for name in ("Skeleton", "subject_skeleton")},
    "DatasetConfig": "dnerf_core.factory.dataset_plan",
    "make_dataset": "dnerf_core.factory.dataset",
    "KitOptions": "dnerf_core.semantic.kit_options",
    **{name: "dnerf_core.semantic.config" for name in ("SemanticConfig", "SemanticTrainConfig", "TrainSemanticOptions")},
    **{name: "dnerf_core.api.semantic" for name in ("AnnotationKit", "load_kit", "make_kit", "train_semantic")},
    **{name: "dnerf_core.api" for name in ("DEFAULT_FORMATS", "ExportOptions", "ExportResult", "FORMATS",
                                           "GeneratorSpec", "LabeledSubject", "NerfOptions", "export", "label_subject",
                                           "load_generator", "orbit_views", "sample_subject")},
}


def _version() -> str:
    """The installed distribution's version, else (a source checkout) pyproject.toml's."""
    from importlib import metadata

    try:
        return metadata.version("dnerf")
    except metadata.PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.is_file() else None
        return found.group(1) if found else "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        value = _version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'dnerf_core' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
