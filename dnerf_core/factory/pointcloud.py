"""Labeled point clouds: masks back-projected through depth, merged over views, voxel-voted."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..cameras import Cameras, ray_bundle
from ..errors import DnerfError
from ..generators.base import SURFACE_OPACITY, Generator, Subject
from .types import LabeledPointCloud
from .views import ViewSet, render_views

# Neighbouring pixels whose depths differ by more than this fraction belong to different
# surfaces: they are not used for normals.
DEPTH_JUMP = 0.05
# Default voxel: the subject's box (2 * bounds) split into this many cells per axis.
DEFAULT_VOXELS_PER_AXIS = 256


@dataclass(frozen=True)
class BackprojectConfig:
    """opacity_threshold: pixels at least this opaque become points; keep_background: also keep
    opaque pixels whose label is background (0), normally dropped as mislabeled."""

    opacity_threshold: float = SURFACE_OPACITY
    keep_background: bool = False


def _shift(x: Tensor, step: int, dim: int, fill) -> Tensor:
    """x moved so that index i holds x[i + step] along dim; the wrapped-around edge gets fill."""
    out = torch.roll(x, shifts=-step, dims=dim)
    edge = [slice(None)] * x.ndim
    edge[dim] = slice(-1, None) if step > 0 else slice(0, 1)
    out[tuple(edge)] = fill
    return out


def _difference(points: Tensor, valid: Tensor, depth: Tensor, dim: int) -> Tensor:
    """Central difference of points [V,H,W,3] along dim (1: rows, 2: columns), one-sided where
    only one neighbour is on the same surface, NaN where neither is."""
    same = {}
    for step in (1, -1):
        other_depth = _shift(depth, step, dim, float("nan"))
        same[step] = valid & _shift(valid, step, dim, False) & ((other_depth - depth).abs() < DEPTH_JUMP * depth)
    nxt = _shift(points, 1, dim, float("nan"))
    prv = _shift(points, -1, dim, float("nan"))
    nan = torch.full_like(points, float("nan"))
    one_sided = torch.where(same[1][..., None], nxt - points, torch.where(same[-1][..., None], points - prv, nan))
    return torch.where((same[1] & same[-1])[..., None], (nxt - prv) / 2, one_sided)


def depth_normals(points: Tensor, valid: Tensor, depth: Tensor, directions: Tensor) -> Tensor:
    """Normals [V,H,W,3] of back-projected pixels, facing the camera; pixels with no neighbour
    on the same surface get the reversed view direction."""
    n = torch.linalg.cross(_difference(points, valid, depth, 2), _difference(points, valid, depth, 1), dim=-1)
    norm = n.norm(dim=-1, keepdim=True)
    good = torch.isfinite(norm) & (norm > 1e-12)
    n = torch.where(good, n / norm.clamp_min(1e-12), -directions)
    facing = (n * directions).sum(-1, keepdim=True) > 0
    return torch.where(facing, -n, n)


def backproject(views: ViewSet, config: BackprojectConfig = BackprojectConfig()) -> LabeledPointCloud:
    """Every opaque, labeled pixel of every view -> a 3D point with label, color and normal."""
    if views.labels is None:
        raise DnerfError("these views carry no part labels (the generator has no semantic branch)")
    v, h, w = views.depth.shape
    rays = ray_bundle(views.cameras.to(dtype=torch.float32), (h, w))
    dirs = rays.directions.reshape(v, h, w, 3)
    pts = rays.origins.reshape(v, h, w, 3) + views.depth[..., None] * dirs
    valid = views.opacity > config.opacity_threshold
    normals = depth_normals(pts, valid, views.depth, dirs)
    keep = valid if config.keep_background else valid & (views.labels != 0)
    colors = (views.rgb[keep] * 255).round().clamp(0, 255).to(torch.uint8)
    return LabeledPointCloud(pts[keep].numpy(), normals[keep].numpy(), colors.numpy(),
                             views.labels[keep].to(torch.int32).numpy())


def merge(clouds: list[LabeledPointCloud]) -> LabeledPointCloud:
    return LabeledPointCloud(*(np.concatenate([getattr(c, f) for c in clouds])
                               for f in ("points", "normals", "colors", "labels")))


def voxel_downsample(cloud: LabeledPointCloud, voxel_size: float) -> LabeledPointCloud:
    """One point per occupied voxel: mean position and color, renormalized mean normal, and the
    majority label (ties go to the smallest id). Voxels come out in sorted key order."""
    if not voxel_size > 0:
        raise DnerfError(f"voxel size must be positive, got {voxel_size}")
    if len(cloud) == 0:
        return cloud
    pts = torch.from_numpy(cloud.points).double()
    keys = torch.floor(pts / voxel_size).long()
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    n_vox = int(inverse.max()) + 1
    count = torch.bincount(inverse, minlength=n_vox).double()[:, None]

    def mean(x: Tensor) -> Tensor:
        return torch.zeros(n_vox, x.shape[1], dtype=torch.float64, device=x.device).index_add_(0, inverse, x.double()) / count

    points = mean(pts)
    colors = mean(torch.from_numpy(cloud.colors)).round()
    normals = mean(torch.from_numpy(cloud.normals))
    normals = normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-12)
    labels = torch.from_numpy(cloud.labels).long()
    n_labels = int(labels.max()) + 1
    votes = torch.bincount(inverse * n_labels + labels, minlength=n_vox * n_labels).reshape(n_vox, n_labels)
    # argmax returns the first maximum: the smallest id among tied labels
    majority = votes.argmax(dim=1)
    return LabeledPointCloud(points.float().numpy(), normals.float().numpy(), colors.to(torch.uint8).numpy(),
                             majority.int().numpy())


def voxel_downsample_slow(cloud: LabeledPointCloud, voxel_size: float) -> LabeledPointCloud:
    """Answer key for voxel_downsample: a plain dictionary of voxels, one point at a time."""
    cells: dict[tuple[int, int, int], list[int]] = {}
    for i, p in enumerate(cloud.points.astype(np.float64)):
        cells.setdefault(tuple(int(k) for k in np.floor(p / voxel_size)), []).append(i)
    out = {f: [] for f in ("points", "normals", "colors", "labels")}
    for key in sorted(cells):
        idx = cells[key]
        out["points"].append(cloud.points[idx].astype(np.float64).mean(0))
        out["colors"].append(np.round(cloud.colors[idx].astype(np.float64).mean(0)))
        n = cloud.normals[idx].astype(np.float64).mean(0)
        out["normals"].append(n / max(np.linalg.norm(n), 1e-12))
        counts: dict[int, int] = {}
        for lab in cloud.labels[idx]:
            counts[int(lab)] = counts.get(int(lab), 0) + 1
        best = max(counts.values())
        out["labels"].append(min(lab for lab, c in counts.items() if c == best))
    return LabeledPointCloud(np.array(out["points"]), np.array(out["normals"]), np.array(out["colors"]),
                             np.array(out["labels"]))


def default_voxel_size(generator: Generator) -> float:
    return 2 * generator.bounds / DEFAULT_VOXELS_PER_AXIS


def labeled_point_cloud(generator: Generator, subject: Subject, cameras: Cameras, resolution: int | None = None,
                        voxel_size: float | None = None,
                        config: BackprojectConfig = BackprojectConfig()) -> LabeledPointCloud:
    """Render, back-project, merge all views and voxel-downsample: one call."""
    views = render_views(generator, subject, cameras, resolution)
    cloud = backproject(views, config)
    return voxel_downsample(cloud, voxel_size if voxel_size is not None else default_voxel_size(generator))
