"""The procedural oracle's exact part labels painted on the surface another generator rendered.

A learned generator only approximates the oracle's subject of the same seed: its silhouette
bulges or shrinks and thin parts move. What a careful annotator of the LEARNED generator's image
draws is therefore not the oracle's own mask of that seed but the true part of each surface point
the image shows: every pixel rendered opaque gets the oracle's 3D label at origin + depth *
direction (the nearest part), every other pixel background. Used by annotation kits (`--oracle`,
image masks) and by the label ceiling of a generator (research: dnerf_research.label_ceiling).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..cameras import Cameras, ray_bundle
from ..labels import BACKGROUND_ID
from .base import SURFACE_OPACITY, RenderOutput, Subject


@torch.no_grad()
def oracle_labels_on_surface(oracle, seeds: list[int], cameras: Cameras, depth: Tensor, opacity: Tensor,
                             truth: Subject | None = None) -> Tensor:
    """Label views a generator rendered of `seeds` with the oracle's 3D parts -> labels [V,H,W] int64.

    seeds: one per view, or one for all views; cameras: the V cameras; depth, opacity [V,1,H,W]
    as rendered (depth along the unit ray); truth: the oracle's subject to label against (one row
    per view, e.g. each in its body pose; None: oracle.sample of the seeds)."""
    n, _, h, w = depth.shape
    if h != w:
        raise ValueError(f"surface labels need square views, got {w}x{h}")
    rays = ray_bundle(cameras.to(dtype=torch.float32), h)
    points = rays.origins + depth.reshape(n, h * w, 1).float() * rays.directions  # [V,HW,3]
    if truth is None:
        truth = oracle.sample(seeds if len(seeds) == n else list(seeds) * n)
    labels = oracle.labels_at(truth, points).reshape(n, h, w).long()
    opaque = opacity[:, 0] >= SURFACE_OPACITY
    return torch.where(opaque, labels, torch.full_like(labels, BACKGROUND_ID))


@dataclass
class SurfaceOracleLabels:
    """A labeler with a learned generator's geometry and the oracle's labels (a Generator whose
    render() is `generator`'s with `oracle_labels_on_surface` as labels).

    generator: a learned generator (render() gives depth and opacity); oracle: the procedural
    world of the same category (same seeds = same subjects)."""

    generator: object
    oracle: object

    @property
    def orbit(self):
        return self.generator.orbit

    @property
    def bounds(self) -> float:
        return self.generator.bounds

    def sample(self, seeds: list[int]) -> Subject:
        return self.generator.sample(seeds)

    @torch.no_grad()
    def render(self, subject: Subject, cameras: Cameras, resolution: int | None = None, *,
               path: str = "volume") -> RenderOutput:
        # the keyword only when asked for: a wrapped generator may predate the render paths
        out = (self.generator.render(subject, cameras, resolution) if path == "volume"
               else self.generator.render(subject, cameras, resolution, path=path))
        labels = oracle_labels_on_surface(self.oracle, subject.seeds, cameras, out.depth, out.opacity)
        return replace(out, labels=labels)
