"""A small encoder-decoder for 2D part segmentation (U-Net-like), written here: no pretrained
weights can be downloaded, and the same small net trained the same way for every row keeps the
comparison about the data.

Three 2x poolings (64 -> 8 at the default size), two 3x3 conv + BatchNorm + ReLU per block,
bilinear upsampling and a skip connection from the encoder block of the same size into every
decoder block (part borders need the full-resolution features), a 1x1 head to K classes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Seg2DConfig:
    """width: channels of the first block (doubled at each of the `depth` poolings);
    depth: poolings (input sides must be divisible by 2**depth)."""

    width: int = 8
    depth: int = 3


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Seg2D(nn.Module):
    """[B,3,H,W] RGB in [0,1] -> [B,K,H,W] logits."""

    def __init__(self, num_classes: int, cfg: Seg2DConfig = Seg2DConfig()):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.width * 2 ** i for i in range(cfg.depth + 1)]
        self.down = nn.ModuleList([_block(3, widths[0])] + [_block(widths[i], widths[i + 1]) for i in range(cfg.depth)])
        # decoder block i sees the upsampled deeper features and the skip of encoder block i
        self.up = nn.ModuleList([_block(widths[i + 1] + widths[i], widths[i]) for i in range(cfg.depth)])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, rgb: Tensor) -> Tensor:
        side = 2 ** self.cfg.depth
        if rgb.shape[-1] % side or rgb.shape[-2] % side:
            raise ValueError(f"image sides must be divisible by {side}, got {tuple(rgb.shape[-2:])}")
        x = rgb * 2 - 1
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for i in reversed(range(self.cfg.depth)):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = self.up[i](torch.cat([x, skips[i]], dim=1))
        return self.head(x)
