"""Semantic volume rendering with the density prior (stateless).

The frozen generator marches its own field (coarse + importance samples); the semantic field is
evaluated at exactly those sample points and composited with the generator's weights, so masks
and depth come from one and the same geometry. Without the prior the semantic field's own
density gives the weights (ablation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..render.config import DEFAULT_CHUNK_RAYS, check_march_path, fast_chunk_rays
from ..render.fast_march import (FastMarchResult, Selection, composite_selected, evaluate_compact, march_fast,
                                 sample_coefficients)
from ..render.raymarch import MarchResult, accumulate, composite_probabilities, compute_weights, march, sample_points

# points [N,P,3] -> (semantic features [N,P,F], raw density [N,P,1] or None)
SemanticFieldFn = Callable[[Tensor], tuple[Tensor, Tensor | None]]
PROB_FLOOR = 1e-6  # log of a probability: keeps log(0) out of the super-resolution input
# The fast path evaluates the semantic field only at samples whose share of the composite
# (render/fast_march.sample_coefficients) is at least this; the shares of the skipped ones are
# spread over the kept ones of the same ray, so each ray's probabilities still sum to 1 and its
# opacity is unchanged. A label moves only where the skipped shares (at most this times the
# samples of a ray) could tip the argmax. Set by measurement (scripts/bench.py --only fast).
SEMANTIC_MIN_COEFFICIENT = 1e-4
# floats of a semantic evaluation's projected features / hidden units / outputs (an estimate for
# sizing fast-path chunks by memory; the branch's hidden width is 64 by default)
SEMANTIC_FLOATS_PER_EVALUATION = 64


@dataclass
class SemanticRays:
    """Per ray: probs [N,R,K] (background gets the unoccupied share), features [N,R,F],
    rgb features [N,R,C] / depth [N,R,1] / opacity [N,R,1] of the generator."""

    probs: Tensor
    features: Tensor
    rgb_features: Tensor
    depth: Tensor
    opacity: Tensor


def march_generator(generator, subject, origins: Tensor, directions: Tensor, field=None) -> MarchResult:
    """The frozen generator's march (no gradients): sample depths, weights and its own outputs;
    field: the generator's field to march (default generator.field(subject), the reference)."""
    with torch.no_grad():
        return march(field or generator.field(subject), origins, directions, generator.rendering)


def composite_semantics(feats: Tensor, sigma: Tensor | None, weights: Tensor, depths: Tensor,
                        num_classes: int) -> tuple[Tensor, Tensor]:
    """Per-sample semantic features [N,R,S,F] -> (probs [N,R,K], features [N,R,F]), composited with
    the generator's interval weights, or with the branch's own raw density [N,R,S,1] when given."""
    if sigma is not None:
        weights, _ = compute_weights(sigma, depths)
    probs = composite_probabilities(torch.softmax(feats[..., :num_classes], dim=-1), weights)
    return probs, accumulate(feats, weights)


def semantic_composite(field: SemanticFieldFn, marched: MarchResult, origins: Tensor, directions: Tensor,
                       num_classes: int) -> tuple[Tensor, Tensor]:
    """Evaluate the semantic field at the march's samples -> (probs [N,R,K], features [N,R,F])."""
    n, r, s, _ = marched.depths.shape
    pts = sample_points(origins, directions, marched.depths).reshape(n, r * s, 3)
    feats, sigma = field(pts)
    sigma = None if sigma is None else sigma.reshape(n, r, s, 1)
    return composite_semantics(feats.reshape(n, r, s, -1), sigma, marched.weights, marched.depths, num_classes)


def semantic_composite_fast(field: SemanticFieldFn, marched: FastMarchResult, origins: Tensor, directions: Tensor,
                            num_classes: int, background_class: int = 0,
                            min_coefficient: float | None = None) -> tuple[Tensor, Tensor]:
    """semantic_composite for the fast march (render/fast_march.py): the semantic field is
    evaluated only at the generator's evaluated samples whose share of the composite is at least
    min_coefficient (default SEMANTIC_MIN_COEFFICIENT; 0 keeps every sample that carries weight),
    in one compact batch, and composited with the same weights, the skipped shares spread over the
    kept samples of their ray -> (probs [N,R,K], features [N,R,F]). Rays the march did not enter
    are background. Needs the density prior (the generator's weights)."""
    n, r, _ = origins.shape
    o, d = origins[:, marched.rays], directions[:, marched.rays]
    floor = SEMANTIC_MIN_COEFFICIENT if min_coefficient is None else min_coefficient
    keep, coef, covered = kept_shares(sample_coefficients(marched.weights), marched.evaluated,
                                      marched.weights.sum(dim=-1), floor)
    sel = Selection.of(keep)
    probs = origins.new_zeros(n, r, num_classes)
    probs[..., background_class] = 1
    if len(sel) == 0:  # nothing visible: learn the feature count from one point per row
        feats = field(origins[:, :1])[0]
        return probs, origins.new_zeros(n, r, feats.shape[-1])
    pts, _ = sel.points(o, d, marched.depths)
    (feats, sigma), _ = evaluate_compact(field, sel.rows, n, pts)
    if sigma is not None:
        raise ValueError("the fast path composites with the generator's weights: it needs the density prior")
    inner, inner_feats = composite_kept(feats, sel, coef, covered, num_classes, background_class)
    probs[:, marched.rays] = inner
    out = origins.new_zeros(n, r, feats.shape[-1])
    out[:, marched.rays] = inner_feats
    return probs, out


def kept_shares(coef: Tensor, evaluated: Tensor, opacity: Tensor, floor: float) -> tuple[Tensor, Tensor, Tensor]:
    """Which samples the semantic field is evaluated at, and their shares of the composite.

    coef [...,S] each sample's share (render/fast_march.sample_coefficients), evaluated [...,S]
    the samples whose density is known, opacity [...] each ray's. Kept: evaluated samples with a
    share >= floor (and > 0). With floor > 0 each ray's kept shares are rescaled to its full
    opacity, so its probabilities still sum to 1; a ray with none kept counts as empty.
    Returns (keep [...,S] bool, coef [...,S], covered [...]: the opacity the kept samples carry)."""
    keep = evaluated & (coef > 0) & (coef >= floor)
    if floor > 0:
        kept = (coef * keep).sum(dim=-1)
        coef = coef * torch.where(kept > 0, opacity / kept.clamp_min(1e-30), torch.ones_like(kept))[..., None]
        opacity = torch.where(kept > 0, opacity, torch.zeros_like(opacity))
    return keep, coef, opacity


def softmax_rows(x: Tensor) -> Tensor:
    """torch.softmax(x, dim=-1) of [K,C] rows of a few classes, computed over a transposed copy:
    a CPU's softmax over a short last dimension runs a scalar loop per row (22k x 7 logits:
    0.9 ms, transposed 0.2 ms). The same numbers up to float rounding; a [K,C] view."""
    return torch.softmax(x.T.contiguous(), dim=0).T


def composite_kept(feats: Tensor, sel: Selection, coef: Tensor, covered: Tensor, num_classes: int,
                   background_class: int = 0) -> tuple[Tensor, Tensor]:
    """Semantic features [K,F] of the kept samples sel (of an [N,R,S] layout, coef [N,R,S] from
    kept_shares, covered [N,R]) -> (class probabilities [N,R,K], features [N,R,F]); the share no
    kept sample carries goes to the background class, as the volume path's empty space does."""
    n, r = covered.shape
    probs = composite_selected(softmax_rows(feats[:, :num_classes]), sel, coef, n, r)
    probs[..., background_class] += 1 - covered
    return probs, composite_selected(feats, sel, coef, n, r)


def render_semantic_rays(generator, subject, field: SemanticFieldFn, origins: Tensor, directions: Tensor,
                         num_classes: int, chunk_rays: int = DEFAULT_CHUNK_RAYS, path: str = "volume") -> SemanticRays:
    """The generator's march and the semantic field composited on it, chunk by chunk; path
    "volume" (the reference march) or "fast" (the generator's fast march, its occupancy grid
    built once and cached on the subject; the semantic field evaluated only where it shows)."""
    check_march_path(path)
    outs = []
    skipping = False
    if path == "fast":
        grid = generator.occupancy(subject)
        gen_field = generator.field_summed(subject)  # the fast lookup, on a full grid's plain march too
        # a full grid: nothing to skip, the plain march (as render() does)
        skipping = grid.skips_anything()
        if skipping:
            # the generator's and the semantic field's plane features, hidden units and outputs
            per_eval = 2 * (subject.planes.shape[2] + 2 * SEMANTIC_FLOATS_PER_EVALUATION)
            chunk_rays = max(chunk_rays, fast_chunk_rays(generator.rendering, per_eval,
                                                         float(grid.occupied_fraction().max())))
    for o, d in zip(origins.split(chunk_rays, dim=1), directions.split(chunk_rays, dim=1)):
        if skipping:
            with torch.no_grad():
                m = march_fast(gen_field, o, d, generator.rendering, grid)
            probs, feats = semantic_composite_fast(field, m, o, d, num_classes)
        else:
            m = march_generator(generator, subject, o, d, gen_field if path == "fast" else None)
            probs, feats = semantic_composite(field, m, o, d, num_classes)
        outs.append((probs, feats, m.features, m.depth, m.opacity))
    return SemanticRays(*(torch.cat([o[i] for o in outs], dim=1) for i in range(5)))


def class_labels(logits: Tensor) -> Tensor:
    """[V,K,H,W] class scores -> [V,H,W] the highest-scoring class (argmax over dim 1, ties to the
    first; torch.max's indices follow the same rule and are ~15x faster on a CPU for these
    channel-strided images: 1.6 vs 28 ms at 8 x 7 x 128^2)."""
    return logits.max(dim=1).indices


def log_probs(probs: Tensor) -> Tensor:
    return probs.clamp_min(PROB_FLOOR).log()
