"""`dnerf view`'s options, defined once (no torch, no viewer library: the CLI reads them at start;
viewers/app.py renders with them)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import DnerfError
from .options import opt, validate_fields

VIEW_BACKENDS = ("open3d", "pyvista")
MIN_SIDE, MAX_SIDE = 16, 8192


def parse_window_size(value: str) -> tuple[int, int]:
    """'1024x768' -> (1024, 768), each side in MIN_SIDE..MAX_SIDE."""
    try:
        w, h = (int(v) for v in str(value).lower().split("x"))
    except ValueError:
        raise DnerfError(f"--size: expected WIDTHxHEIGHT (e.g. 1024x768), got {value!r}") from None
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise DnerfError(f"--size: width and height must lie in {MIN_SIDE}..{MAX_SIDE}, got {value!r}")
    return w, h


@dataclass(frozen=True)
class ViewOptions:
    """How `dnerf view` shows a labeled PLY, part GLB or export folder (path: what to show)."""

    path: str | None = field(default=None, metadata=opt("PLY, GLB or export folder to show", cli=False))
    backend: str = field(default=VIEW_BACKENDS[0], metadata=opt(
        "rendering library (optional extra: pip install 'dnerf[viewers]')", choices=VIEW_BACKENDS, short="-b"))
    diff: str | None = field(default=None, metadata=opt(
        "another labeled cloud (e.g. ground truth): highlight points whose label differs from the label of the "
        "nearest point there", path="file"))
    screenshot: str | None = field(default=None, metadata=opt(
        "render offscreen into this PNG instead of opening a window", path="file"))
    size: str = field(default="1024x768", metadata=opt("window/image WIDTHxHEIGHT"))
    point_size: float = field(default=3.0, metadata=opt("pixels", min=0.5, max=50))
    legend: bool = field(default=True, metadata=opt("draw the legend"))
    prefer_mesh: bool = field(default=False, metadata=opt(
        "for an export folder: show mesh.glb, not cloud.ply", flag=True, spelling="--mesh"))

    def validate(self) -> "ViewOptions":
        validate_fields(self)
        parse_window_size(self.size)
        return self

    @property
    def window_size(self) -> tuple[int, int]:
        return parse_window_size(self.size)
