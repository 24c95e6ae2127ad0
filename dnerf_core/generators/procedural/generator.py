"""Procedural oracle generator: exact RGB, depth, silhouette and part labels for any pose.

Rendering is sphere tracing of the analytic SDF (not volume rendering), so depth and labels are
exact at every pixel center: the stand-in for a careful human annotator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ...cameras import Cameras, OrbitSpec, ray_bundle
from ...errors import DnerfError, GeneratorSpecError
from ...labels import LabelSet
from ...render.config import RenderingConfig, check_march_path
from ..base import RenderOutput, Subject
from ..spec import GeneratorSpec
from . import car, face
from .world import World

# Sphere tracing: conservative steps (the ellipsoid and hair SDFs are bounds, not exact),
# a hit when the distance drops below HIT_EPS, then Newton-style refinement steps.
SPHERE_TRACE_STEP = 0.9
SPHERE_TRACE_ITERATIONS = 160
HIT_EPS = 2e-5
REFINE_ITERATIONS = 4
# Density for volume rendering / marching cubes: a logistic of the SDF with this width, as a
# fraction of the world's bounds; its iso-level at 0.5 / beta is exactly the surface sdf = 0.
DENSITY_WIDTH = 0.01


@dataclass
class RayTrace:
    """Exact per-ray values: rgb [B,R,3] (white background), depth [B,R,1] (ray_end on a miss),
    opacity [B,R,1] (0 or 1), labels [B,R] int64 (0 on a miss)."""

    rgb: Tensor
    depth: Tensor
    opacity: Tensor
    labels: Tensor


@dataclass(frozen=True)
class Category:
    name: str
    make: Callable[[int, float], World]
    labels: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    orbit: OrbitSpec
    rendering: RenderingConfig
    bounds: float


# The oracle worlds keep the importance bins their exact renders and the default generators were
# made with ("samples"); EG3D checkpoints render with EG3D's ("eg3d", RenderingConfig's default).
ORACLE_IMPORTANCE_BINS = "samples"
CATEGORY_SPECS = {
    "car": Category(
        "car", car.make_car, car.LABELS, car.LABEL_COLORS,
        OrbitSpec(radius=1.7, pivot=(0.0, 0.0, 0.0), focal=1.025390625, yaw_range=(0.0, 2 * 3.141592653589793),
                  pitch_range=(0.05, 0.6)),
        RenderingConfig(64, 64, 0.1, 2.6, box_warp=1.6, white_back=True, neural_resolution=64,
                        importance_bins=ORACLE_IMPORTANCE_BINS), bounds=0.8),
    "face": Category(
        "face", face.make_face, face.LABELS, face.LABEL_COLORS,
        OrbitSpec(radius=2.7, pivot=(0.0, 0.0, 0.2), focal=4.2647, yaw_range=(-0.6, 0.6), pitch_range=(-0.3, 0.3)),
        RenderingConfig(48, 48, 2.25, 3.3, box_warp=1.0, white_back=True, neural_resolution=64,
                        importance_bins=ORACLE_IMPORTANCE_BINS), bounds=0.5),
}
CATEGORIES = tuple(CATEGORY_SPECS)


def sphere_trace(world: World, origins: Tensor, dirs: Tensor, t_near: float, t_far: float) -> tuple[Tensor, Tensor]:
    """origins/dirs [R,3] -> (t [R], hit [R] bool). Only active rays are evaluated each step."""
    t = torch.full(origins.shape[:1], t_near, dtype=origins.dtype, device=origins.device)
    hit = torch.zeros(origins.shape[:1], dtype=torch.bool, device=origins.device)
    active = torch.arange(len(origins), device=origins.device)
    for _ in range(SPHERE_TRACE_ITERATIONS):
        if len(active) == 0:
            break
        d = world.sdf(origins[active] + t[active, None] * dirs[active])
        done_hit = d < HIT_EPS
        hit[active[done_hit]] = True
        t[active] = t[active] + torch.where(done_hit, torch.zeros_like(d), d * SPHERE_TRACE_STEP)
        keep = ~done_hit & (t[active] < t_far)
        active = active[keep]
    idx = torch.nonzero(hit)[:, 0]
    for _ in range(REFINE_ITERATIONS):  # land on the surface itself, from either side
        d = world.sdf(origins[idx] + t[idx, None] * dirs[idx])
        t[idx] = t[idx] + d
    return t, hit


class ProceduralGenerator:
    """An oracle world category implementing the Generator protocol (dnerf_core.generators.base)."""

    z_dim = 0
    c_dim = 0

    def __init__(self, category: str):
        if category not in CATEGORY_SPECS:
            raise GeneratorSpecError(f"unknown category {category!r}; known categories: {', '.join(CATEGORIES)}")
        spec = CATEGORY_SPECS[category]
        self.category = category
        self.name = f"procedural:{category}"
        # built by hand or by load_generator, an oracle world knows its spec
        self.spec = GeneratorSpec("procedural", category, self.name)
        self.label_set = LabelSet.from_names(list(spec.labels), list(spec.colors))
        self.rendering = spec.rendering
        self.orbit = spec.orbit
        self.bounds = spec.bounds
        self._make = spec.make
        self.density_beta = DENSITY_WIDTH * spec.bounds
        self.density_threshold = 0.5 / self.density_beta

    def sample(self, seeds: list[int], truncation: float = 1.0) -> Subject:
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise DnerfError("need at least one seed")
        if any(s < 0 for s in seeds):
            raise DnerfError(f"seeds must be non-negative integers, got {seeds}")
        return Subject(seeds=seeds, params=[self._make(s, truncation) for s in seeds])

    # --- per-point queries ([B,P,3] -> [B,P...]) ------------------------------------------------
    def _per_subject(self, subject: Subject, points: Tensor, fn) -> Tensor:
        if points.ndim != 3 or points.shape[-1] != 3:
            raise DnerfError(f"points must be [B,P,3], got {tuple(points.shape)}")
        worlds = subject.params
        if len(worlds) != len(points) and len(worlds) != 1:
            raise DnerfError(f"{len(points)} point sets for {len(worlds)} subjects")
        return torch.stack([fn(worlds[i if len(worlds) > 1 else 0], points[i]) for i in range(len(points))])

    def sdf_at(self, subject: Subject, points: Tensor) -> Tensor:
        return self._per_subject(subject, points, World.sdf)

    def labels_at(self, subject: Subject, points: Tensor) -> Tensor:
        return self._per_subject(subject, points, World.labels)

    def colors_at(self, subject: Subject, points: Tensor) -> Tensor:
        return self._per_subject(subject, points, World.shaded_color)

    def density(self, subject: Subject, points: Tensor) -> Tensor:
        return torch.sigmoid(-self.sdf_at(subject, points) / self.density_beta) / self.density_beta

    # --- rays and images --------------------------------------------------------------------------
    def trace_rays(self, subject: Subject, origins: Tensor, directions: Tensor) -> RayTrace:
        """Exact values along rays [B,R,3] (one subject per batch row, or one broadcast over all)."""
        worlds = subject.params
        n = len(origins)
        if len(worlds) not in (1, n):
            raise DnerfError(f"{len(worlds)} subjects for {n} ray batches: pass one subject or one per batch")
        groups = [list(range(n))] if len(worlds) == 1 else [[i] for i in range(n)]
        r = origins.shape[1]
        dev = origins.device
        rgb = torch.ones(n, r, 3, device=dev)
        depth = torch.full((n, r), float(self.rendering.ray_end), device=dev)
        opacity = torch.zeros(n, r, device=dev)
        labels = torch.zeros(n, r, dtype=torch.int64, device=dev)
        for rows in groups:
            world = worlds[0] if len(worlds) == 1 else worlds[rows[0]]
            o, d = origins[rows].reshape(-1, 3).float(), directions[rows].reshape(-1, 3).float()
            t, hit = sphere_trace(world, o, d, self.rendering.ray_start, self.rendering.ray_end)
            pts = o[hit] + t[hit, None] * d[hit]
            shade = torch.ones(len(o), 3, device=dev)
            shade[hit] = world.shaded_color(pts)
            lab = torch.zeros(len(o), dtype=torch.int64, device=dev)
            lab[hit] = world.labels(pts)
            dep = torch.full((len(o),), float(self.rendering.ray_end), device=dev)
            dep[hit] = t[hit]
            back = lambda x: x.reshape(len(rows), r, *x.shape[1:])  # noqa: E731
            rgb[rows], labels[rows], depth[rows], opacity[rows] = back(shade), back(lab), back(dep), back(hit.float())
        return RayTrace(rgb, depth[..., None], opacity[..., None], labels)

    def render(self, subject: Subject, cameras: Cameras, resolution: int | None = None, *,
               path: str = "volume") -> RenderOutput:
        """Exact views. path: "volume" or "fast" give the same exact render: sphere tracing
        already skips empty space and stops at the surface, so there is nothing to skip."""
        check_march_path(path)
        res = resolution or self.rendering.neural_resolution
        n_views = len(cameras)
        if len(subject.params) not in (1, n_views):
            raise DnerfError(f"{len(subject.params)} subjects for {n_views} cameras: pass one subject or one per camera")
        rays = ray_bundle(cameras.to(dtype=torch.float32), res)
        tr = self.trace_rays(subject, rays.origins, rays.directions)
        img = lambda x: x.reshape(n_views, res, res, -1).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        rgb_img = img(tr.rgb)
        return RenderOutput(rgb=rgb_img, rgb_raw=rgb_img, depth=img(tr.depth), opacity=img(tr.opacity),
                            labels=tr.labels.reshape(n_views, res, res))
