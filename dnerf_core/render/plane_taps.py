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


def _axis_taps(t: Tensor, size: int, box_warp: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """World coordinates t [3,M] read along a plane axis of `size` texels -> (lower texel, upper
    texel, lower weight, upper weight) [3,M]: grid_sample's unnormalization (align_corners=False)
    of t * 2 / box_warp; a tap outside the axis weighs 0 at a clamped texel (zero padding), and a
    non-finite coordinate reads nothing (grid_sample gives NaN there)."""
    f = torch.nan_to_num(t * (size / box_warp) + (size - 1) / 2, nan=-1.0).clamp_(-1.0, float(size))
    lo = f.floor()
    frac = f - lo
    w_lo = (1 - frac).masked_fill_((f < 0) | (f >= size), 0.0)
    w_hi = frac.masked_fill_(f >= size - 1, 0.0)
    return lo.clamp(0, size - 1), lo.add_(1).clamp_(max=size - 1), w_lo, w_hi


def plane_taps(table: PlaneTable, points: Tensor, box_warp: float) -> PlaneTaps:
    """points [N,P,3] -> their bilinear taps into table (4 per plane, in PLANE_AXES order).

    Built from per-axis quantities on contiguous [3,M] rows and [M] pieces (broadcasting over
    small trailing dimensions runs several times slower on a CPU); coordinates and texel rows in
    the table's float type, at least float32, float64 past 2^24 rows (so rows count exactly),
    converted to integers once."""
    n, p, _ = points.shape
    h, w = table.height, table.width
    count = torch.promote_types(table.rows.dtype, torch.float32 if table.rows.shape[0] <= 2 ** 24 else torch.float64)
    t = points.reshape(n * p, 3).to(count).T.contiguous()  # [3,M] world x, y, z
    along = {size: _axis_taps(t, size, box_warp) for size in {w, h}}
    subject_row = 0.0
    if n > 1:
        subject_row = (torch.arange(n, device=points.device, dtype=count)
                       * (table.n_planes * h * w)).repeat_interleave(p)
    index, weight = [], []
    for k, (axis_w, axis_h) in enumerate(PLANE_AXES):
        x_lo, x_hi, wx_lo, wx_hi = (q[axis_w] for q in along[w])
        y_lo, y_hi, wy_lo, wy_hi = (q[axis_h] for q in along[h])
        row_lo, row_hi = y_lo * w + subject_row + k * h * w, y_hi * w + subject_row + k * h * w
        index += [row_lo + x_lo, row_lo + x_hi, row_hi + x_lo, row_hi + x_hi]
        weight += [wy_lo * wx_lo, wy_lo * wx_hi, wy_hi * wx_lo, wy_hi * wx_hi]
    return PlaneTaps(torch.stack(index, dim=1).to(torch.int64), torch.stack(weight, dim=1).to(table.rows.dtype))


def check_point_sets(n_sets: int, n_subjects: int) -> None:
    """Points [N,P,3] read planes of N subjects: one set per subject (a table read past its last
    subject would read another's texels, or past the table)."""
    if n_sets != n_subjects:
        raise ValueError(f"{n_sets} point sets for a table of {n_subjects} subjects")


def sample_table_summed(table: PlaneTable, points: Tensor, box_warp: float) -> Tensor:
    """points [N,P,3] -> [N,P,C] summed bilinear features (sample_planes_summed's numbers)."""
    n, p, _ = points.shape
    check_point_sets(n, table.n)
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
