"""`dnerf view`: a labeled PLY, part GLB or export folder on screen (viewers/ imported lazily)."""
from __future__ import annotations

from pathlib import Path

import click

from .common import CONTEXT


def _window_size(ctx, param, value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT (e.g. 1024x768), got {value!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise click.BadParameter(f"width and height must lie in 16..8192, got {value!r}")
    return w, h


@click.command("view", context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--backend", "-b", type=click.Choice(["open3d", "pyvista"]), default="open3d", show_default=True,
              help="rendering library (optional extra: pip install 'dnerf[viewers]')")
@click.option("--diff", "diff_path", type=click.Path(path_type=Path), default=None,
              help="another labeled cloud (e.g. ground truth): highlight points whose label differs from "
                   "the label of the nearest point there")
@click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="render offscreen into this PNG instead of opening a window")
@click.option("--size", callback=_window_size, default="1024x768", show_default=True, help="window/image WIDTHxHEIGHT")
@click.option("--point-size", type=click.FloatRange(0.5, 50), default=3.0, show_default=True, help="pixels")
@click.option("--legend/--no-legend", default=True, show_default=True, help="draw the legend")
@click.option("--mesh", "prefer_mesh", is_flag=True, help="for an export folder: show mesh.glb, not cloud.ply")
def view_cmd(path, backend, diff_path, screenshot, size, point_size, legend, prefer_mesh) -> None:
    """Show a labeled PLY, a part GLB or an export folder, colored by part (keys 1..9 toggle parts)."""
    from viewers.app import ViewOptions, run_view

    run_view(ViewOptions(path=path, backend=backend, diff=diff_path, screenshot=screenshot, size=size,
                         point_size=point_size, legend=legend, prefer_mesh=prefer_mesh), echo=click.echo)
