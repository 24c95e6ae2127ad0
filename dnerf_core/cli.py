"""Command line: `dnerf <command>` and the `dnerf-export` shortcut.

Every user error (bad option, unknown generator, unwritable folder, bad file) ends as one line
on stderr and exit code 2; nothing half-written is left behind.
"""
from __future__ import annotations

import sys

import click

from .errors import DnerfError

EXIT_USAGE = 2

GENERATOR_HELP = ("generator spec: procedural:car|face (exact oracle), default:car|face (shipped tri-plane "
                  "generator), preset:NAME (random EG3D-sized weights), eg3d:FILE.pkl, or FILE.pt")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """dnerf: a 3D-aware labeled-data factory (DatasetNeRF on tri-plane generators)."""


def _export_options(fn):
    decorators = [
        click.option("--generator", "-g", "generator_spec", default="default:car", show_default=True, help=GENERATOR_HELP),
        click.option("--seed", "-s", type=click.IntRange(min=0), default=0, show_default=True, help="subject seed"),
        click.option("--views", "-n", type=click.IntRange(min=1), default=8, show_default=True,
                     help="number of views spread over the generator's camera range"),
        click.option("--resolution", "-r", type=click.IntRange(8, 4096), default=None,
                     help="view size in pixels [default: the generator's]"),
        click.option("--truncation", type=float, default=1.0, show_default=True, help="latent truncation psi"),
        click.option("--ply/--no-ply", default=False, help="labeled point cloud: cloud.ply"),
        click.option("--glb/--no-glb", default=False, help="one mesh node per part: mesh.glb"),
        click.option("--masks/--no-masks", default=False,
                     help="rgb/, mask/ (palette PNG), depth/ (16-bit PNG) and transforms.json"),
        click.option("--pts/--no-pts", default=False, help="ShapeNet-part pair: cloud.pts + cloud.seg"),
        click.option("--voxel-size", type=float, default=None, help="point-cloud voxel size [default: bounds/128]"),
        click.option("--mesh-resolution", type=click.IntRange(16, 512), default=128, show_default=True,
                     help="marching-cubes grid per axis"),
        click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="output folder"),
        click.option("--quiet", "-q", is_flag=True, help="no progress bar"),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


@cli.command("export")
@_export_options
def export_cmd(generator_spec, seed, views, resolution, truncation, ply, glb, masks, pts, voxel_size, mesh_resolution,
               out, quiet) -> None:
    """Export one labeled subject: PLY cloud, per-part GLB, masks (all three if none is chosen)."""
    from .factory.subject_export import ExportOptions, export_subject
    from .generators import load_generator

    if not (ply or glb or masks or pts):
        ply = glb = masks = True
    opts = ExportOptions(seed=seed, views=views, resolution=resolution, truncation=truncation, ply=ply, glb=glb,
                         masks=masks, pts=pts, voxel_size=voxel_size, mesh_resolution=mesh_resolution)
    opts.validate()
    generator = load_generator(generator_spec)
    result = export_subject(generator, generator_spec, opts, out, show_progress=not quiet)
    click.echo(f"wrote {len(result.files)} files to {result.out.resolve()}"
               + (f" ({result.n_points} labeled points" if result.n_points else " (")
               + (f", {result.n_faces} mesh faces)" if result.n_faces else ")"))


def _run(command: click.Command, args: list[str] | None, prog_name: str) -> int:
    try:
        rv = command.main(args=args, prog_name=prog_name, standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"{prog_name}: error: {exc.format_message()}", err=True)
        return EXIT_USAGE
    except DnerfError as exc:
        click.echo(f"{prog_name}: error: {exc}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo(f"{prog_name}: interrupted", err=True)
        return 130


def main(args: list[str] | None = None) -> None:
    sys.exit(_run(cli, args, "dnerf"))


def export_main(args: list[str] | None = None) -> None:
    sys.exit(_run(export_cmd, args, "dnerf-export"))
