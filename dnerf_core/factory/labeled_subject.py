"""One subject of a labeled generator, labeled in memory: views (RGB, part mask, depth, cameras),
a part-labeled point cloud and a part-labeled mesh. factory/subject_export.py writes it to disk."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..cameras import Cameras, spread_orbit_cameras
from ..errors import DnerfError
from ..generators.base import Generator, Subject
from ..generators.spec import describe
from ..io.sizes import available_memory, human_bytes
from ..labels import LabelSet
from .export_options import DEFAULT_MESH_RESOLUTION, DEFAULT_RENDER_PATH
from .mesh import extract_mesh
from .pointcloud import backproject, default_voxel_size, voxel_downsample
from .types import LabeledMesh, LabeledPointCloud
from .views import ViewSet, default_view_resolution, render_views, resolve_render_path

@dataclass
class LabeledSubject:
    """A subject with everything labeled, in memory (torch tensors for views, numpy for 3D).

    views: ViewSet with .rgb [V,H,W,3] in [0,1], .labels [V,H,W] part ids (also as .mask),
    .depth [V,H,W] along the unit ray, .opacity, .cameras (Cameras, OpenCV cam2world); None
    when no cameras were asked for (a mesh only);
    cloud: LabeledPointCloud or None (not computed); mesh: LabeledMesh or None (not computed);
    label_set: the part names and colors (background = 0); generator: the generator's spec as
    text; seed: the subject's seed (None for a fitted subject); subject_file: the fitted subject
    file it came from, if any; truncation: latent truncation; resolution: the view size asked for
    (None: the generator's); voxel_size: the voxel the cloud was voted at (None: no cloud);
    video: ViewSet of an orbit video's frames, or None; render: the render path the views took
    (render/config.RENDER_PATHS); pose: the body pose of an articulated subject, resolved
    (skeleton.Pose.to_dict: name and every joint's angles in degrees), None for a rigid one."""

    views: ViewSet | None
    cloud: LabeledPointCloud | None
    mesh: LabeledMesh | None
    label_set: LabelSet
    generator: str
    seed: int | None
    subject_file: str | None = None
    truncation: float = 1.0
    resolution: int | None = None
    voxel_size: float | None = None
    video: ViewSet | None = None
    render: str = DEFAULT_RENDER_PATH
    pose: dict | None = None

    @property
    def provenance(self) -> dict:
        """What transforms.json and export.json record about where the subject came from."""
        body = {} if self.pose is None else {"body_pose": self.pose}
        if self.subject_file:
            return {"generator": self.generator, "subject_file": self.subject_file, **body}
        return {"generator": self.generator, "seed": self.seed, **body}


# one view in memory: float32 RGB (12), depth (4) and opacity (4), int64 labels (8), and slack for
# the PNG encoders; the export holds every view of its subject until it writes them
VIEW_BYTES_PER_PIXEL = 32


def check_views_fit(views: int, resolution: int) -> None:
    """Refuse, before any work, an export whose views cannot be held in the free memory (e.g.
    --views 100000000): one export keeps its views in memory; `dnerf dataset` streams them."""
    need = views * resolution * resolution * VIEW_BYTES_PER_PIXEL
    free = available_memory()
    if free is not None and need > free:
        raise DnerfError(f"{views} views at {resolution}x{resolution} need about {human_bytes(need)} of memory but "
                         f"{human_bytes(free)} is free: an export holds its views in memory; lower --views or "
                         "--resolution, or use `dnerf dataset`, which streams views to disk")


def compute_labeled_subject(generator: Generator, subject: Subject, cameras: Cameras, resolution: int | None = None,
                            seed: int | None = None, subject_file: str | None = None, truncation: float = 1.0,
                            cloud: bool = True, mesh: bool = True, voxel_size: float | None = None,
                            mesh_resolution: int = DEFAULT_MESH_RESOLUTION,
                            progress: Callable[[str, int], None] | None = None, video: int = 0,
                            render: str = DEFAULT_RENDER_PATH) -> LabeledSubject:
    """Render `cameras` of the one-subject `subject`, back-project a labeled cloud (voxel-voted at
    `voxel_size`, default bounds/128) and extract a labeled mesh (marching cubes at
    `mesh_resolution`); `cloud` / `mesh` False skip those; video: frames of an orbit video
    (video_orbit_cameras) rendered too. progress(stage, n) reports work done. render: the path
    views take ("volume", "fast", "surface"; the surface path's bake is reused for the mesh when
    it was extracted at the same resolution)."""
    label_set = getattr(generator, "label_set", None)
    if label_set is None:
        raise DnerfError(f"{describe(generator)} has no part labels: pass a semantic checkpoint (--semantic) "
                         "or a procedural world")
    report = progress or (lambda stage, n: None)
    # recorded as resolved (export.json says which path and size the views took)
    render = resolve_render_path(generator, render)
    resolution = resolution or default_view_resolution(generator)
    views = None
    if len(cameras):
        views = render_views(generator, subject, cameras, resolution=resolution,
                             progress=lambda n: report("render views", n), render=render)
    elif cloud:
        raise DnerfError("a labeled point cloud is back-projected from views: ask for at least one")
    labeled_cloud = labeled_mesh = voxel = None
    if cloud:
        report("point cloud", 0)
        voxel = voxel_size if voxel_size is not None else default_voxel_size(generator)
        labeled_cloud = voxel_downsample(backproject(views), voxel)
    if mesh:
        report("mesh", 0)
        bake = getattr(subject, "surface", None)
        labeled_mesh = extract_mesh(generator, subject, resolution=mesh_resolution,
                                    surface=getattr(bake, "geometry", None))
    frames = None
    if video:
        from ..cameras import video_orbit_cameras

        frames = render_views(generator, subject, video_orbit_cameras(video, generator.orbit), resolution=resolution,
                              progress=lambda n: report("video", n), render=render)
    from ..generators.posing import subject_pose

    pose = subject_pose(generator, subject)
    return LabeledSubject(views, labeled_cloud, labeled_mesh, label_set, describe(generator), seed, subject_file,
                          truncation, resolution, voxel, frames, render, None if pose is None else pose.to_dict())


def orbit_views(generator: Generator, views: int) -> Cameras:
    """`views` cameras spread evenly over the generator's orbit (what dnerf-export renders);
    0 views: no cameras (a mesh needs none)."""
    if isinstance(views, bool) or not isinstance(views, int) or views < 0:
        raise DnerfError(f"--views must be a non-negative integer, got {views}")
    if views == 0:
        return spread_orbit_cameras(1, generator.orbit)[:0]
    return spread_orbit_cameras(views, generator.orbit)
