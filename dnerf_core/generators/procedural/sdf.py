"""Signed-distance primitives (stateless; points [P,3] -> distances [P]).

Exact distances where a closed form exists (sphere, box, capsule, cylinder); the ellipsoid uses
the usual first-order bound, which can overestimate slightly off-axis, so sphere tracing takes
conservative steps (see world.SPHERE_TRACE_STEP).
"""
from __future__ import annotations

import torch
from torch import Tensor


def sphere(p: Tensor, center, radius: float) -> Tensor:
    return (p - p.new_tensor(center)).norm(dim=-1) - radius


def ellipsoid(p: Tensor, center, radii) -> Tensor:
    q = (p - p.new_tensor(center)) / p.new_tensor(radii)
    k0 = q.norm(dim=-1)
    k1 = (q / p.new_tensor(radii)).norm(dim=-1).clamp_min(1e-9)
    return k0 * (k0 - 1) / k1


def round_box(p: Tensor, center, half, rounding: float) -> Tensor:
    q = (p - p.new_tensor(center)).abs() - p.new_tensor(half) + rounding
    outside = q.clamp_min(0).norm(dim=-1)
    inside = q.max(dim=-1).values.clamp_max(0)
    return outside + inside - rounding


def capsule(p: Tensor, a, b, radius: float) -> Tensor:
    a_t, b_t = p.new_tensor(a), p.new_tensor(b)
    pa, ba = p - a_t, b_t - a_t
    h = ((pa @ ba) / (ba @ ba)).clamp(0, 1)
    return (pa - h[:, None] * ba).norm(dim=-1) - radius


def cylinder_x(p: Tensor, center, radius: float, half_length: float) -> Tensor:
    """Capped cylinder whose axis is parallel to x (a wheel)."""
    q = p - p.new_tensor(center)
    d = torch.stack([q[:, 1:].norm(dim=-1) - radius, q[:, 0].abs() - half_length], dim=-1)
    return d.max(dim=-1).values.clamp_max(0) + d.clamp_min(0).norm(dim=-1)


def intersect(*dists: Tensor) -> Tensor:
    """Hard intersection: a lower bound of the true distance outside, exact inside."""
    return torch.stack(dists, dim=-1).max(dim=-1).values
