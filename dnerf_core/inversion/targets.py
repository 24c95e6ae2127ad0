"""Targets at the output resolution -> per-pixel terms at the resolution the fit renders (the
generator's neural resolution: super-resolution is not part of the fit)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..labels import IGNORE_ID
from .objective import PixelTerm


def resize_rgb(image: Tensor, resolution: int) -> Tensor:
    """[3,H,W] -> [3,r,r] (area average when shrinking, bilinear when growing)."""
    if image.shape[-1] == resolution:
        return image
    mode = "area" if image.shape[-1] > resolution else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(image[None], size=(resolution, resolution), mode=mode, **kwargs)[0]


def nearest_centers(src: int, resolution: int) -> Tensor:
    """[r] index of the source row (or column) of `src` under each of `resolution` pixel centers."""
    return ((torch.arange(resolution) + 0.5) * src / resolution).floor().long().clamp_max(src - 1)


def resize_labels(mask: Tensor, resolution: int) -> Tensor:
    """[H,W] ids -> [r,r] ids at the nearest source pixel center."""
    if mask.shape[-1] == resolution:
        return mask
    idx = nearest_centers(mask.shape[-1], resolution)
    return mask[idx][:, idx]


def rgb_term(image: Tensor, resolution: int, where: Tensor | None = None, weight: float = 1.0) -> PixelTerm:
    """Squared RGB error against `image` [3,H,W] at the pixels `where` [r,r] (all when None)."""
    flat = resize_rgb(image, resolution).permute(1, 2, 0).reshape(-1, 3)
    pixels = torch.arange(resolution * resolution) if where is None else torch.nonzero(where.reshape(-1))[:, 0]
    return PixelTerm("rgb", pixels, flat[pixels].contiguous(), weight)


def _balanced(target: Tensor) -> Tensor:
    """[P] draw weights summing to 1 with equal mass per label present."""
    _, inverse, counts = torch.unique(target, return_inverse=True, return_counts=True)
    return (1.0 / (counts.double() * len(counts)))[inverse]


def label_term(mask: Tensor, where: Tensor | None = None, weight: float = 1.0, share: float = 1.0,
               settled: float | None = None) -> PixelTerm:
    """Cross-entropy against label ids `mask` [H,W] (output resolution) at the pixels `where`
    [H,W] (all when None); ignore ids are skipped.

    Patches are centered class-balanced: every label present is equally likely to be drawn, so
    small parts (eyes, lights) weigh in as mIoU weighs them rather than by their area. share: the
    fraction of a step's ray budget the term renders; settled: see PixelTerm."""
    flat = mask.reshape(-1)
    keep = flat != IGNORE_ID
    if where is not None:
        keep &= where.reshape(-1)
    pixels = torch.nonzero(keep)[:, 0]
    target = flat[pixels].contiguous()
    if not len(target):
        return PixelTerm("labels", pixels, target, weight, None, share, settled)
    return PixelTerm("labels", pixels, target, weight, _balanced(target), share, settled)
