"""`--diff`: which points of a cloud carry a label different from the nearest point of another
cloud (prediction vs ground truth). Pure numpy + a scipy KD-tree (scipy comes with scikit-image).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnerf_core.errors import DnerfError

from .geometry import LabeledGeometry

# A label name the other cloud uses but this one does not know can never agree.
UNMATCHED_LABEL = -1


@dataclass
class LabelDiff:
    """disagree: [N] bool over the viewed cloud's points; nearest_label: [N] the other cloud's label
    at the nearest point (in the viewed cloud's ids); distance: [N] to that nearest point."""

    disagree: np.ndarray
    nearest_label: np.ndarray
    distance: np.ndarray

    @property
    def count(self) -> int:
        return int(self.disagree.sum())

    @property
    def share(self) -> float:
        return self.count / max(len(self.disagree), 1)

    def count_by_label(self, labels: np.ndarray) -> dict[int, int]:
        """Disagreeing points per label of the viewed cloud."""
        ids, counts = np.unique(labels[self.disagree], return_counts=True)
        return dict(zip(ids.tolist(), counts.tolist()))


def _other_ids_in_ours(view: LabeledGeometry, other: LabeledGeometry) -> np.ndarray:
    """The other cloud's labels expressed in the viewed cloud's ids.

    When both legends name their labels the same way by id this is the identity; when the
    names differ (two label sets in another order) labels are matched by name.
    """
    ours = {e.label_id: e.name for e in view.legend.entries}
    theirs = {e.label_id: e.name for e in other.legend.entries}
    if all(ours.get(i, n) == n for i, n in theirs.items()):
        return other.labels
    by_name = {n: i for i, n in ours.items()}
    lookup = np.full(max(theirs) + 1, UNMATCHED_LABEL, np.int32)  # their id -> our id
    for i, n in theirs.items():
        lookup[i] = by_name.get(n, UNMATCHED_LABEL)
    return lookup[other.labels]


def label_diff(view: LabeledGeometry, other: LabeledGeometry) -> LabelDiff:
    """Compare every point of `view` with the label of its nearest neighbour in `other`."""
    from scipy.spatial import cKDTree

    for geom in (view, other):
        if geom.kind != "points":
            raise DnerfError(f"--diff compares point clouds; {geom.path} is a mesh")
    if len(other.points) == 0:
        raise DnerfError(f"--diff: {other.path} holds no points")
    tree = cKDTree(other.points.astype(np.float64))
    distance, index = tree.query(view.points.astype(np.float64), k=1)
    nearest = _other_ids_in_ours(view, other)[index]
    return LabelDiff(view.labels != nearest, nearest.astype(np.int32), distance.astype(np.float32))
