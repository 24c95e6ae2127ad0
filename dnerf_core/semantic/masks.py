"""Label maps resized to another image size without blending ids."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def resize_masks(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """Integer label maps [...,H,W] -> [...,h,w] by nearest neighbour (255 = ignore stays 255)."""
    size = tuple(size)
    if tuple(masks.shape[-2:]) == size:
        return masks
    flat = masks.reshape(-1, 1, *masks.shape[-2:]).float()
    return F.interpolate(flat, size=size, mode="nearest").long().reshape(*masks.shape[:-2], *size)
