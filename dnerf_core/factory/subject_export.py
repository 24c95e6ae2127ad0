"""The main job: one subject of a generator -> labeled PLY cloud, part GLB, masks, transforms.

Everything is written into a staging folder inside the output folder and moved into place only
when all of it succeeded, so a failed export leaves the output folder as it was.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..cameras import spread_orbit_cameras
from ..errors import DnerfError
from ..generators.base import Generator
from .export.atomic import atomic_write_text, staged_output

MANIFEST_NAME = "export.json"


@dataclass(frozen=True)
class ExportOptions:
    """What to export for one subject.

    seed: the subject's seed; views: number of cameras spread over the generator's orbit range;
    resolution: view size in pixels (None: the generator's default); truncation: latent truncation;
    ply / glb / masks / pts: which outputs to write (pts: ShapeNet-part cloud.pts + cloud.seg); voxel_size: point-cloud voxel (None: from bounds);
    mesh_resolution: marching-cubes grid size per axis; subject_file: a fitted subject
    (subject.pt of `dnerf invert` / `dnerf edit`) exported instead of the seed's.
    poses: a pose file (dnerf_core.pose_file: a transforms.json or [yaw, pitch, radius] triples)
      whose cameras replace the `views` orbit cameras; None (default): `views` cameras spread over
      the orbit. With a transforms.json and resolution None, the file's w (= h) is the view size.
    eval_views: frames held out as nerfstudio's val/test split (None, default: max(2, 10%),
      fewer for 1-3 views; see factory/export/nerf_splits.py).
    nerf_mask: also write fg_mask/ (255 = geometry) as nerfstudio's mask_path, i.e. train on the
      object only (default False: every pixel trains; see factory/export/frames.py for why).
    video: frames of an orbit video (video_rgb, video_mask, video side by side); 0 (default): none.
    video_format: "mp4" (default) or "gif"; video_fps: frames per second (default 24).
    """

    seed: int
    views: int = 8
    resolution: int | None = None
    truncation: float = 1.0
    ply: bool = True
    glb: bool = True
    masks: bool = True
    pts: bool = False
    voxel_size: float | None = None
    mesh_resolution: int = 128
    subject_file: str | None = None
    poses: str | None = None
    eval_views: int | None = None
    nerf_mask: bool = False
    video: int = 0
    video_format: str = "mp4"
    video_fps: int = 24

    def validate(self) -> None:
        from .export.nerf_splits import nerfstudio_splits
        from .export.video import check_video_request

        if self.views < 1:
            raise DnerfError(f"--views must be at least 1, got {self.views}")
        if self.resolution is not None and not 8 <= self.resolution <= 4096:
            raise DnerfError(f"--resolution must be between 8 and 4096, got {self.resolution}")
        if not 16 <= self.mesh_resolution <= 512:
            raise DnerfError(f"--mesh-resolution must be between 16 and 512, got {self.mesh_resolution}")
        if self.voxel_size is not None and not self.voxel_size > 0:
            raise DnerfError(f"--voxel-size must be positive, got {self.voxel_size}")
        if not self.seed >= 0:
            raise DnerfError(f"--seed must be a non-negative integer, got {self.seed}")
        if not (self.ply or self.glb or self.masks or self.pts or self.video):
            raise DnerfError("nothing to export: pass at least one of --ply, --glb, --masks, --pts, --video")
        if self.video < 0:
            raise DnerfError(f"--video must be a number of frames (0: no video), got {self.video}")
        if self.video:
            check_video_request(self.video, self.video_format, self.video_fps)
        n_views = self.n_views()  # reads and checks the pose file: a bad one fails before anything is written
        if self.masks:
            nerfstudio_splits(n_views, self.eval_views)  # so does a bad --eval-views

    def pose_file(self):
        """The validated pose file (dnerf_core.pose_file.PoseFile) or None."""
        from ..pose_file import read_pose_file

        return read_pose_file(self.poses) if self.poses else None

    def n_views(self) -> int:
        poses = self.pose_file()
        return len(poses) if poses is not None else self.views


@dataclass
class ExportResult:
    out: Path
    files: list[Path] = field(default_factory=list)
    n_points: int = 0
    n_faces: int = 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_outputs(generator: Generator, spec: str, opts: ExportOptions, stage: Path, progress) -> ExportResult:
    from .export.frames import write_frames
    from .export.glb import write_glb
    from .export.ply import write_point_cloud_ply
    from .mesh import extract_mesh
    from .export.shapenet_part import write_pts_seg
    from .pointcloud import backproject, default_voxel_size, voxel_downsample
    from .views import render_views

    result = ExportResult(stage)
    label_set = generator.label_set
    if label_set is None:
        raise DnerfError(f"{spec} has no part labels: pass a semantic checkpoint (--semantic) or a procedural world")
    if opts.subject_file:
        from ..inversion.subject_file import load_fitted

        subject = load_fitted(opts.subject_file, generator).subject(generator)
    else:
        subject = generator.sample([opts.seed], truncation=opts.truncation)
    poses = opts.pose_file()
    if poses is not None:
        cameras = poses.cameras(generator.orbit)
        resolution = opts.resolution if opts.resolution is not None else poses.resolution
    else:
        cameras, resolution = spread_orbit_cameras(opts.views, generator.orbit), opts.resolution
    label_set.save(stage / "labels.json")
    if opts.masks or opts.ply or opts.pts or opts.glb:
        progress.set_description("render views")
        views = render_views(generator, subject, cameras, resolution=resolution,
                             progress=lambda n: progress.update(n))
    if opts.masks:
        progress.set_description("write masks")
        write_frames(stage, views, label_set, {"generator": spec, "seed": opts.seed} if not opts.subject_file
                     else {"generator": spec, "subject_file": opts.subject_file},
                     ply_file_path="cloud.ply" if opts.ply else None, eval_views=opts.eval_views,
                     include_mask=opts.nerf_mask)
    if opts.ply or opts.pts:
        progress.set_description("point cloud")
        voxel = opts.voxel_size if opts.voxel_size is not None else default_voxel_size(generator)
        cloud = voxel_downsample(backproject(views), voxel)
        if opts.ply:
            write_point_cloud_ply(stage / "cloud.ply", cloud, label_set)
        if opts.pts:
            write_pts_seg(stage / "cloud", cloud)
        result.n_points = len(cloud)
    if opts.glb:
        progress.set_description("mesh")
        mesh = extract_mesh(generator, subject, resolution=opts.mesh_resolution)
        write_glb(stage / "mesh.glb", mesh, label_set)
        result.n_faces = len(mesh.faces)
    if opts.video:
        from ..cameras import video_orbit_cameras
        from .export.video import write_orbit_video

        progress.set_description("video")
        orbit_views = render_views(generator, subject, video_orbit_cameras(opts.video, generator.orbit),
                                   resolution=resolution, progress=lambda n: progress.update(n))
        write_orbit_video(stage, orbit_views.rgb, orbit_views.labels, label_set, opts.video_format, opts.video_fps)
    progress.update(1)
    return result


def export_subject(generator: Generator, spec: str, opts: ExportOptions, out: str | Path,
                   show_progress: bool = False) -> ExportResult:
    """Render, extract and write one labeled subject into `out`; returns what was written."""
    from tqdm import tqdm

    opts.validate()
    with staged_output(out) as staged:
        stage = staged.stage
        n_views = opts.n_views()
        with tqdm(total=n_views + opts.video + 1, disable=not show_progress, unit="step", leave=False) as bar:
            result = _write_outputs(generator, spec, opts, stage, bar)
        manifest = {
            "generator": spec, "seed": None if opts.subject_file else opts.seed, "subject_file": opts.subject_file, "views": n_views, "resolution": opts.resolution,
            "poses": opts.poses, "video": opts.video,
            "truncation": opts.truncation, "n_points": result.n_points, "n_faces": result.n_faces,
            "files": {str(p.relative_to(stage)): _sha256(p)
                      for p in sorted(stage.rglob("*")) if p.is_file()},
        }
        atomic_write_text(stage / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    result.files = staged.published
    result.out = staged.out
    return result
