"""The part masks a learned generator's geometry allows: its surface labeled by the true 3D parts.

A semantic branch labels the surface the frozen generator renders; it cannot move that surface.
`SurfaceOracleLabels` (dnerf_core.generators.surface_labels) labels every pixel the generator
renders opaque with the oracle's exact 3D label at the generator's surface point, and transparent
pixels background. Scored against the oracle's own masks like any labeler
(`semantic_quality.evaluate_individual`), it measures how much mIoU the generator's geometry
alone costs: silhouettes that bulge or shrink, thin parts that are missing or in the wrong
place. The gap between a trained branch and this ceiling is the branch's own error (a branch could
only beat it by labeling pixels against the 3D parts they show).
"""
from __future__ import annotations

from dnerf_core.lab import SurfaceOracleLabels
from .semantic_quality import SegmentationQuality, evaluate_individual


def label_ceiling(generator, oracle, n_subjects: int) -> SegmentationQuality:
    """The individual set scored for the oracle's labels on `generator`'s own surface."""
    return evaluate_individual(SurfaceOracleLabels(generator, oracle), oracle, n_subjects)
