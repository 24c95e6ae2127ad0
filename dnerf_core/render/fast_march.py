"""The fast twin of raymarch.march: the same two-pass march, the field evaluated only where it
can matter (stateless).

- Empty-space skipping: a sample is evaluated only when it lies in an occupied cell of the
  subject's occupancy grid (render/occupancy.py), or is the neighbour along its ray of such a
  sample: EG3D's compositing averages the RAW sigma of neighbouring samples, so an occupied
  sample's interval needs its neighbour's true value. An interval with an unevaluated end gets
  zero density; both its ends then lie in empty cells, where the density is below the grid's
  threshold.
- Compaction: the samples to evaluate are gathered into one flat batch (per batch row), evaluated
  in ONE field call, and their raw sigma scattered back into a dense [N,R,S] array; their features
  stay compact and are composited straight from there (a segmented sum per ray), so no dense
  [N,R,S,C] buffer is ever filled with zeros. Rays that meet no occupied cell (a slab test against
  the box around the occupied cells) are background at once: no lookups, no evaluations.
- Early termination: samples are evaluated front to back in segments along the ray, in both
  passes; once a ray's transmittance has fallen below config.termination_transmittance it
  evaluates nothing more, and no importance sample lies past the coarse sample where that
  happened. What it skips weighs less than that transmittance in every output.
The importance depths come from the same importance_depths as the reference (the coarse weights
differ only by what skipping drops), the merged samples are sorted the same way and composited
with the same formulas, so raymarch.march stays the reference and slow twin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import RenderingConfig
from .occupancy import OccupancyGrid, occupied, ray_box_hits
from .raymarch import (TRANSMITTANCE_EPS, DensityActivation, FieldFn, MarchedRays, eg3d_density,
                       expected_depth, importance_depths, midpoints, stratified_depths)

# Coarse samples evaluated per step of the early-termination loop: after each step, rays whose
# transmittance fell below the threshold drop out. Smaller steps stop rays closer to their
# surface but cost one more (small) field call each.
COARSE_SEGMENT = 8
# Samples one field call gets at a time on a CPU: the plane features, hidden units and outputs of
# this many samples (a few MB) stay in the caches from the lookup through the MLP. This machine
# streams big elementwise ops at ~3 GB/s, so one call over a view's 300k samples spent more time
# moving activations than computing them (a 32-64-33 MLP: 193 ms whole, 108 ms in blocks of 8192).
# With the table lookup (render/plane_taps.py) each call also builds its taps, a fixed cost per
# call: labeled 128^2 views, s/view in three interleaved rounds, face 8192 0.68-0.77, 16384
# 0.65-0.71, 32768 0.66-0.71; car 8192 0.72-0.75, 16384 0.65-0.70, 32768 0.68-0.72.
# GPUs take the whole batch.
CPU_FIELD_BLOCK = 16384


@dataclass
class FastMarchResult:
    """features [N,R,C], depth [N,R,1], opacity [N,R,1] of every ray, as raymarch.march gives
    them; and, so another field can be composited at the same samples, for the rays actually
    marched (the others meet no occupied cell: background, nothing evaluated): their indices
    rays [R'], all sample depths [N,R',S], interval weights [N,R',S-1] and evaluated [N,R',S]
    (the samples whose field was evaluated; the others count as empty). evaluations: field
    evaluations run (padding of shorter rows included: what the decoder actually computed)."""

    features: Tensor
    depth: Tensor
    opacity: Tensor
    rays: Tensor
    depths: Tensor
    weights: Tensor
    evaluated: Tensor
    evaluations: int


@dataclass
class Selection:
    """K selected samples of an [N,R,S] layout: batch row, ray and step along the ray of each,
    in row-major order (so rows ascend)."""

    rows: Tensor
    rays: Tensor
    steps: Tensor

    @classmethod
    def of(cls, mask: Tensor, step_offset: int = 0) -> "Selection":
        rows, rays, steps = mask.nonzero(as_tuple=True)
        return cls(rows, rays, steps + step_offset)

    def __len__(self) -> int:
        return len(self.rows)

    def points(self, origins: Tensor, directions: Tensor, depths: Tensor) -> tuple[Tensor, Tensor]:
        """(points [K,3], directions [K,3]) of the selected samples; depths [N,R,S]."""
        d = directions[self.rows, self.rays]
        return origins[self.rows, self.rays] + depths[self.rows, self.rays, self.steps, None] * d, d

    def take(self, x: Tensor) -> Tensor:
        """x [N,R,S,...] at the selected samples -> [K,...]."""
        return x[self.rows, self.rays, self.steps]


def evaluate_compact(fn: Callable[..., tuple], rows: Tensor, n: int, *inputs: Tensor) -> tuple[tuple, int]:
    """Evaluate a batched field fn ([N,P,C_i] inputs -> [N,P,C] outputs or None) at K samples given
    flat (inputs [K,C_i], their batch rows [K], ascending): each row's samples are packed into one
    batch of the longest row's width, evaluated in ONE call, and unpacked. Returns (outputs [K,C]
    each, or None; evaluations = N * width)."""
    if n == 1:
        outs = _blocked(fn, tuple(x[None] for x in inputs))
        return tuple(None if y is None else y[0] for y in outs), len(rows)
    counts = torch.bincount(rows, minlength=n)
    width = int(counts.max())
    slots = torch.arange(len(rows), device=rows.device) - (torch.cumsum(counts, 0) - counts)[rows]
    packed = []
    for x in inputs:
        buf = x.new_zeros(n, width, x.shape[-1])
        buf[rows, slots] = x
        packed.append(buf)
    outs = _blocked(fn, tuple(packed))
    return tuple(None if y is None else y[rows, slots] for y in outs), n * width


def _blocked(fn: Callable[..., tuple], inputs: tuple[Tensor, ...]) -> tuple:
    """fn(*inputs) ([N,P,C_i] -> tuple of [N,P,C] or None), on a CPU in blocks of about
    CPU_FIELD_BLOCK samples along P (see there), concatenated."""
    n, p = inputs[0].shape[:2]
    step = max(1, CPU_FIELD_BLOCK // n)
    if inputs[0].device.type != "cpu" or p <= step:
        return fn(*inputs)
    parts = [fn(*(x[:, a:a + step] for x in inputs)) for a in range(0, p, step)]
    return tuple(None if ys[0] is None else torch.cat(ys, dim=1) for ys in zip(*parts))


def dilate_along_rays(mask: Tensor) -> Tensor:
    """[...,S] bool: each set sample also sets its neighbours along the ray."""
    out = mask.clone()
    out[..., 1:] |= mask[..., :-1]
    out[..., :-1] |= mask[..., 1:]
    return out


def masked_alphas(sigmas: Tensor, depths: Tensor, evaluated: Tensor,
                  density_activation: DensityActivation) -> Tensor:
    """Raw sigmas, depths and evaluated flags [...,S] -> [...,S-1] interval alphas as in
    raymarch.compute_weights, zero where an end of the interval was not evaluated."""
    deltas = depths[..., 1:] - depths[..., :-1]
    density = density_activation(0.5 * (sigmas[..., 1:] + sigmas[..., :-1]))
    both = evaluated[..., 1:] & evaluated[..., :-1]
    return 1 - torch.exp(-torch.where(both, density, torch.zeros_like(density)) * deltas)


def transmittance_at_samples(alpha: Tensor) -> Tensor:
    """[...,S-1] interval alphas -> [...,S] transmittance on arrival at each sample."""
    shifted = torch.cat([torch.ones_like(alpha[..., :1]), 1 - alpha + TRANSMITTANCE_EPS], dim=-1)
    return torch.cumprod(shifted, dim=-1)


def sample_coefficients(weights: Tensor) -> Tensor:
    """[...,S-1] interval weights -> [...,S] each sample's share of the composite: compositing
    averages neighbouring samples, so sum_i w_i (f_i + f_i+1) / 2 = sum_j f_j (w_j-1 + w_j) / 2."""
    zero = torch.zeros_like(weights[..., :1])
    return 0.5 * (torch.cat([zero, weights], dim=-1) + torch.cat([weights, zero], dim=-1))


def composite_selected(values: Tensor, sel: Selection, coefficients: Tensor, n: int, r: int) -> Tensor:
    """values [K,C] of the selected samples, per-sample coefficients [N,R,S] -> [N,R,C] composite.

    A selection lists its samples ray after ray, so each ray's terms are one contiguous run: one
    weighted embedding bag per ray (rows = the samples, per-sample weights = their coefficients)
    adds them up in order with no [K,C] product in between. On 2 cores, 128k samples of 32
    channels into 16k rays: 0.46 ms, vs 10 ms for segment_reduce and 20x that for index_add_."""
    lengths = torch.bincount(sel.rows * r + sel.rays, minlength=n * r)
    coef = sel.take(coefficients)
    dtype = torch.promote_types(values.dtype, coef.dtype)
    out = F.embedding_bag(torch.arange(len(sel), device=values.device), values.to(dtype),
                          torch.cumsum(lengths, 0) - lengths, mode="sum", per_sample_weights=coef.to(dtype))
    return out.reshape(n, r, -1)


class _Evaluated:
    """What a fast march has evaluated so far: dense raw sigma [N,R,S] and evaluated flags, and the
    features of the evaluated samples kept compact (their Selection and values [K,C])."""

    def __init__(self, field: FieldFn, origins: Tensor, directions: Tensor, depths: Tensor):
        self.field, self.origins, self.directions, self.depths = field, origins, directions, depths
        self.sigma = torch.zeros_like(depths)
        self.evaluated = torch.zeros(depths.shape, dtype=torch.bool, device=depths.device)
        self.selections: list[Selection] = []
        self.features: list[Tensor] = []
        self.evaluations = 0

    def evaluate(self, want: Tensor, step_offset: int = 0) -> None:
        """Evaluate the samples where want [N,R,s] is set (steps step_offset.. of the layout)."""
        sel = Selection.of(want, step_offset)
        if len(sel) == 0:
            return
        pts, dirs = sel.points(self.origins, self.directions, self.depths)
        (sigma, feats), count = evaluate_compact(self.field, sel.rows, self.depths.shape[0], pts, dirs)
        self.sigma[sel.rows, sel.rays, sel.steps] = sigma[:, 0].to(self.sigma.dtype)
        self.evaluated[sel.rows, sel.rays, sel.steps] = True
        self.selections.append(sel)
        self.features.append(feats)
        self.evaluations += count

    def merge(self, fine: Tensor) -> Tensor:
        """Insert the importance depths fine [N,R,F] and sort as raymarch.march does; the
        evaluated samples follow their new places. Returns the sort order [N,R,S+F]."""
        n, r, f = fine.shape
        merged = torch.cat([self.depths, fine], dim=-1)
        order = torch.argsort(merged[..., None], dim=-2)[..., 0]  # the reference's very sort
        new_place = torch.empty_like(order).scatter_(-1, order, torch.arange(order.shape[-1], device=order.device)
                                                     .expand_as(order).contiguous())
        self.selections = [Selection(s.rows, s.rays, new_place[s.rows, s.rays, s.steps]) for s in self.selections]
        pad = lambda x: torch.cat([x, torch.zeros_like(x[..., :f]).expand(n, r, f)], dim=-1).gather(-1, order)  # noqa: E731
        self.sigma, self.evaluated = pad(self.sigma), pad(self.evaluated)
        self.depths = merged.gather(-1, order)
        return order

    def composite(self, weights: Tensor) -> Tensor:
        """[N,R,C] features composited with interval weights [N,R,S-1]."""
        n, r, _ = self.depths.shape
        coef = sample_coefficients(weights)
        if not self.features:  # nothing evaluated: learn the channel count from one point per row
            _, feats = self.field(self.origins[:, :1], self.directions[:, :1])
            self.evaluations += n
            return feats.new_zeros(n, r, feats.shape[-1])
        return sum(composite_selected(v, s, coef, n, r) for s, v in zip(self.selections, self.features))


def march_fast(field: FieldFn, origins: Tensor, directions: Tensor, config: RenderingConfig, grid: OccupancyGrid,
               density_activation: DensityActivation = eg3d_density,
               coarse_segment: int = COARSE_SEGMENT) -> FastMarchResult:
    """raymarch.march (deterministic sampling) with empty-space skipping and early termination
    (module doc). origins/directions [N,R,3]; grid: the subject's occupancy grid (one subject
    broadcast over the N rows, or one per row)."""
    n, r, _ = origins.shape
    # rays that meet no occupied cell are background: nothing to look up, nothing to evaluate
    hit = ray_box_hits(grid.box, origins, directions, config.ray_start, config.ray_end)
    rays = hit.any(dim=0).nonzero()[:, 0]
    o, d = origins[:, rays], directions[:, rays]
    ev, occ = _coarse_pass(field, o, d, config, grid, density_activation, coarse_segment)
    if config.depth_resolution_importance > 0:
        _importance_pass(ev, occ, config, grid, density_activation)
    alpha = masked_alphas(ev.sigma, ev.depths, ev.evaluated, density_activation)
    weights = alpha * transmittance_at_samples(alpha)[..., :-1]
    feats = ev.composite(weights)
    opacity = weights.sum(dim=-1, keepdim=True)
    depths = ev.depths[..., None]
    depth = expected_depth(weights[..., None], midpoints(depths), depths)
    out = origins.new_zeros(n, r, feats.shape[-1])
    out[:, rays] = feats
    full_depth = torch.full_like(origins[..., :1], float(config.ray_end))
    full_depth[:, rays] = depth
    full_opacity = origins.new_zeros(n, r, 1)
    full_opacity[:, rays] = opacity
    if config.white_back:
        out = out + 1 - full_opacity
    return FastMarchResult(out, full_depth, full_opacity, rays, ev.depths, weights, ev.evaluated, ev.evaluations)


def _coarse_pass(field: FieldFn, origins: Tensor, directions: Tensor, config: RenderingConfig, grid: OccupancyGrid,
                 density_activation: DensityActivation, coarse_segment: int) -> tuple["_Evaluated", Tensor]:
    """Evaluate the occupied coarse samples segment by segment, dropping rays that became opaque.
    Returns the evaluations and the samples' occupancy [N,R,S]."""
    n, r, _ = origins.shape
    s = config.depth_resolution
    depths = stratified_depths(n, r, config.ray_start, config.ray_end, s, None, origins.dtype, origins.device)[..., 0]
    occ = _occupied(grid, origins, directions, depths)
    ev = _Evaluated(field, origins, directions, depths)
    _evaluate_front_to_back(ev, dilate_along_rays(occ), config, density_activation, coarse_segment)
    return ev, occ


def _importance_pass(ev: "_Evaluated", occ: Tensor, config: RenderingConfig, grid: OccupancyGrid,
                     density_activation: DensityActivation) -> None:
    """Importance depths from the coarse weights (raymarch.importance_depths), merged and sorted
    with the coarse ones; the occupied ones before the ray became opaque are evaluated."""
    depths = ev.depths
    alpha = masked_alphas(ev.sigma, depths, ev.evaluated, density_activation)
    trans = transmittance_at_samples(alpha)
    coarse_w = (alpha * trans[..., :-1])[..., None]
    fine = importance_depths(depths[..., None], coarse_w, config.depth_resolution_importance, None,
                             config.importance_bins)[..., 0]
    # nothing past the coarse sample where the ray became opaque is evaluated
    stopped = trans < config.termination_transmittance
    first = stopped.to(torch.uint8).argmax(dim=-1, keepdim=True)
    t_stop = torch.where(stopped.any(dim=-1, keepdim=True), depths.gather(-1, first),
                         torch.full_like(depths[..., :1], float("inf")))
    occ_fine = _occupied(grid, ev.origins, ev.directions, fine)
    order = ev.merge(fine)
    occ = torch.cat([occ, occ_fine], dim=-1).gather(-1, order)
    want = dilate_along_rays(occ) & (ev.depths <= t_stop) & ~ev.evaluated
    _evaluate_front_to_back(ev, want, config, density_activation, 2 * COARSE_SEGMENT)


def _evaluate_front_to_back(ev: "_Evaluated", want: Tensor, config: RenderingConfig,
                            density_activation: DensityActivation, segment: int) -> None:
    """Evaluate the wanted samples [N,R,S] a segment at a time along the rays; after each segment,
    rays whose transmittance (over the samples decided so far, exactly as the composite will
    see them) fell below config.termination_transmittance evaluate nothing more."""
    n, r, s = want.shape
    alive = torch.ones(n, r, 1, dtype=torch.bool, device=want.device)
    trans = torch.ones(n, r, 1, dtype=ev.depths.dtype, device=want.device)
    for start in range(0, s, segment):
        stop = min(s, start + segment)
        ev.evaluate(want[:, :, start:stop] & alive, start)
        if stop < s:  # transmittance on arrival at sample stop-1
            lo = max(start - 1, 0)
            alpha = masked_alphas(ev.sigma[..., lo:stop], ev.depths[..., lo:stop], ev.evaluated[..., lo:stop],
                                  density_activation)
            trans = trans * torch.prod(1 - alpha + TRANSMITTANCE_EPS, dim=-1, keepdim=True)
            alive = trans >= config.termination_transmittance


def _occupied(grid: OccupancyGrid, origins: Tensor, directions: Tensor, depths: Tensor) -> Tensor:
    """[N,R,S] occupancy of the samples at depths [N,R,S]."""
    n, r, s = depths.shape
    pts = origins[:, :, None] + depths[..., None] * directions[:, :, None]
    return occupied(grid, pts.reshape(n, r * s, 3)).reshape(n, r, s)


@dataclass
class FastMarchedRays(MarchedRays):
    """MarchedRays plus the field evaluations the march ran."""

    evaluations: int


def march_fast_chunked(field: FieldFn, origins: Tensor, directions: Tensor, config: RenderingConfig,
                       grid: OccupancyGrid, chunk_rays: int) -> FastMarchedRays:
    """march_fast() over chunks of `chunk_rays` rays, concatenated (bounded memory)."""
    outs = [march_fast(field, o, d, config, grid)
            for o, d in zip(origins.split(chunk_rays, dim=1), directions.split(chunk_rays, dim=1))]
    cat = lambda name: torch.cat([getattr(m, name) for m in outs], dim=1)  # noqa: E731
    return FastMarchedRays(cat("features"), cat("depth"), cat("opacity"), sum(m.evaluations for m in outs))
