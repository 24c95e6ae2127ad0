"""`dnerf annotate-kit`'s options, defined once (no torch here: the CLI reads them at start)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DnerfError
from ..io.splits import HELDOUT_SEED_START
from ..options import opt, validate_fields
from ..render.config import RENDER_PATHS

MIN_RESOLUTION, MAX_RESOLUTION = 8, 4096
ORACLE_MASKS = ("image", "world")  # image / world masks: see semantic/annotations.py
DEFAULT_ORACLE_MASKS = "image"
# A kit's images take the full volume march unless asked otherwise (the export's default too).
DEFAULT_KIT_RENDER = "volume"


@dataclass(frozen=True)
class KitOptions:
    """What `dnerf annotate-kit` renders (make_kit's keyword arguments)."""

    subjects: int = field(default=30, metadata=opt(
        "subjects (seeds 0..N-1 plus --seed-offset, all from the training range)", min=1))
    views: int = field(default=3, metadata=opt(
        "views per subject: frontal, two side views, then extra views spread over the range", min=1, short="-n"))
    resolution: int | None = field(default=None, metadata=opt(
        "image size in pixels [default: the generator's]", min=MIN_RESOLUTION, max=MAX_RESOLUTION, short="-r"))
    seed_offset: int = field(default=0, metadata=opt("first subject seed", min=0))
    oracle: bool = field(default=False, metadata=opt(
        "fill masks/ from the procedural ground truth (stand-in annotator)", flag=True))
    oracle_masks: str = field(default=DEFAULT_ORACLE_MASKS, metadata=opt(
        "with --oracle: image = the true part of every surface point each image shows (what a careful "
        "annotator of the image draws); world = the procedural subject's own render of the seed",
        choices=ORACLE_MASKS))
    poses: str | None = field(default=None, metadata=opt(
        "pose file replacing the frontal/side rig for every subject: a transforms.json or a JSON list of "
        "[yaw, pitch] / [yaw, pitch, radius] in radians", path="file"))
    render: str = field(default=DEFAULT_KIT_RENDER, metadata=opt(
        "how images are rendered: auto = fast where the generator has it, else volume; volume = the full "
        "ray march; fast = the march skipping empty space; "
        "surface = rays cast against each subject's baked mesh [surface needs dnerf[fast]]", choices=RENDER_PATHS))

    def validate(self) -> "KitOptions":
        validate_fields(self)
        if self.render == "surface":  # the missing extra fails before any work, in one line
            from ..render.surface_cast import DEFAULT_CASTER, check_caster

            check_caster(DEFAULT_CASTER)
        if self.seed_offset + self.subjects > HELDOUT_SEED_START:
            raise DnerfError(f"annotation seeds must stay below the held-out range ({HELDOUT_SEED_START}); "
                             f"seeds {self.seed_offset}..{self.seed_offset + self.subjects - 1} do not")
        return self
