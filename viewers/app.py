"""`dnerf view`: load, (diff,) print per-part counts, then show a window or write a screenshot.

The rendering library is imported only here, lazily, for the backend asked for.
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dnerf_core.errors import DnerfError
from dnerf_core.view_options import ViewOptions

from .diff import LabelDiff, label_diff
from .geometry import LabeledGeometry, PartCount, load_geometry, part_counts
from .image import write_png
from .scene import ViewScene, build_scene, key_help

BACKENDS = {"open3d": "viewers.open3d_backend", "pyvista": "viewers.pyvista_backend"}
__all__ = ["BACKENDS", "ViewOptions", "ViewReport", "prepare", "run_view"]


@dataclass
class ViewReport:
    geometry: LabeledGeometry
    counts: list[PartCount]
    scene: ViewScene
    diff: LabelDiff | None = None
    screenshot: Path | None = None


def backend_module(name: str):
    if name not in BACKENDS:
        raise DnerfError(f"unknown viewer backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])


def count_table(geom: LabeledGeometry, counts: list[PartCount], diff: LabelDiff | None, scene: ViewScene) -> list[str]:
    """The per-part counts as printed on stdout (one row per part, in legend order)."""
    keys = {layer.label_id: layer.key or "-" for layer in scene.layers}
    differ = diff.count_by_label(geom.labels) if diff is not None else None
    width = max([len(c.name) for c in counts] + [4])
    lines = [f"{geom.path}: {len(geom.labels)} {geom.unit} in {len(counts)} parts "
             f"(colors from {geom.legend.source})",
             f"  key  {'id':>3}  {'part':<{width}}  {geom.unit:>8}   share" + ("    differ" if differ is not None else "")]
    for c in counts:
        row = f"  {keys[c.label_id]:<3}  {c.label_id:>3}  {c.name:<{width}}  {c.count:>8}  {100 * c.share:5.1f}%"
        if differ is not None:
            row += f"  {differ.get(c.label_id, 0):>8}"
        lines.append(row)
    return lines


def diff_summary(diff: LabelDiff, other: Path) -> str:
    return (f"diff vs {other}: {diff.count} of {len(diff.disagree)} points ({100 * diff.share:.2f}%) disagree "
            f"with the label of the nearest point (median nearest distance {float(np.median(diff.distance)):.4g})")


def _load_diff(path: Path) -> LabeledGeometry:
    try:
        return load_geometry(path)
    except DnerfError as exc:
        raise DnerfError(f"--diff: {exc}") from None


def prepare(opts: ViewOptions) -> ViewReport:
    """Everything but the rendering: load, diff, counts, the scene to draw."""
    if opts.backend not in BACKENDS:  # fail before any loading work
        backend_module(opts.backend)
    geom = load_geometry(Path(opts.path), prefer_mesh=opts.prefer_mesh)
    diff = None
    if opts.diff is not None:
        if geom.kind != "points":
            raise DnerfError(f"--diff compares point clouds; {geom.path} is a mesh")
        other = _load_diff(Path(opts.diff))
        if other.kind != "points":
            raise DnerfError(f"--diff: {other.path} is a mesh, not a labeled point cloud")
        diff = label_diff(geom, other)
    scene = build_scene(geom, diff)
    return ViewReport(geom, part_counts(geom), scene, diff)


def run_view(opts: ViewOptions, echo: Callable[[str], None] = print) -> ViewReport:
    """Load and report; then write a screenshot (offscreen, no window) or open a window."""
    opts.validate()
    size = opts.window_size
    report = prepare(opts)
    for line in count_table(report.geometry, report.counts, report.diff, report.scene):
        echo(line)
    if report.diff is not None:
        echo(diff_summary(report.diff, Path(opts.diff)))
    for note in report.scene.notes:
        echo(f"note: {note}")
    backend = backend_module(opts.backend)
    if opts.screenshot is not None:
        if Path(opts.screenshot).suffix.lower() != ".png":
            raise DnerfError(f"--screenshot must name a .png file, got {opts.screenshot}")
        image = backend.screenshot(report.scene, size, opts.point_size, legend=opts.legend)
        report.screenshot = write_png(Path(opts.screenshot), image)
        echo(f"wrote {report.screenshot}")
        return report
    if sys.platform == "linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise DnerfError("no display to open a window on: pass --screenshot OUT.png, or run under xvfb-run")
    echo("keys:")
    for line in key_help(report.scene):
        echo(line)
    backend.show(report.scene, size, opts.point_size)
    return report
