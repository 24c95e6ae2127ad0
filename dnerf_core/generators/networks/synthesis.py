"""The tri-plane backbone: a skip-architecture synthesis network from 4x4 to the plane resolution."""
from __future__ import annotations

import math

from torch import Tensor, nn

from .layers import NoiseMode, SynthesisBlock

FIRST_RESOLUTION = 4


def block_resolutions(resolution: int) -> list[int]:
    return [2 ** i for i in range(int(math.log2(FIRST_RESOLUTION)), int(math.log2(resolution)) + 1)]


def block_channels(resolution: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // resolution, channel_max)


class SynthesisNetwork(nn.Module):
    """ws [B,num_ws,w_dim] -> (image [B,img_channels,R,R], per-block feature maps [B,C_r,r,r])."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int, channel_max: int,
                 conv_clamp: float | None = None, up_order: str = "eg3d"):
        super().__init__()
        if img_resolution < FIRST_RESOLUTION or img_resolution & (img_resolution - 1):
            raise ValueError(f"plane resolution must be a power of two >= {FIRST_RESOLUTION}, got {img_resolution}")
        self.resolutions = block_resolutions(img_resolution)
        self.num_ws = 0
        in_ch = 0
        for res in self.resolutions:
            out_ch = block_channels(res, channel_base, channel_max)
            block = SynthesisBlock(in_ch, out_ch, w_dim, res, img_channels, conv_clamp=conv_clamp, up_order=up_order)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
            in_ch = out_ch
        self.num_ws += 1  # the last block's to-RGB

    def forward(self, ws: Tensor, noise_mode: NoiseMode = "const") -> tuple[Tensor, list[Tensor]]:
        x = img = None
        features = []
        w_idx = 0
        for res in self.resolutions:
            block = getattr(self, f"b{res}")
            # A block's to-RGB shares its w with the next block's first conv.
            x, img = block(x, img, ws[:, w_idx:w_idx + block.num_conv + 1], noise_mode)
            features.append(x)
            w_idx += block.num_conv
        return img, features
