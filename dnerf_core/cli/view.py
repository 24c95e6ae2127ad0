"""`dnerf view`: a labeled PLY, part GLB or export folder on screen (viewers/ imported lazily)."""
from __future__ import annotations

from pathlib import Path

import click

from ..view_options import ViewOptions
from .common import CONTEXT, config_from, config_options


@click.command("view", context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@config_options(ViewOptions)
def view_cmd(path, **options) -> None:
    """Show a labeled PLY, a part GLB or an export folder, colored by part (keys 1..9 toggle parts)."""
    from viewers.app import run_view

    run_view(config_from(ViewOptions, options, path=str(path)), echo=click.echo)
