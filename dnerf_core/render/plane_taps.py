"""Summed bilinear tri-plane lookup as one weighted embedding bag (stateless).

A point's summed tri-plane features are a weighted sum of 12 texels: 4 bilinear taps on each of
3 planes. With the planes laid out as a texel table (one row of C features per texel), the
lookup is one embedding_bag (sum mode, per-tap weights), which reads each tap's C features as
one contiguous run. On a CPU that is several times faster than grid_sample, which walks the
channels of every tap separately (35k points, 64 channels, 64^2 planes on this machine kind:
25-38 ms for three grid_sample calls; 1.6 ms for the bag plus 3 ms building the taps; a CSR
sparse matmul of the same taps took 3.3-8 ms, gathering rows and summing 60-100 ms). The table
is a view of planes kept channels innermost: no copy (an EG3D-size branch's planes are 50 MB).

The numbers are sample_planes_summed's (render/triplane.py, the answer key) up to float
rounding: same unnormalization (align_corners=False), zeros outside the planes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .triplane import PLANE_AXES, sample_planes_summed

TAPS_PER_PLANE = 4


@dataclass(frozen=True)
class PlaneTable:
    """planes [N,3,C,H,W] as a texel table: rows [N*3*H*W, C], a texel's C features side by side."""

    rows: Tensor
    n: int
    n_planes: int
    height: int
    width: int


def plane_table(planes: Tensor) -> PlaneTable:
    """planes [N,3,C,H,W] -> their texel table: a view of planes laid out channels innermost
    (render/triplane.channels_innermost, as generators and branches keep them), else a copy."""
    n, n_planes, c, h, w = planes.shape
    return PlaneTable(planes.permute(0, 1, 3, 4, 2).reshape(-1, c), n, n_planes, h, w)


@dataclass(frozen=True)
class PlaneTaps:
    """Each point's 12 bilinear taps into a PlaneTable: index [M,12] rows, weight [M,12] (M = N*P)."""

    index: Tensor
    weight: Tensor


def plane_taps(table: PlaneTable, points: Tensor, box_warp: float) -> PlaneTaps:
    """points [N,P,3] -> their bilinear taps into table (4 per plane); a tap outside its plane
    has weight 0 and a clamped index (zero padding, as grid_sample's)."""
    n, p, _ = points.shape
    h, w = table.height, table.width
    # [N,P,3,2] each plane's (width, height) coordinate, points laid out as the taps will be
    axes = torch.tensor(PLANE_AXES, device=points.device).reshape(-1)
    coords = points.to(table.rows.dtype).index_select(-1, axes).reshape(n, p, table.n_planes, 2)
    size = coords.new_tensor([w, h])
    # grid_sample's unnormalization (align_corners=False) of coordinate * 2 / box_warp; a
    # non-finite coordinate goes outside the plane (weight 0; grid_sample gives NaN there), so a
    # tap's index is always inside the table
    f = torch.nan_to_num(coords.mul_(size * (1.0 / box_warp)).add_((size - 1) / 2), nan=-1.0)
    f = torch.minimum(f.clamp_min_(-1.0), size)
    lo = f.floor()
    frac = f - lo
    # the lower tap is inside for f in [0, size), the upper one (lo + 1) for f < size - 1
    w_lo = (1 - frac).mul_((f >= 0) & (f < size))
    w_hi = frac.mul_(f < size - 1)
    last = size - 1
    # (x, y * w) of both taps on each axis, clamped inside the plane; the table row computed in
    # floats while they count it exactly (one integer conversion at the end), else in int64
    step = coords.new_tensor([1.0, float(w)])
    i_lo = torch.minimum(lo.clamp_min(0), last).mul_(step)
    i_hi = torch.minimum(lo.add_(1), last).mul_(step)
    (x_lo, y_lo), (x_hi, y_hi) = i_lo.unbind(-1), i_hi.unbind(-1)
    plane_base = (torch.arange(n, device=points.device)[:, None, None] * table.n_planes
                  + torch.arange(table.n_planes, device=points.device)) * (h * w)  # [N,1,3]
    if table.rows.shape[0] <= 2 / torch.finfo(f.dtype).eps:
        y_lo, y_hi = y_lo + plane_base.to(f.dtype), y_hi + plane_base.to(f.dtype)
        index = torch.stack([y_lo + x_lo, y_lo + x_hi, y_hi + x_lo, y_hi + x_hi], dim=-1).to(torch.int64)
    else:
        index = (torch.stack([y_lo + x_lo, y_lo + x_hi, y_hi + x_lo, y_hi + x_hi], dim=-1).to(torch.int64)
                 + plane_base[..., None])
    (gx, gy), (fx, fy) = w_lo.unbind(-1), w_hi.unbind(-1)
    weight = torch.stack([gx * gy, fx * gy, gx * fy, fx * fy], dim=-1)  # [N,P,3,4]
    per_point = table.n_planes * TAPS_PER_PLANE
    return PlaneTaps(index.reshape(n * p, per_point), weight.reshape(n * p, per_point))


def sample_table_summed(table: PlaneTable, points: Tensor, box_warp: float) -> Tensor:
    """points [N,P,3] -> [N,P,C] summed bilinear features (sample_planes_summed's numbers)."""
    n, p, _ = points.shape
    if n != table.n:
        raise ValueError(f"{n} point sets for a table of {table.n} subjects")
    taps = plane_taps(table, points, box_warp)
    return F.embedding_bag(taps.index, table.rows, mode="sum", per_sample_weights=taps.weight).reshape(n, p, -1)


def summed_plane_lookup(planes: Tensor, box_warp: float) -> Callable[[Tensor], Tensor]:
    """points [N,P,3] -> [N,P,C] summed bilinear features of planes [N,3,C,H,W].

    On a CPU with no gradient asked of the planes: sample_table_summed over a table built once
    here (reuse the returned function across chunks). Elsewhere sample_planes_summed: grid_sample
    is the GPU's fast lookup and the one training differentiates through (a call whose points ask
    for a gradient takes it too)."""
    if planes.device.type != "cpu" or (torch.is_grad_enabled() and planes.requires_grad):
        return lambda points: sample_planes_summed(planes, points, box_warp)
    table = plane_table(planes)

    def lookup(points: Tensor) -> Tensor:
        if torch.is_grad_enabled() and points.requires_grad:
            return sample_planes_summed(planes, points, box_warp)
        return sample_table_summed(table, points, box_warp)

    return lookup
