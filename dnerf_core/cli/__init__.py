"""Command line: `dnerf <command>` and the `dnerf-export` shortcut, one module per command group
(export, kit, train, invert / edit / mask, view, dataset).

Every user error (bad option, unknown generator, unusable device, unwritable folder, bad file)
ends as one line on stderr and exit code 2; nothing half-written is left behind.
"""
from __future__ import annotations

import sys

import click

from ..allocator import retain_freed_memory
from .common import CONTEXT, EXIT_USAGE, run
from .dataset import dataset_cmd
from .export import export_cmd
from .invert import edit_cmd, invert_cmd, mask_cmd
from .kit import annotate_kit_cmd
from .train import train_semantic_cmd
from .view import view_cmd

__all__ = ["EXIT_USAGE", "cli", "export_main", "main", "run"]


@click.group(context_settings=CONTEXT)
def cli() -> None:
    """dnerf: a 3D-aware labeled-data factory (DatasetNeRF on tri-plane generators)."""


for _command in (export_cmd, annotate_kit_cmd, train_semantic_cmd, view_cmd, invert_cmd, edit_cmd, mask_cmd,
                 dataset_cmd):
    cli.add_command(_command)


def main(args: list[str] | None = None) -> None:
    retain_freed_memory()
    sys.exit(run(cli, args, "dnerf"))


def export_main(args: list[str] | None = None) -> None:
    retain_freed_memory()
    sys.exit(run(export_cmd, args, "dnerf-export"))
