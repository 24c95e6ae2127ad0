"""The part masks a learned generator's geometry allows: its surface labeled by the true 3D parts.

A semantic branch labels the surface the frozen generator renders; it cannot move that surface.
`SurfaceOracleLabels` labels every pixel the generator renders opaque with the oracle's exact 3D
label at the generator's surface point (origin + depth * direction; the oracle's nearest part),
and transparent pixels background. Scored against the oracle's own masks like any labeler
(`semantic_quality.evaluate_individual`), it measures how much mIoU the generator's geometry
alone costs: silhouettes that bulge or shrink, thin parts that are missing or in the wrong
place. The gap between a trained branch and this ceiling is the branch's own error (a branch could
only beat it by labeling pixels against the 3D parts they show).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..cameras import ray_bundle
from ..generators.base import RenderOutput, Subject
from ..labels import BACKGROUND_ID
from ..factory.pointcloud import BackprojectConfig

# Pixels at least this opaque show the surface (the point-cloud exporter's rule, as in the 3D scores).
SURFACE_OPACITY = BackprojectConfig().opacity_threshold


@dataclass
class SurfaceOracleLabels:
    """A labeler with the learned generator's geometry and the oracle's labels.

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
    def render(self, subject: Subject, cameras, resolution: int | None = None) -> RenderOutput:
        out = self.generator.render(subject, cameras, resolution)
        n, _, h, w = out.depth.shape
        rays = ray_bundle(cameras.to(dtype=torch.float32), h)
        points = rays.origins + out.depth.reshape(n, h * w, 1) * rays.directions  # [V,HW,3]
        truth = self.oracle.sample(subject.seeds if len(subject) == n else subject.seeds * n)
        labels = self.oracle.labels_at(truth, points).reshape(n, h, w).long()
        opaque = out.opacity[:, 0] >= SURFACE_OPACITY
        return replace(out, labels=torch.where(opaque, labels, torch.full_like(labels, BACKGROUND_ID)))
