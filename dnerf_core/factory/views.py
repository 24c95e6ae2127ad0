"""Multi-view renders of one subject, brought to one resolution for back-projection and export."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..cameras import Cameras, ray_bundle
from ..errors import DnerfError
from ..generators.base import Generator, RenderOutput, Subject
from ..render.config import RENDER_PATHS
from .export_options import DEFAULT_RENDER_PATH, MIN_DEFAULT_VIEW_RESOLUTION


@dataclass
class ViewSet:
    """V views of one subject at one resolution (H, W).

    rgb [V,H,W,3] in [0,1]; labels [V,H,W] int64 or None; depth [V,H,W] distance along the unit
    ray (world units); opacity [V,H,W] in [0,1]; cameras: the V cameras; mask: labels' other name;
    normals [V,H,W,3] world-space unit surface normals (the surface path's; None otherwise).
    """

    cameras: Cameras
    rgb: Tensor
    labels: Tensor | None
    depth: Tensor
    opacity: Tensor
    normals: Tensor | None = None

    @property
    def mask(self) -> Tensor | None:
        """[V,H,W] part ids: the labels, by the name of the files they are written to (mask/*.png)."""
        return self.labels

    @property
    def resolution(self) -> tuple[int, int]:
        return tuple(self.rgb.shape[1:3])

    def __len__(self) -> int:
        return len(self.cameras)


def to_resolution(depth: Tensor, opacity: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Upsample neural-resolution depth/opacity [V,1,h,w] to the label resolution.

    Depth is interpolated weighted by opacity (so background depth never bleeds into silhouette
    edges); opacity is interpolated bilinearly.
    """
    if tuple(depth.shape[-2:]) == size:
        return depth, opacity
    up = lambda x: F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # noqa: E731
    opacity_up = up(opacity)
    depth_up = up(depth * opacity) / opacity_up.clamp_min(1e-6)
    far = up(depth)
    return torch.where(opacity_up > 1e-6, depth_up, far), opacity_up


def check_render_path(render: str) -> str:
    if render not in RENDER_PATHS:
        raise DnerfError(f"unknown render path {render!r}; choose one of {', '.join(RENDER_PATHS)}")
    return render


def supports_render_path(generator: Generator) -> bool:
    """Whether generator.render takes the `path=` keyword (the volume / fast paths)."""
    import inspect

    try:
        return "path" in inspect.signature(generator.render).parameters
    except (TypeError, ValueError):
        return False


def resolve_render_path(generator: Generator, render: str) -> str:
    """The path "auto" stands for with this generator: the fast march where the generator has it
    (it agrees with the full march to mIoU >= 0.99 on the default generators, research/RESULTS.md
    sec. 9, and falls back to the full march by itself when its occupancy grid skips nothing), else
    the full volume march; any other path as asked."""
    check_render_path(render)
    if render != "auto":
        return render
    return "fast" if supports_render_path(generator) else "volume"


def default_view_resolution(generator: Generator) -> int:
    """The view size exports render when none is asked for: the generator's neural rendering
    resolution, at least MIN_DEFAULT_VIEW_RESOLUTION."""
    rendering = getattr(generator, "rendering", None)
    neural = getattr(rendering, "neural_resolution", None) or MIN_DEFAULT_VIEW_RESOLUTION
    return max(int(neural), MIN_DEFAULT_VIEW_RESOLUTION)


def render_batch(generator: Generator, subject: Subject, cameras: Cameras, resolution: int | None,
                 render: str = DEFAULT_RENDER_PATH) -> tuple[RenderOutput, Tensor | None]:
    """One batch of views through the chosen path -> (RenderOutput, normals [V,3,h,w] or None)."""
    render = resolve_render_path(generator, render)
    if render == "surface":
        from .surface_views import render_surface

        out = render_surface(generator, subject, cameras, resolution)
        return out.output, out.normals
    if render == "fast":
        if not supports_render_path(generator):
            raise DnerfError(f"{getattr(generator, 'name', 'this generator')} has no fast volume path; "
                             "use --render volume or surface")
        return generator.render(subject, cameras, resolution, path="fast"), None
    return generator.render(subject, cameras, resolution), None


def path_renderer(render: str) -> Callable[[Generator, Subject, Cameras, int | None], RenderOutput]:
    """generator.render through the chosen path, as a function (what lower layers, e.g. the
    annotation kit writer, are handed so they need not know the paths)."""
    check_render_path(render)
    return lambda generator, subject, cameras, resolution=None: render_batch(
        generator, subject, cameras, resolution, render)[0]


@torch.no_grad()
def render_views(generator: Generator, subject: Subject, cameras: Cameras, resolution: int | None = None,
                 batch_size: int = 8, progress: Callable[[int], None] | None = None,
                 render: str = DEFAULT_RENDER_PATH) -> ViewSet:
    """Render every camera (in batches) for a one-subject Subject.

    render: "volume" (the full march), "fast" (the march with empty-space skipping and early
    termination), "surface" (rays cast against the subject's baked mesh, cached on the subject;
    needs the optional `fast` extra) or "auto" (resolve_render_path)."""
    render = resolve_render_path(generator, render)
    if len(subject) != 1:
        raise DnerfError(f"render_views takes one subject, got {len(subject)}")
    if batch_size < 1:
        raise DnerfError("batch_size must be at least 1")
    parts = []
    for start in range(0, len(cameras), batch_size):
        cams = cameras[start:start + batch_size]
        out, normals = render_batch(generator, subject, cams, resolution, render)
        size = tuple(out.rgb.shape[-2:])
        depth, opacity = to_resolution(out.depth, out.opacity, size)
        if normals is not None and tuple(normals.shape[-2:]) != size:
            normals = F.interpolate(normals, size=size, mode="nearest")
        # views are handed on as CPU tensors (exports, clouds and Blender read them with numpy),
        # batch by batch, so a GPU holds one batch at a time
        cpu = lambda x: None if x is None else x.cpu()  # noqa: E731
        parts.append((cpu(out.rgb.permute(0, 2, 3, 1)), cpu(out.labels), cpu(depth[:, 0]), cpu(opacity[:, 0]),
                      None if normals is None else cpu(normals.permute(0, 2, 3, 1))))
        if progress is not None:
            progress(len(cams))
    rgb = torch.cat([p[0] for p in parts]).float().clamp(0, 1)
    labels = None if parts[0][1] is None else torch.cat([p[1] for p in parts])
    normals = None if parts[0][4] is None else torch.cat([p[4] for p in parts]).float()
    return ViewSet(cameras, rgb, labels, torch.cat([p[2] for p in parts]).float(),
                   torch.cat([p[3] for p in parts]).float(), normals)


def z_depth(views: ViewSet) -> Tensor:
    """[V,H,W] camera-z depth (what nerfstudio's depth maps hold) from distance along the ray."""
    rays = ray_bundle(views.cameras.to(dtype=torch.float32), views.resolution)
    cos = (rays.directions * views.cameras.forward.float()[:, None]).sum(-1)
    return views.depth * cos.reshape(views.depth.shape)
