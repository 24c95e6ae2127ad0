"""`dnerf export` / `dnerf-export`: one labeled subject -> PLY cloud, part GLB, masks."""
from __future__ import annotations

import click

from ..errors import DnerfError
from ..factory.export_options import NEEDS_CLOUD, NEEDS_MESH, ExportOptions
from .common import CONTEXT, config_from, config_options, device_option, generator_option, views_or_poses


def use_bf16_superres(generator) -> None:
    """Run the generator's super-resolution convolutions in bfloat16 (refused when it has none)."""
    import torch

    from ..generators.posing import base_generator
    from ..generators.spec import describe

    base = base_generator(generator)  # a labeled generator renders through its generator
    if getattr(base, "superresolution", None) is None:
        raise DnerfError(f"--bf16-superres: {describe(generator)} has no super-resolution to run in bfloat16")
    base.superres_dtype = torch.bfloat16


@click.command("export", context_settings=CONTEXT)
@generator_option()
@config_options(ExportOptions)
@click.option("--semantic", "semantic_ckpt", type=click.Path(dir_okay=False), default=None,
              help="semantic checkpoint (dnerf train-semantic) labeling a learned generator")
@click.option("--subject", "subject_file", type=click.Path(dir_okay=False), default=None,
              help="export a fitted subject (subject.pt of dnerf invert / edit) instead of --seed's")
@click.option("--bf16-superres", is_flag=True,
              help="super-resolution convolutions in bfloat16: about 2x faster 512x512 views of "
                   "EG3D-size generators, not bit-identical to float32")
@device_option
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="output folder")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def export_cmd(generator_spec, semantic_ckpt, subject_file, bf16_superres, device, out, quiet, **options) -> None:
    """Export one labeled subject: PLY cloud, per-part GLB, masks (all three if none is chosen)."""
    from tqdm import tqdm

    import dnerf_core as dn

    views_or_poses(options.get("poses"))
    opts = config_from(ExportOptions, options, subject_file=subject_file)
    formats = opts.formats
    poses = opts.pose_file()
    generator = dn.load_generator(generator_spec, semantic_ckpt, device=device)
    if opts.pose is not None:
        from ..generators.posing import require_posable

        require_posable(generator, opts.pose)  # one line, before anything is rendered
    if bf16_superres:
        use_bf16_superres(generator)
    cameras, resolution = None, opts.resolution
    if poses is not None:
        cameras = poses.cameras(generator.orbit)
        resolution = opts.resolution if opts.resolution is not None else poses.resolution
    n_views = len(cameras) if cameras is not None else (opts.views if formats else 0)
    with tqdm(total=n_views + opts.video + 1, disable=quiet, unit="step", leave=False) as bar:
        def progress(stage: str, n: int) -> None:
            bar.set_description(stage)
            bar.update(n)

        labeled = dn.label_subject(
            generator, None if subject_file else opts.seed, subject=subject_file, cameras=cameras, views=n_views,
            resolution=resolution, truncation=opts.truncation, cloud=any(f in formats for f in NEEDS_CLOUD),
            mesh=any(f in formats for f in NEEDS_MESH), voxel_size=opts.voxel_size,
            mesh_resolution=opts.mesh_resolution, progress=progress, video=opts.video, render=opts.render,
            pose=opts.pose)
        bar.set_description("write")
        nerf = dn.NerfOptions(opts.eval_views, opts.nerf_mask, opts.video_format, opts.video_fps)
        result = dn.export(labeled, out, formats, {"poses": opts.poses} if opts.poses else None, nerf)
        bar.update(1)
    click.echo(f"wrote {len(result.files)} files to {result.out.resolve()}"
               + (f" ({result.n_points} labeled points" if result.n_points else " (")
               + (f", {result.n_faces} mesh faces)" if result.n_faces else ")"))
