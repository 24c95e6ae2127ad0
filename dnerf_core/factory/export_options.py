"""dnerf-export's options (what one subject export renders and writes), defined once.

No torch here: the command line builds its options from these fields without loading the library.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..options import opt, validate_fields

FORMATS = ("ply", "glb", "masks", "pts")
DEFAULT_FORMATS = ("ply", "glb", "masks")
# Which in-memory part each format is written from.
NEEDS_CLOUD = ("ply", "pts")
NEEDS_MESH = ("glb",)
DEFAULT_MESH_RESOLUTION = 128


@dataclass(frozen=True)
class ExportOptions:
    """What to export for one subject (the fields are `dnerf-export`'s options)."""

    seed: int = field(default=0, metadata=opt("subject seed", min=0, short="-s"))
    views: int = field(default=8, metadata=opt("number of views spread over the generator's camera range",
                                                min=1, short="-n"))
    resolution: int | None = field(default=None, metadata=opt("view size in pixels [default: the generator's]",
                                                               min=8, max=4096, short="-r"))
    truncation: float = field(default=1.0, metadata=opt("latent truncation psi"))
    ply: bool = field(default=False, metadata=opt("labeled point cloud: cloud.ply"))
    glb: bool = field(default=False, metadata=opt("one mesh node per part: mesh.glb"))
    masks: bool = field(default=False, metadata=opt(
        "rgb/, mask/ (palette PNG), depth/ (16-bit PNG) and transforms.json"))
    pts: bool = field(default=False, metadata=opt("ShapeNet-part pair: cloud.pts + cloud.seg"))
    voxel_size: float | None = field(default=None, metadata=opt(
        "point-cloud voxel size [default: bounds/128]", min=0, min_open=True))
    mesh_resolution: int = field(default=DEFAULT_MESH_RESOLUTION, metadata=opt(
        "marching-cubes grid per axis", min=16, max=512))
    subject_file: str | None = field(default=None, metadata=opt(
        "export a fitted subject (subject.pt of dnerf invert / edit) instead of --seed's", path="file",
        cli=False))

    @property
    def formats(self) -> tuple[str, ...]:
        """The chosen outputs; none chosen means the default three (ply, glb, masks)."""
        chosen = tuple(f for f in FORMATS if getattr(self, f))
        return chosen or DEFAULT_FORMATS

    def validate(self) -> "ExportOptions":
        validate_fields(self)
        return self
