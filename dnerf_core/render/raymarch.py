"""Sampling along rays and volume compositing (stateless kernels).

Shapes: N batch, R rays, S samples per ray, C channels. Depths are distances along unit rays.
Compositing works on interval midpoints (EG3D's ray marcher): values, raw densities and depths
of neighbouring samples are averaged, then the density activation is applied, so S samples give
S-1 weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .config import RenderingConfig

# EG3D's density activation shifts the raw sigma so a freshly initialized decoder starts
# mostly transparent: density = softplus(sigma - 1).
EG3D_DENSITY_SHIFT = 1.0
# Keeps the transmittance product from reaching exactly zero (EG3D uses the same epsilon).
TRANSMITTANCE_EPS = 1e-10
# Added to the smoothed coarse weights so every interval keeps a little probability mass.
IMPORTANCE_WEIGHT_FLOOR = 0.01
# Intervals of the coarse CDF narrower than this are treated as flat (avoids 0/0).
CDF_EPS = 1e-5
# Added to the importance pdf's weights before normalizing (EG3D's sample_pdf does the same).
PDF_EPS = 1e-5

DensityActivation = Callable[[Tensor], Tensor]
# (points [N,P,3], directions [N,P,3]) -> (raw sigma [N,P,1], features [N,P,C])
FieldFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def eg3d_density(sigma: Tensor) -> Tensor:
    return F.softplus(sigma - EG3D_DENSITY_SHIFT)


def identity_density(sigma: Tensor) -> Tensor:
    return sigma


# --- sampling -----------------------------------------------------------------------------------
def stratified_depths(n: int, r: int, ray_start: float, ray_end: float, n_samples: int,
                      generator: torch.Generator | None = None, dtype=torch.float32, device=None) -> Tensor:
    """[N,R,S,1] evenly spaced depths; with a torch.Generator each is jittered within its bin.

    Without a generator the result is deterministic (inference); jitter is for training only.
    """
    depths = torch.linspace(ray_start, ray_end, n_samples, dtype=dtype, device=device)
    depths = depths.reshape(1, 1, n_samples, 1).expand(n, r, n_samples, 1)
    if generator is not None and n_samples > 1:
        delta = (ray_end - ray_start) / (n_samples - 1)
        jitter = torch.rand(depths.shape, generator=generator, dtype=dtype, device=device)
        depths = depths + jitter * delta
    return depths.contiguous()


def smooth_importance_weights(weights: Tensor) -> Tensor:
    """[M,S-1] interval weights -> [M,S-1] weights max-pooled then averaged over neighbours, + floor.

    Widening the peaks makes the fine samples cover the whole surface region, not one interval.
    """
    pooled = F.max_pool1d(weights[:, None], kernel_size=2, stride=1, padding=1)
    pooled = F.avg_pool1d(pooled, kernel_size=2, stride=1)
    return pooled[:, 0] + IMPORTANCE_WEIGHT_FLOOR


def inverse_cdf(edges: Tensor, weights: Tensor, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
    """Sample [M,n] positions from the piecewise-constant pdf with bins edges [M,K+1], weights [M,K]."""
    pdf = weights / weights.sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=-1)], dim=-1)  # [M,K+1]
    m = edges.shape[0]
    if generator is None:
        u = torch.linspace(0.0, 1.0, n_samples, dtype=edges.dtype, device=edges.device).expand(m, n_samples)
    else:
        u = torch.rand(m, n_samples, generator=generator, dtype=edges.dtype, device=edges.device)
    u = u.contiguous()
    idx = torch.searchsorted(cdf.contiguous(), u, right=True)
    below = (idx - 1).clamp(0, cdf.shape[-1] - 1)
    above = idx.clamp(0, cdf.shape[-1] - 1)
    cdf_lo, cdf_hi = cdf.gather(1, below), cdf.gather(1, above)
    e_lo, e_hi = edges.gather(1, below), edges.gather(1, above)
    span = cdf_hi - cdf_lo
    span = torch.where(span < CDF_EPS, torch.ones_like(span), span)
    return e_lo + (u - cdf_lo) / span * (e_hi - e_lo)


def importance_depths(depths: Tensor, weights: Tensor, n_importance: int,
                      generator: torch.Generator | None = None, bins: str = "eg3d") -> Tensor:
    """depths [N,R,S,1] and their interval weights [N,R,S-1,1] -> [N,R,n_importance,1] new depths.

    bins="eg3d": EG3D's binning, reproduced because its checkpoints' renders depend on it: the
    pdf's bins run between consecutive midpoints of the coarse samples (the first S-2 midpoints as
    edges) and their weights are the smoothed interval weights without the first and the last.
    bins="samples": the bins are the coarse intervals themselves, with all smoothed weights.
    """
    n, r, s, _ = depths.shape
    with torch.no_grad():
        z = depths.reshape(n * r, s)
        w = smooth_importance_weights(weights.reshape(n * r, s - 1))
        if bins == "samples":
            out = inverse_cdf(z, w, n_importance, generator)
        else:
            edges = 0.5 * (z[:, 1:-1] + z[:, :-2])  # [M,S-2] = midpoints 0..S-3
            out = inverse_cdf(edges, w[:, 1:-1] + PDF_EPS, n_importance, generator)
    return out.reshape(n, r, n_importance, 1)


def inverse_cdf_slow(edges: Tensor, weights: Tensor, n_samples: int) -> Tensor:
    """Answer key for the deterministic inverse_cdf: walk each ray's intervals until the
    accumulated probability reaches u, then interpolate linearly inside that interval."""
    out = []
    for e, w in zip(edges.double().tolist(), weights.double().tolist()):
        pdf = [x / sum(w) for x in w]
        row = []
        for u in np.linspace(0.0, 1.0, n_samples):
            acc = 0.0
            for k, p in enumerate(pdf):
                if u < acc + p or k == len(pdf) - 1:
                    t = min((u - acc) / p, 1.0)
                    row.append(e[k] + t * (e[k + 1] - e[k]))
                    break
                acc += p
        out.append(row)
    return torch.tensor(out, dtype=edges.dtype)


def smooth_importance_weights_slow(weights: list[float]) -> list[float]:
    """Answer key for smooth_importance_weights (one ray, without the floor): each interval's
    weight becomes the mean of max(left neighbour, itself) and max(itself, right neighbour)."""
    s = len(weights)
    pair_max = lambda a, b: max(weights[a] if 0 <= a < s else -math.inf, weights[b] if 0 <= b < s else -math.inf)  # noqa: E731
    return [(pair_max(j - 1, j) + pair_max(j, j + 1)) / 2 for j in range(s)]


def importance_depths_slow(depths: Tensor, weights: Tensor, n_importance: int, bins: str = "eg3d") -> Tensor:
    """Answer key for the deterministic importance_depths, one ray at a time. "eg3d": the bins run
    between the midpoints of consecutive coarse samples (midpoints 0..S-3 as edges) and take the
    smoothed weights of intervals 1..S-3; "samples": the coarse intervals and all their weights."""
    n, r, s, _ = depths.shape
    out = []
    for z, w in zip(depths.reshape(n * r, s).double().tolist(), weights.reshape(n * r, s - 1).double().tolist()):
        smooth = [v + IMPORTANCE_WEIGHT_FLOOR for v in smooth_importance_weights_slow(w)]
        if bins == "samples":
            edges, probs = z, smooth
        else:
            edges, probs = [(z[k] + z[k + 1]) / 2 for k in range(s - 2)], [v + PDF_EPS for v in smooth[1:-1]]
        out.append(inverse_cdf_slow(torch.tensor([edges]), torch.tensor([probs]), n_importance)[0])
    return torch.stack(out).reshape(n, r, n_importance, 1).to(depths.dtype)


# --- compositing --------------------------------------------------------------------------------
def midpoints(x: Tensor) -> Tensor:
    """[...,S,C] -> [...,S-1,C] averages of neighbouring samples."""
    return 0.5 * (x[..., 1:, :] + x[..., :-1, :])


def compute_weights(sigmas: Tensor, depths: Tensor,
                    density_activation: DensityActivation = eg3d_density) -> tuple[Tensor, Tensor]:
    """Raw sigmas [N,R,S,1] at depths [N,R,S,1] -> (weights [N,R,S-1,1], midpoint depths [N,R,S-1,1])."""
    deltas = depths[..., 1:, :] - depths[..., :-1, :]
    density = density_activation(midpoints(sigmas))
    alpha = 1 - torch.exp(-density * deltas)
    shifted = torch.cat([torch.ones_like(alpha[..., :1, :]), 1 - alpha + TRANSMITTANCE_EPS], dim=-2)
    transmittance = torch.cumprod(shifted, dim=-2)[..., :-1, :]
    return alpha * transmittance, midpoints(depths)


def accumulate(values: Tensor, weights: Tensor) -> Tensor:
    """Per-sample values [N,R,S,C] and interval weights [N,R,S-1,1] -> [N,R,C]."""
    return (weights * midpoints(values)).sum(dim=-2)


def expected_depth(weights: Tensor, depth_mid: Tensor, depths: Tensor) -> Tensor:
    """[N,R,1] weight-averaged depth, clamped to each ray's sampled range (empty rays: far end)."""
    total = weights.sum(dim=-2)
    hit = total > 0
    # Divide by 1 where nothing was hit: a 0/0 in the forward pass would be masked, but its
    # gradient would still be NaN and poison training.
    depth = (weights * depth_mid).sum(dim=-2) / torch.where(hit, total, torch.ones_like(total))
    depth = torch.where(hit, depth, depths[..., -1, :])
    return torch.minimum(torch.maximum(depth, depths[..., 0, :]), depths[..., -1, :])


@dataclass
class Composite:
    """features [N,R,C], depth [N,R,1], opacity [N,R,1], weights [N,R,S-1,1]."""

    features: Tensor
    depth: Tensor
    opacity: Tensor
    weights: Tensor


def composite(features: Tensor, sigmas: Tensor, depths: Tensor,
              density_activation: DensityActivation = eg3d_density, white_back: bool = False) -> Composite:
    """Volume-render per-sample features [N,R,S,C] with raw sigmas [N,R,S,1] at depths [N,R,S,1]."""
    weights, depth_mid = compute_weights(sigmas, depths, density_activation)
    out = accumulate(features, weights)
    opacity = weights.sum(dim=-2)
    if white_back:
        out = out + 1 - opacity
    return Composite(out, expected_depth(weights, depth_mid, depths), opacity, weights)


def composite_probabilities(probs: Tensor, weights: Tensor, background_class: int = 0) -> Tensor:
    """Per-sample class probabilities [N,R,S,K] -> per-ray [N,R,K]; the unoccupied share of the
    ray (1 - opacity) goes to the background class, so each ray's probabilities sum to 1."""
    out = accumulate(probs, weights)
    bg = 1 - weights.sum(dim=-2)
    return out.index_add(-1, torch.tensor([background_class], device=out.device), bg)


def composite_slow(features: Tensor, sigmas: Tensor, depths: Tensor,
                   density_activation: DensityActivation = eg3d_density, white_back: bool = False) -> Composite:
    """Answer key for composite: one ray and one interval at a time, front to back."""
    n, r, s, c = features.shape
    out = features.new_zeros(n, r, c)
    depth_out = features.new_zeros(n, r, 1)
    opacity = features.new_zeros(n, r, 1)
    weights = features.new_zeros(n, r, s - 1, 1)
    for b in range(n):
        for i in range(r):
            trans, acc, acc_d, acc_w = 1.0, features.new_zeros(c), 0.0, 0.0
            for k in range(s - 1):
                delta = depths[b, i, k + 1, 0] - depths[b, i, k, 0]
                sig = density_activation((sigmas[b, i, k, 0] + sigmas[b, i, k + 1, 0]) / 2)
                alpha = 1 - torch.exp(-sig * delta)
                w = alpha * trans
                weights[b, i, k, 0] = w
                acc = acc + w * (features[b, i, k] + features[b, i, k + 1]) / 2
                acc_d = acc_d + w * (depths[b, i, k, 0] + depths[b, i, k + 1, 0]) / 2
                acc_w = acc_w + w
                trans = trans * (1 - alpha + TRANSMITTANCE_EPS)
            lo, hi = depths[b, i, 0, 0], depths[b, i, -1, 0]
            d = acc_d / acc_w if acc_w > 0 else hi
            depth_out[b, i, 0] = min(max(d, lo), hi)
            out[b, i] = acc + (1 - acc_w) if white_back else acc
            opacity[b, i, 0] = acc_w
    return Composite(out, depth_out, opacity, weights)


# --- the full two-pass march -------------------------------------------------------------------
@dataclass
class MarchResult:
    """features [N,R,C], depth [N,R,1], opacity [N,R,1]; depths [N,R,S,1] are all (sorted) sample
    depths and weights [N,R,S-1,1] their interval weights, so another field (e.g. semantics with
    the density prior) can be composited at exactly the same points."""

    features: Tensor
    depth: Tensor
    opacity: Tensor
    depths: Tensor
    weights: Tensor


def sample_points(origins: Tensor, directions: Tensor, depths: Tensor) -> Tensor:
    """origins/directions [N,R,3], depths [N,R,S,1] -> points [N,R,S,3]."""
    return origins[..., None, :] + depths * directions[..., None, :]


def _evaluate(field: FieldFn, origins: Tensor, directions: Tensor, depths: Tensor) -> tuple[Tensor, Tensor]:
    n, r, s, _ = depths.shape
    pts = sample_points(origins, directions, depths).reshape(n, r * s, 3)
    dirs = directions[..., None, :].expand(n, r, s, 3).reshape(n, r * s, 3)
    sigma, feats = field(pts, dirs)
    return sigma.reshape(n, r, s, 1), feats.reshape(n, r, s, -1)


def march(field: FieldFn, origins: Tensor, directions: Tensor, config: RenderingConfig,
          generator: torch.Generator | None = None, density_activation: DensityActivation = eg3d_density) -> MarchResult:
    """Coarse stratified pass, importance pass, then composite the merged sorted samples.

    generator=None gives deterministic sampling (inference); a torch.Generator jitters (training).
    """
    n, r, _ = origins.shape
    depths = stratified_depths(n, r, config.ray_start, config.ray_end, config.depth_resolution,
                               generator, origins.dtype, origins.device)
    sigma, feats = _evaluate(field, origins, directions, depths)
    if config.depth_resolution_importance > 0:
        coarse_w, _ = compute_weights(sigma, depths, density_activation)
        fine = importance_depths(depths, coarse_w, config.depth_resolution_importance, generator,
                                 config.importance_bins)
        sigma_f, feats_f = _evaluate(field, origins, directions, fine)
        depths = torch.cat([depths, fine], dim=-2)
        order = torch.argsort(depths, dim=-2)
        depths = depths.gather(-2, order)
        sigma = torch.cat([sigma, sigma_f], dim=-2).gather(-2, order)
        feats = torch.cat([feats, feats_f], dim=-2).gather(-2, order.expand(-1, -1, -1, feats.shape[-1]))
    comp = composite(feats, sigma, depths, density_activation, config.white_back)
    return MarchResult(comp.features, comp.depth, comp.opacity, depths, comp.weights)


def march_slow(field: FieldFn, origins: Tensor, directions: Tensor, config: RenderingConfig,
               density_activation: DensityActivation = eg3d_density) -> MarchResult:
    """Answer key for the deterministic march: evenly spaced coarse depths, composite_slow for the
    coarse weights, importance_depths_slow, merged and sorted, composite_slow again."""
    n, r, _ = origins.shape
    coarse = torch.linspace(config.ray_start, config.ray_end, config.depth_resolution, dtype=origins.dtype,
                            device=origins.device)
    depths = coarse.reshape(1, 1, -1, 1).expand(n, r, -1, 1)
    sigma, feats = _evaluate(field, origins, directions, depths)
    if config.depth_resolution_importance > 0:
        coarse_w = composite_slow(feats, sigma, depths, density_activation).weights
        fine = importance_depths_slow(depths, coarse_w, config.depth_resolution_importance, config.importance_bins)
        sigma_f, feats_f = _evaluate(field, origins, directions, fine)
        depths, order = torch.sort(torch.cat([depths, fine], dim=-2), dim=-2)
        sigma = torch.cat([sigma, sigma_f], dim=-2).gather(-2, order)
        feats = torch.cat([feats, feats_f], dim=-2).gather(-2, order.expand(-1, -1, -1, feats.shape[-1]))
    comp = composite_slow(feats, sigma, depths, density_activation, config.white_back)
    return MarchResult(comp.features, comp.depth, comp.opacity, depths, comp.weights)


@dataclass
class MarchedRays:
    """What a march gives an image: features [N,R,C], depth [N,R,1], opacity [N,R,1]."""

    features: Tensor
    depth: Tensor
    opacity: Tensor


def march_chunked(field: FieldFn, origins: Tensor, directions: Tensor, config: RenderingConfig,
                  chunk_rays: int) -> MarchedRays:
    """march() over chunks of `chunk_rays` rays (deterministic sampling), concatenated: bounded
    memory for any number of rays."""
    outs = [march(field, o, d, config)
            for o, d in zip(origins.split(chunk_rays, dim=1), directions.split(chunk_rays, dim=1))]
    return MarchedRays(*(torch.cat([getattr(m, name) for m in outs], dim=1) for name in ("features", "depth", "opacity")))
