"""Equalized-learning-rate layers: thin nn.Module wrappers over the kernels in ops.py.

Parameter names and shapes follow the state dicts of official EG3D checkpoints (weight, bias,
affine, noise_strength, noise_const, const), so loading one is a rename-free copy.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import ops

NoiseMode = Literal["const", "random", "none"]


class FullyConnected(nn.Module):
    """y = x @ (W * lr / sqrt(in)).T + b * lr, with the weights stored divided by lr (equalized lr)."""

    def __init__(self, in_features: int, out_features: int, activation: Literal["linear", "lrelu"] = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.lr_multiplier = lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_outputs(x, slice(None))

    def forward_outputs(self, x: Tensor, outputs: slice) -> Tensor:
        """forward(x)[..., outputs], computing only those outputs."""
        x = F.linear(x, *self.effective(outputs))
        return ops.lrelu_agc(x) if self.activation == "lrelu" else x

    def effective(self, outputs: slice = slice(None)) -> tuple[Tensor, Tensor]:
        """(weight [O,in], bias [O]) of those outputs with the equalized-lr gains applied: what
        F.linear multiplies by (and what a fused kernel is handed)."""
        return self.weight[outputs] * self.weight_gain, self.bias[outputs] * self.lr_multiplier


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling) + per-pixel noise + bias + leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False,
                 conv_clamp: float | None = None, kernel_size: int = 3, up_order: str = "eg3d"):
        super().__init__()
        if up_order not in ops.UPCONV_ORDERS:
            raise ValueError(f"up_order must be one of {ops.UPCONV_ORDERS}, got {up_order!r}")
        self.up = up
        self.up_order = up_order
        self.conv_clamp = conv_clamp
        self.resolution = resolution
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x: Tensor, w: Tensor, noise_mode: NoiseMode = "const", gain: float = 1.0) -> Tensor:
        styles = self.affine(w)
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=True, up=self.up, up_order=self.up_order)
        if noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], dtype=x.dtype, device=x.device) * self.noise_strength
        x = x + self.bias[None, :, None, None]
        return ops.lrelu_agc(x, gain, self.conv_clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation: a block's contribution to the running output image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False)
        x = x + self.bias[None, :, None, None]
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class SynthesisBlock(nn.Module):
    """One resolution of a skip-architecture synthesis network.

    The first block (in_channels == 0) starts from a learned constant; later blocks upsample
    (unless up=False) with conv0, refine with conv1, and add their to-RGB output to the
    upsampled running image. Consumes num_conv + 1 ws: ws [B,num_conv+1,w_dim].
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None, up: bool = True, up_order: str = "eg3d"):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.up = up
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=up, conv_clamp=conv_clamp,
                                        up_order=up_order)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGB(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor,
                noise_mode: NoiseMode = "const") -> tuple[Tensor, Tensor]:
        if self.in_channels == 0:
            x = self.const[None].expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode)
            x = self.conv1(x, ws[:, 1], noise_mode)
        if img is not None and self.up:
            img = ops.upsample2d(img)
        y = self.torgb(x, ws[:, self.num_conv])
        return x, (y if img is None else img + y)
