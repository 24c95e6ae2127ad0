"""Quality metrics against the oracle's exact ground truth (images and label maps)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..labels import IGNORE_ID


def psnr(pred: Tensor, target: Tensor, max_value: float = 1.0) -> Tensor:
    """[B,...] images in [0, max_value] -> [B] peak signal-to-noise ratio in dB."""
    mse = ((pred - target) ** 2).flatten(1).mean(dim=1)
    return 10 * torch.log10(max_value ** 2 / mse.clamp_min(1e-12))


def mask_iou(pred: Tensor, target: Tensor) -> Tensor:
    """Boolean masks [B,...] -> [B] intersection over union (1 where both are empty)."""
    pred, target = pred.flatten(1).bool(), target.flatten(1).bool()
    inter = (pred & target).sum(1).double()
    union = (pred | target).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def masked_abs_error(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """[B,...] -> [B] mean |pred - target| over valid pixels (NaN where none is valid)."""
    valid = valid.flatten(1).bool()
    err = ((pred - target).abs().flatten(1) * valid).sum(1)
    return err / valid.sum(1).double()


@dataclass
class SegmentationScores:
    """Per-class IoU [K] (NaN for classes absent from both prediction and truth), mIoU over the
    classes that are present, and pixel accuracy; `confusion` [K,K] rows = truth, cols = prediction."""

    iou: Tensor
    miou: float
    accuracy: float
    confusion: Tensor


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Integer label maps of any shape -> [K,K] int64 counts; IGNORE_ID pixels in target are skipped."""
    pred, target = pred.flatten().long(), target.flatten().long()
    keep = target != IGNORE_ID
    pred, target = pred[keep], target[keep]
    idx = target * num_classes + pred.clamp(0, num_classes - 1)
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def segmentation_scores(confusion: Tensor, include_background: bool = True) -> SegmentationScores:
    """Scores from an accumulated confusion matrix (sum the matrices of many images first)."""
    conf = confusion.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))
    classes = iou if include_background else iou[1:]
    present = classes[~torch.isnan(classes)]
    miou = present.mean().item() if len(present) else float("nan")
    total = conf.sum()
    return SegmentationScores(iou, miou, (tp.sum() / total).item() if total > 0 else float("nan"), confusion)
