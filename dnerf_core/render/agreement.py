"""How closely a faster render path reproduces the reference (volume) render of the same views.

Issue #23's yardstick: part masks (mIoU over all classes, background included, and pixel
accuracy), depth (mean absolute error on pixels both renders show as surface, as a fraction of
the object's size) and RGB (PSNR). Stateless, tensors in, a named result out.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..io.metrics import confusion_matrix, psnr, segmentation_scores

# Pixels at least this opaque in a render are surface (generators.base.SURFACE_OPACITY; repeated
# here because render/ sits below generators/).
SURFACE_OPACITY = 0.5


@dataclass
class Agreement:
    """miou / pixel_accuracy: part labels of the candidate vs the reference (None without labels);
    depth_error: mean |depth difference| over pixels opaque in both, over the object size;
    rgb_psnr: dB of the candidate's RGB against the reference's (inf when identical);
    silhouette_iou: IoU of the two opacity >= 0.5 masks."""

    miou: float | None
    pixel_accuracy: float | None
    depth_error: float
    rgb_psnr: float
    silhouette_iou: float

    def to_dict(self) -> dict:
        return asdict(self)


def render_agreement(reference, candidate, object_size: float, num_classes: int | None = None) -> Agreement:
    """Agreement of two RenderOutputs (generators.base) of the same views. object_size: the side
    of the object's box (2 * generator.bounds); num_classes: label count (None: labels ignored)."""
    miou = acc = None
    if num_classes is not None and reference.labels is not None and candidate.labels is not None:
        scores = segmentation_scores(confusion_matrix(candidate.labels, reference.labels, num_classes))
        miou, acc = scores.miou, scores.accuracy
    ref_s, cand_s = reference.opacity >= SURFACE_OPACITY, candidate.opacity >= SURFACE_OPACITY
    both = ref_s & cand_s
    depth_err = ((candidate.depth - reference.depth).abs()[both].mean() / object_size).item() if both.any() else 0.0
    union = (ref_s | cand_s).sum()
    sil = ((ref_s & cand_s).sum() / union).item() if union > 0 else 1.0
    return Agreement(miou, acc, depth_err, psnr(candidate.rgb.float(), reference.rgb.float()).mean().item(), sil)


def pooled_agreement(rows: list[Agreement]) -> Agreement:
    """The worst of several agreements, field by field (a figure holds only if it holds for all)."""
    worst = lambda vals, f: f(v for v in vals) if all(v is not None for v in vals) else None  # noqa: E731
    return Agreement(worst([r.miou for r in rows], min), worst([r.pixel_accuracy for r in rows], min),
                     max(r.depth_error for r in rows), min(r.rgb_psnr for r in rows),
                     min(r.silhouette_iou for r in rows))

