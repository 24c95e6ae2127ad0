"""Stateless kernels of the StyleGAN2-style backbone, each with a slow, obviously-correct twin.

Shapes: B batch, I/O input/output channels, k kernel size, H/W image size.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# StyleGAN2's separable [1,3,3,1] binomial filter for 2x upsampling.
FIR_TAPS = (1.0, 3.0, 3.0, 1.0)
UPSAMPLE_FACTOR = 2
# Leaky ReLU slope and the gain that keeps unit variance through it.
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
# Added to the squared weight norm before demodulating (avoids 0/0 for dead styles).
DEMOD_EPS = 1e-8
# Second-moment normalization epsilon of the mapping network's inputs.
NORMALIZE_EPS = 1e-8


def fir_filter(taps=FIR_TAPS, dtype=torch.float32) -> Tensor:
    """[4,4] outer product of the taps, normalized to sum 1."""
    t = torch.tensor(taps, dtype=dtype)
    f = t[:, None] * t[None, :]
    return f / f.sum()


def normalize_2nd_moment(x: Tensor, dim: int = 1) -> Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + NORMALIZE_EPS).rsqrt()


def lrelu_agc(x: Tensor, gain: float = 1.0, clamp: float | None = None) -> Tensor:
    """Leaky ReLU scaled by sqrt(2) * gain, then clamped to +-clamp * gain (StyleGAN2's conv_clamp)."""
    y = F.leaky_relu(x, LRELU_SLOPE)
    if torch.is_grad_enabled():
        y = y * (LRELU_GAIN * gain)
        return y if clamp is None else y.clamp(-clamp * gain, clamp * gain)
    # Inference: scale and clamp the fresh activation in place. At 512^2 x 128 channels every
    # new tensor is 134 MB of first-touch pages; two fewer per layer (same numbers).
    y.mul_(LRELU_GAIN * gain)
    return y if clamp is None else y.clamp_(-clamp * gain, clamp * gain)


def upsample2d(x: Tensor) -> Tensor:
    """[B,C,H,W] -> [B,C,2H,2W]: zero insertion, then the [1,3,3,1] FIR filter with gain 4,
    centered (2 zeros before, 1 after) so the output is exactly twice the size.

    That filter's two polyphase components are the 1/4, 3/4 weights of 2x bilinear resizing with
    align_corners=False; zero-padding by one pixel first and cropping two output pixels after
    turns bilinear's replicated borders into the FIR's zero borders (upsample2d_slow checks it).
    """
    up = F.interpolate(F.pad(x, (1, 1, 1, 1)), scale_factor=UPSAMPLE_FACTOR, mode="bilinear", align_corners=False)
    return up[..., 2:-2, 2:-2]


def upsample2d_slow(x: Tensor) -> Tensor:
    """Answer key for upsample2d: zero insertion and the FIR filter applied pixel by pixel."""
    f = fir_filter(dtype=x.dtype)
    b, c, h, w = x.shape
    k = f.shape[-1]
    pad_lo = (k + UPSAMPLE_FACTOR - 1) // 2
    out = x.new_zeros(b, c, 2 * h, 2 * w)
    for oy in range(2 * h):
        for ox in range(2 * w):
            acc = x.new_zeros(b, c)
            for ky in range(k):
                for kx in range(k):
                    # position in the zero-inserted grid that filter tap (ky,kx) reads
                    sy, sx = oy + ky - pad_lo, ox + kx - pad_lo
                    if sy % 2 or sx % 2 or not (0 <= sy < 2 * h and 0 <= sx < 2 * w):
                        continue
                    acc = acc + x[:, :, sy // 2, sx // 2] * f[k - 1 - ky, k - 1 - kx] * 4
            out[:, :, oy, ox] = acc
    return out


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True,
                     up: bool = False) -> Tensor:
    """StyleGAN2's modulated convolution as one grouped convolution.

    x [B,I,H,W], weight [O,I,k,k], styles [B,I] -> [B,O,H',W'] ('same' padding; H' = 2H with up).
    Each sample's kernel is the shared weight scaled per input channel by its style and, with
    demodulate, renormalized to unit norm per output channel. With up the input is FIR-upsampled
    first. (StyleGAN2 orders it as a transposed convolution then the FIR blur: the same numbers
    except within one pixel of the border; measured here, PyTorch's CPU transposed convolution
    is slower than convolving the upsampled image, so this order is used.)
    """
    b, i, h, w = x.shape
    o, _, k, _ = weight.shape
    if torch.is_grad_enabled() and not weight.requires_grad:
        return _modulated_conv2d_frozen(x, weight, styles, demodulate, up)
    wgt = weight[None] * styles[:, None, :, None, None]  # [B,O,I,k,k]
    if demodulate:
        wgt = wgt * (wgt.square().sum(dim=(2, 3, 4), keepdim=True) + DEMOD_EPS).rsqrt()
    if up:
        x = upsample2d(x)
        h, w = x.shape[-2:]
    out = F.conv2d(_conv_input(x.reshape(1, b * i, h, w)), wgt.reshape(b * o, i, k, k), padding=k // 2, groups=b)
    return out.reshape(b, o, h, w)


def _conv_input(x: Tensor) -> Tensor:
    """The convolution's input in the layout its kernel is fast on. Under CPU bfloat16 autocast
    (TriPlaneGAN's bfloat16 super-resolution) oneDNN's bf16 convolutions want channels-last:
    a 256->128 3x3 conv at 512^2 took 1.87 s on NCHW and 0.50 s channels-last (1 thread, AMX),
    fp32 NCHW 2.75 s. Outside autocast the input is returned as it is."""
    if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16:
        return x.to(torch.bfloat16, memory_format=torch.channels_last)
    return x


def _modulated_conv2d_frozen(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool, up: bool) -> Tensor:
    """The same convolution with the modulation moved onto the activations (scale the input
    channels by the styles, convolve with the shared weight, scale the outputs by the
    demodulation): when the weight is frozen and gradients flow only to the latent (inversion),
    the backward pass then needs no per-sample kernel gradient — about half the work."""
    x = x * styles[:, :, None, None]
    if up:
        x = upsample2d(x)
    out = F.conv2d(_conv_input(x), weight, padding=weight.shape[-1] // 2)
    if demodulate:
        dcoefs = ((weight[None] * styles[:, None, :, None, None]).square().sum(dim=(2, 3, 4)) + DEMOD_EPS).rsqrt()
        out = out * dcoefs[:, :, None, None]
    return out


def modulated_conv2d_slow(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True,
                          up: bool = False) -> Tensor:
    """Answer key for modulated_conv2d: one sample at a time, the modulated kernel built explicitly."""
    outs = []
    k = weight.shape[-1]
    for n in range(x.shape[0]):
        wgt = weight * styles[n][None, :, None, None]
        if demodulate:
            norm = torch.sqrt((wgt ** 2).sum(dim=(1, 2, 3)) + DEMOD_EPS)
            wgt = wgt / norm[:, None, None, None]
        xn = x[n:n + 1]
        if up:
            xn = upsample2d_slow(xn)
        outs.append(F.conv2d(xn, wgt, padding=k // 2))
    return torch.cat(outs)
