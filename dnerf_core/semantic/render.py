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

from ..render.config import DEFAULT_CHUNK_RAYS
from ..render.raymarch import MarchResult, accumulate, composite_probabilities, compute_weights, march, sample_points

# points [N,P,3] -> (semantic features [N,P,F], raw density [N,P,1] or None)
SemanticFieldFn = Callable[[Tensor], tuple[Tensor, Tensor | None]]
PROB_FLOOR = 1e-6  # log of a probability: keeps log(0) out of the super-resolution input


@dataclass
class SemanticRays:
    """Per ray: probs [N,R,K] (background gets the unoccupied share), features [N,R,F],
    rgb features [N,R,C] / depth [N,R,1] / opacity [N,R,1] of the generator."""

    probs: Tensor
    features: Tensor
    rgb_features: Tensor
    depth: Tensor
    opacity: Tensor


def march_generator(generator, subject, origins: Tensor, directions: Tensor) -> MarchResult:
    """The frozen generator's march (no gradients): sample depths, weights and its own outputs."""
    with torch.no_grad():
        return march(generator.field(subject), origins, directions, generator.rendering)


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


def render_semantic_rays(generator, subject, field: SemanticFieldFn, origins: Tensor, directions: Tensor,
                         num_classes: int, chunk_rays: int = DEFAULT_CHUNK_RAYS) -> SemanticRays:
    outs = []
    for o, d in zip(origins.split(chunk_rays, dim=1), directions.split(chunk_rays, dim=1)):
        m = march_generator(generator, subject, o, d)
        probs, feats = semantic_composite(field, m, o, d, num_classes)
        outs.append((probs, feats, m.features, m.depth, m.opacity))
    return SemanticRays(*(torch.cat([o[i] for o in outs], dim=1) for i in range(5)))


def log_probs(probs: Tensor) -> Tensor:
    return probs.clamp_min(PROB_FLOOR).log()
