"""Tri-plane projection and bilinear feature sampling (stateless).

EG3D's axis convention, reproduced deliberately because checkpoints depend on it: a point
(x, y, z) is looked up on plane 0 at (x, y), plane 1 at (x, z) and plane 2 at (z, x) — not
(y, z). The first coordinate of each pair indexes the plane's width, the second its height.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# (width axis, height axis) of each plane, as indices into (x, y, z).
PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (2, 0))


def project_onto_planes(points: Tensor, box_warp: float) -> Tensor:
    """points [N,P,3] world -> [N,3,P,2] plane coordinates in [-1,1] (for the box of side box_warp)."""
    scaled = points * (2.0 / box_warp)
    return torch.stack([scaled[..., list(axes)] for axes in PLANE_AXES], dim=1)


def channels_innermost(planes: Tensor) -> Tensor:
    """planes [N,3,C,H,W], same values, stored with the C features of a texel side by side: the
    bilinear lookup then reads four runs of C floats per point instead of 4C scattered ones
    (ffhq512-128's 128^2 view marches about 17% faster, bit-identical)."""
    n, n_planes, c, h, w = planes.shape
    flat = planes.reshape(n * n_planes, c, h, w).contiguous(memory_format=torch.channels_last)
    return flat.reshape(n, n_planes, c, h, w)


def sample_planes(planes: Tensor, points: Tensor, box_warp: float) -> Tensor:
    """Bilinear features of every point on every plane.

    planes [N,3,C,H,W], points [N,P,3] -> [N,3,P,C]; zero outside the planes, align_corners=False.
    """
    n, n_planes, c, h, w = planes.shape
    coords = project_onto_planes(points, box_warp).reshape(n * n_planes, 1, -1, 2)
    out = F.grid_sample(planes.reshape(n * n_planes, c, h, w), coords.to(planes.dtype),
                        mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(n, n_planes, c, -1).permute(0, 1, 3, 2)


def sample_planes_summed(planes: Tensor, points: Tensor, box_warp: float) -> Tensor:
    """sample_planes(planes, points, box_warp).sum(dim=1) -> [N,P,C], one plane at a time, so the
    [N,3,P,C] intermediate never exists (a third of the memory for wide planes)."""
    n, n_planes, c, h, w = planes.shape
    coords = project_onto_planes(points, box_warp).to(planes.dtype)
    acc = None
    for k in range(n_planes):
        out = F.grid_sample(planes[:, k], coords[:, k, None], mode="bilinear", padding_mode="zeros",
                            align_corners=False)[:, :, 0]  # [N,C,P]
        acc = out if acc is None else acc + out
    return acc.transpose(1, 2)


def sample_planes_slow(planes: Tensor, points: Tensor, box_warp: float) -> Tensor:
    """Answer key for sample_planes: explicit per-point bilinear interpolation with zero padding."""
    n, n_planes, c, h, w = planes.shape
    out = planes.new_zeros(n, n_planes, points.shape[1], c)
    for b in range(n):
        for p_idx in range(points.shape[1]):
            pt = points[b, p_idx] * (2.0 / box_warp)
            for k, (ax_w, ax_h) in enumerate(PLANE_AXES):
                # align_corners=False: coordinate -1 is the left edge of pixel 0, not its center.
                fx = ((pt[ax_w] + 1) * w - 1) / 2
                fy = ((pt[ax_h] + 1) * h - 1) / 2
                x0, y0 = int(torch.floor(fx)), int(torch.floor(fy))
                acc = planes.new_zeros(c)
                for dy in (0, 1):
                    for dx in (0, 1):
                        xi, yi = x0 + dx, y0 + dy
                        wgt = (1 - (fx - xi).abs()) * (1 - (fy - yi).abs())
                        if 0 <= xi < w and 0 <= yi < h:
                            acc = acc + wgt * planes[b, k, :, yi, xi]
                out[b, k, p_idx] = acc
    return out
