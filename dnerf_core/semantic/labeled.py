"""A tri-plane generator with a trained semantic branch: a Generator with part labels.

Labels of views come from the branch's super-resolved logits, depth and RGB from the generator,
and the label of any 3D point (mesh vertices, face centers) from the semantic field itself.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..cameras import Cameras
from ..generators.base import LabelingWrapper, RenderOutput, Subject
from ..labels import LabelSet
from .branch import SemanticBranch, plane_frame

LABEL_QUERY_CHUNK = 1 << 18


class LabeledGenerator(LabelingWrapper):
    """Implements the Generator protocol (generators/base.py) over `generator` + `branch`."""

    def __init__(self, generator, branch: SemanticBranch, label_set: LabelSet):
        super().__init__(generator, label_set, "semantic")
        self.branch = branch

    @torch.no_grad()
    def labels_at(self, subject: Subject, points: Tensor) -> Tensor:
        planes = self.branch.planes(subject)
        frame = plane_frame(self.generator, subject)
        return torch.cat([self.branch.logits_at(planes, p, frame).argmax(-1)
                          for p in points.split(LABEL_QUERY_CHUNK, dim=1)], dim=1)

    @torch.no_grad()
    def render(self, subject: Subject, cameras: Cameras, resolution: int | None = None, *,
               path: str = "volume") -> RenderOutput:
        """Labeled views; path "volume" (reference march) or "fast" (render/fast_march.py)."""
        sem = self.branch.render(self.generator, subject, cameras, resolution, path=path)
        probs = torch.softmax(sem.logits, dim=1)
        return RenderOutput(rgb=self.generator.super_resolve(subject, sem.generator_features), rgb_raw=sem.rgb_raw, depth=sem.depth, opacity=sem.opacity,
                            features=sem.features, labels=sem.labels, semantic=probs)


def with_semantic(generator, checkpoint) -> LabeledGenerator:
    """`generator` labeled by the semantic checkpoint trained on it (refused for any other)."""
    from .checkpoint import load_semantic

    branch, label_set = load_semantic(checkpoint, generator)
    return LabeledGenerator(generator, branch, label_set)
