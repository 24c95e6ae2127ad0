"""dnerf-export's options (what one subject export renders and writes), defined once.

No torch here: the command line builds its options from these fields without loading the library.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..options import opt, validate_fields
from ..render.config import RENDER_PATHS

FORMATS = ("ply", "glb", "masks", "pts")
DEFAULT_FORMATS = ("ply", "glb", "masks")
# Which in-memory part each format is written from.
NEEDS_CLOUD = ("ply", "pts")
NEEDS_MESH = ("glb",)
DEFAULT_MESH_RESOLUTION = 128
# How labeled views are rendered unless asked otherwise (dnerf-export / dataset / annotate-kit
# --render, the Blender add-on, label_subject), one of render/config.RENDER_PATHS: "auto" = the
# fast march where the generator has it (mIoU >= 0.99, RGB >= 100 dB against the full march on
# held-out default:car / default:face views, 4-7x faster at 128x128: scripts/bench.py --only fast),
# else the full march. The surface path is faster still but agrees less (mIoU ~0.95): asked for.
DEFAULT_RENDER_PATH = "auto"
# The view size exports render when none is asked for; None = the generator's neural resolution,
# at least MIN_DEFAULT_VIEW_RESOLUTION (factory/views.default_view_resolution): a 128x128 labeled
# view on the fast path costs about what a 64x64 one cost on the full march.
DEFAULT_VIEW_RESOLUTION: int | None = None
MIN_DEFAULT_VIEW_RESOLUTION = 128
# --pose (dnerf-export, dnerf dataset, the add-on): a body pose, unlike --poses (camera poses).
# generators/posing.py reads it; "random" is a pose seed derived from the subject seed.
POSE_HELP = ("body pose of an articulated subject (named pose, random pose seed, or JSON of joint angles): "
             "t, walk, sit, wave, rest; random (a pose seed derived from the subject seed), random:N or N "
             "(pose seed N); a JSON object or .json file of {joint: degrees} [only for procedural:figure and "
             "default:figure]")


def check_pose_request(pose) -> None:
    """Refuse a malformed --pose before anything is loaded (generators/posing.check_pose_spec)."""
    if pose is not None:
        from ..generators.posing import check_pose_spec
        from ..generators.procedural.skeleton import PoseError

        try:
            check_pose_spec(pose)
        except PoseError as exc:
            raise PoseError(f"--pose: {exc}") from None


def check_render_request(render: str) -> None:
    """Refuse an unknown render path, and the surface path without its ray-casting extra, before
    anything is loaded or rendered (one line naming the extra to install)."""
    if render not in RENDER_PATHS:
        from ..errors import DnerfError

        raise DnerfError(f"--render must be one of {', '.join(RENDER_PATHS)}, got {render!r}")
    if render == "surface":
        from ..render.surface_cast import DEFAULT_CASTER, check_caster

        check_caster(DEFAULT_CASTER)


@dataclass(frozen=True)
class ExportOptions:
    """What to export for one subject (the fields are `dnerf-export`'s options)."""

    seed: int = field(default=0, metadata=opt("subject seed", min=0, short="-s"))
    views: int = field(default=8, metadata=opt("number of views spread over the generator's camera range",
                                                min=1, short="-n"))
    resolution: int | None = field(default=DEFAULT_VIEW_RESOLUTION, metadata=opt(
                                   "view size in pixels [default: the generator's, at least 128]",
                                                               min=8, max=4096, short="-r"))
    truncation: float = field(default=1.0, metadata=opt("latent truncation psi"))
    pose: str | None = field(default=None, metadata=opt(POSE_HELP))
    render: str = field(default=DEFAULT_RENDER_PATH, metadata=opt(
        "how views are rendered: auto = fast where the generator has it, else volume; volume = the full ray "
        "march (reference); fast = the march skipping empty space; surface = rays cast against the subject's baked mesh, fields evaluated at the hit "
        "[surface needs dnerf[fast]]", choices=RENDER_PATHS))
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
    poses: str | None = field(default=None, metadata=opt(
        "pose file replacing --views: a transforms.json (e.g. one dnerf-export wrote) or a JSON list of "
        "[yaw, pitch] / [yaw, pitch, radius] in radians on the generator's orbit", path="file"))
    eval_views: int | None = field(default=None, metadata=opt(
        "frames held out as nerfstudio's val/test split [default: max(2, 10%), fewer for 1-3 views]", min=0))
    nerf_mask: bool = field(default=False, metadata=opt(
        "also write fg_mask/ (255 = geometry) as nerfstudio's mask_path: train on the object only", flag=True))
    video: int = field(default=0, metadata=opt(
        "orbit video of N frames: video_rgb, video_mask, video (side by side) [needs dnerf[video]]", min=0))
    video_format: str = field(default="mp4", metadata=opt("orbit video container", choices=("mp4", "gif")))
    video_fps: int = field(default=24, metadata=opt("orbit video frames per second", min=1, max=120))

    @property
    def formats(self) -> tuple[str, ...]:
        """The chosen outputs; none chosen means the default three (ply, glb, masks), unless an
        orbit video is asked for alone."""
        chosen = tuple(f for f in FORMATS if getattr(self, f))
        return chosen or (() if self.video else DEFAULT_FORMATS)

    def validate(self) -> "ExportOptions":
        validate_fields(self)
        check_render_request(self.render)
        check_pose_request(self.pose)
        if self.video:
            from .export.video import check_video_request

            check_video_request(self.video, self.video_format, self.video_fps)
        if "masks" in self.formats:
            from .export.nerf_splits import check_split_request

            check_split_request(self.n_views(), self.eval_views)  # a bad --eval-views fails before any work
        return self

    def pose_file(self):
        """The pose file (dnerf_core.pose_file.PoseFile), read and checked, or None."""
        from ..pose_file import read_pose_file

        return read_pose_file(self.poses) if self.poses else None

    def n_views(self) -> int:
        poses = self.pose_file()
        return len(poses) if poses is not None else self.views
