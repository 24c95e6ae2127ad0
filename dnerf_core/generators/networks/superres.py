"""Super-resolution after volume rendering: two synthesis blocks conditioned on the last w.

`hybrid8x` (EG3D's 512 models): input resized to 128, two 2x blocks -> 512.
`hybrid2x` (EG3D's ShapeNet cars): input at 64, a block without upsampling, one 2x block -> 128.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from .layers import NoiseMode, SynthesisBlock

# How many ws each super-resolution pass consumes: the last w, repeated.
SR_NUM_WS = 3


@dataclass(frozen=True)
class SuperResConfig:
    """kind: 'hybrid8x' or 'hybrid2x'; input_resolution: size the raw image is resized to first;
    channels: (block0, block1) output channels; antialias: antialiased resizing of the input;
    noise_mode: noise of the SR convs at inference (EG3D renders with none);
    conv_clamp: clamp of the SR convs' outputs. EG3D builds its super-resolution blocks for
    float16 whenever sr_num_fp16_res > 0 (every released model) and gives float16 blocks a clamp
    of 256, which applies on any device and precision; None without fp16 blocks."""

    kind: str
    input_resolution: int
    output_resolution: int
    channels: tuple[int, int]
    antialias: bool = True
    noise_mode: NoiseMode = "none"
    conv_clamp: float | None = 256.0


HYBRID_8X = SuperResConfig("hybrid8x", 128, 512, (256, 128))
HYBRID_2X = SuperResConfig("hybrid2x", 64, 128, (128, 64))


class SuperResolution(nn.Module):
    """(raw rgb [B,3,h,w] in [-1,1], feature image [B,F,h,w] in [-1,1], ws) -> rgb [B,3,R,R] in [-1,1]."""

    def __init__(self, config: SuperResConfig, feature_channels: int, w_dim: int, up_order: str = "eg3d"):
        super().__init__()
        self.config = config
        c0, c1 = config.channels
        first_up = config.kind == "hybrid8x"
        r0 = config.input_resolution * (2 if first_up else 1)
        clamp = config.conv_clamp
        self.block0 = SynthesisBlock(feature_channels, c0, w_dim, r0, 3, conv_clamp=clamp, up=first_up, up_order=up_order)
        self.block1 = SynthesisBlock(c0, c1, w_dim, r0 * 2, 3, conv_clamp=clamp, up=True, up_order=up_order)
        if self.block1.resolution != config.output_resolution:
            raise ValueError(f"{config.kind} from {config.input_resolution} gives {self.block1.resolution}, "
                             f"not {config.output_resolution}")

    def forward(self, rgb: Tensor, features: Tensor, ws: Tensor) -> Tensor:
        ws = ws[:, -1:].expand(-1, SR_NUM_WS, -1)
        size = self.config.input_resolution
        if rgb.shape[-1] != size:
            resize = lambda x: F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,  # noqa: E731
                                             antialias=self.config.antialias)
            rgb, features = resize(rgb), resize(features)
        x, img = self.block0(features, rgb, ws, self.config.noise_mode)
        _, img = self.block1(x, img, ws, self.config.noise_mode)
        return img
