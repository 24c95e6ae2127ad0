"""`dnerf dataset`: the click command (registered on the `dnerf` group in cli.py).

Options map one to one onto DatasetConfig (factory/dataset_plan.py), where each is documented.
"""
from __future__ import annotations

import click

from ..errors import DnerfError
from ..factory.export_options import DEFAULT_RENDER_PATH, POSE_HELP
from .common import device_option

GENERATOR_HELP = ("generator spec: procedural:car|face|figure (exact oracle), default:car|face|figure (shipped tri-plane "
                  "generator), preset:NAME, eg3d:FILE.pkl, or FILE.pt")


def _formats(ctx, param, value: str):
    from ..factory.dataset_plan import parse_formats

    try:
        return parse_formats(value)
    except DnerfError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("dataset")
@click.option("--generator", "-g", "generator_spec", required=True, help=GENERATOR_HELP)
@click.option("--semantic", "semantic_ckpt", type=click.Path(dir_okay=False), default=None,
              help="semantic checkpoint (dnerf train-semantic) labeling a learned generator")
@click.option("--subjects", "-N", type=int, required=True, help="number of subjects (seeds SEED_START..+N-1)")
@click.option("--views", "-V", type=int, default=None,
              help="views per subject (required with --poses orbit|random; with a FILE: default all of it)")
@click.option("--resolution", "-r", type=int, default=128, show_default=True, help="view size in pixels")
@click.option("--poses", default="orbit", show_default=True,
              help="orbit (spread over the camera range), random (a pure function of seed and view), or a FILE: "
                   "transforms.json or a JSON list of [yaw, pitch] degrees, used for every subject")
@click.option("--split", default="train=0.9,val=0.05,test=0.05", show_default=True,
              help="NAME=FRACTION,... summing to 1; subjects are assigned by a hash of their seed")
@click.option("--formats", default="folders", show_default=True, callback=_formats,
              help="comma list of folders (dnerf-export folders), webdataset (tar shards), ply, pts")
@click.option("--shard-size", "-K", type=int, default=100, show_default=True, help="subjects per shard")
@click.option("--seed-start", type=int, default=0, show_default=True, help="first subject seed")
@click.option("--truncation", type=float, default=1.0, show_default=True, help="latent truncation psi")
@click.option("--render", default=DEFAULT_RENDER_PATH, show_default=True,
              help="how views are rendered: auto (fast where the generator has it, else volume), volume (full ray "
                   "march), fast (march skipping empty space) or surface "
                   "(rays cast against each subject's baked mesh; needs dnerf[fast]); a resume keeps it")
@click.option("--pose", default=None, help=POSE_HELP + "; random gives each subject its own pose; a resume keeps it")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local worker processes, or one Ray task per shard")
@click.option("--workers", "-w", type=int, default=1, show_default=True, help="local worker processes")
@click.option("--ray-address", default=None,
              help="Ray cluster address (auto = the cluster this machine belongs to) [default: a local Ray instance]")
@device_option
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="dataset folder")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def dataset_cmd(generator_spec, semantic_ckpt, subjects, views, resolution, poses, split, formats, shard_size,
                seed_start, truncation, render, pose, executor, workers, ray_address, device, out, quiet) -> None:
    """Make a dataset of N labeled subjects x V views: sharded, resumable (re-run the same command)."""
    from ..factory.dataset import make_dataset
    from ..factory.dataset_plan import DatasetConfig

    from ..device import resolve_device

    resolve_device(device)  # an unusable device fails before anything is planned or written
    if ray_address and executor != "ray":
        raise DnerfError("--ray-address needs --executor ray")
    config = DatasetConfig(generator=generator_spec, semantic=semantic_ckpt, subjects=subjects, views=views,
                           resolution=resolution, poses=poses, split=split, formats=formats, shard_size=shard_size,
                           seed_start=seed_start, truncation=truncation, render=render, pose=pose, executor=executor, workers=workers,
                           ray_address=ray_address, out=out, progress=not quiet, device=device)
    result = make_dataset(config, echo=lambda msg: click.echo(msg, err=True))
    click.echo(f"{result.out.resolve()}: {result.shards} shards ({result.written} written, {result.skipped} "
               f"already complete), {result.views} views in {result.seconds:.1f} s = "
               f"{result.views_per_second:.2f} views/s, {result.bytes} bytes written")
