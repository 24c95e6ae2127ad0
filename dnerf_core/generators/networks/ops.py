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
# Orders of the upsampling convolution: "eg3d" = transposed conv with the stored kernel, then the
# FIR (StyleGAN2 / EG3D, what their checkpoints need); "fir_first" = FIR-upsample, then a 'same'
# conv with the stored kernel (dnerf before EG3D parity; the generators trained with it keep it).
UPCONV_ORDERS = ("eg3d", "fir_first")


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
    return upsample2d_full(x)[..., 1:-1, 1:-1]


def upsample2d_slow(x: Tensor) -> Tensor:
    """Answer key for upsample2d: zero insertion (x at even pixels), then the FIR filter with gain 4
    over the result zero-padded by 2 before and 1 after, one filter tap at a time."""
    b, c, h, w = x.shape
    zi = x.new_zeros(b, c, 2 * h, 2 * w)
    zi[..., ::UPSAMPLE_FACTOR, ::UPSAMPLE_FACTOR] = x
    k = len(FIR_TAPS)
    return fir_filter2d_slow(zi, (k + UPSAMPLE_FACTOR - 1) // 2, (k - UPSAMPLE_FACTOR) // 2, UPSAMPLE_FACTOR ** 2)


def upsample2d_full(x: Tensor) -> Tensor:
    """[B,C,H,W] -> [B,C,2H+2,2H+2]: the whole (uncropped) FIR upsampling of the zero-inserted
    image, i.e. upsample2d with one more row/column of the filter's support on each side."""
    up = F.interpolate(F.pad(x, (1, 1, 1, 1)), scale_factor=UPSAMPLE_FACTOR, mode="bilinear", align_corners=False)
    return up[..., 1:-1, 1:-1]


def upsample_conv2d(x: Tensor, weight: Tensor, groups: int = 1, order: str = "eg3d") -> Tensor:
    """StyleGAN2's upsampling convolution, x [B,G*I,H,W], weight [G*O,I,k,k] -> [B,G*O,2H,2W].

    Defined (and checked by upsample_conv2d_slow against the official EG3D numbers) as: a stride-2
    transposed convolution with the stored kernel as it is (output 2H+k-2), then the [1,3,3,1] FIR
    with gain 4 and (k-2) zero rows/columns of padding per side. Every step is a linear
    shift-invariant filter and only the last one crops, so the same numbers come from filtering
    first: the full FIR upsampling (2H+2), then a 'valid' correlation with the flipped kernel.
    PyTorch's CPU conv2d is faster than its transposed convolution, hence this order.
    order="fir_first" is the other filter order (see UPCONV_ORDERS).
    """
    k = weight.shape[-1]
    if k != 3:
        raise ValueError(f"upsampling convolutions are 3x3 in StyleGAN2, got {k}x{k}")
    if order == "fir_first":
        return F.conv2d(_conv_input(upsample2d(x)), weight, padding=k // 2, groups=groups)
    return F.conv2d(_conv_input(upsample2d_full(x)), weight.flip([2, 3]), groups=groups)


def _conv_same(x: Tensor, weight: Tensor, up: bool, groups: int = 1, up_order: str = "eg3d") -> Tensor:
    """'same'-padded convolution, or the 2x upsampling one."""
    if up:
        return upsample_conv2d(x, weight, groups, up_order)
    return F.conv2d(_conv_input(x), weight, padding=weight.shape[-1] // 2, groups=groups)


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True,
                     up: bool = False, up_order: str = "eg3d") -> Tensor:
    """StyleGAN2's modulated convolution as one grouped convolution.

    x [B,I,H,W], weight [O,I,k,k], styles [B,I] -> [B,O,H',W'] ('same' padding; H' = 2H with up).
    Each sample's kernel is the shared weight scaled per input channel by its style and, with
    demodulate, renormalized to unit norm per output channel. With up, see upsample_conv2d.
    """
    b, i, h, w = x.shape
    o, _, k, _ = weight.shape
    if torch.is_grad_enabled() and not weight.requires_grad:
        return _modulated_conv2d_frozen(x, weight, styles, demodulate, up, up_order)
    wgt = weight[None] * styles[:, None, :, None, None]  # [B,O,I,k,k]
    if demodulate:
        wgt = wgt * (wgt.square().sum(dim=(2, 3, 4), keepdim=True) + DEMOD_EPS).rsqrt()
    out = _conv_same(x.reshape(1, b * i, h, w), wgt.reshape(b * o, i, k, k), up, b, up_order)
    return out.reshape(b, o, *out.shape[-2:])


def _conv_input(x: Tensor) -> Tensor:
    """The convolution's input in the layout its kernel is fast on. Under CPU bfloat16 autocast
    (TriPlaneGAN's bfloat16 super-resolution) oneDNN's bf16 convolutions want channels-last:
    a 256->128 3x3 conv at 512^2 took 1.87 s on NCHW and 0.50 s channels-last (1 thread, AMX),
    fp32 NCHW 2.75 s. Outside autocast the input is returned as it is."""
    if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16:
        return x.to(torch.bfloat16, memory_format=torch.channels_last)
    return x


def _modulated_conv2d_frozen(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool, up: bool,
                             up_order: str) -> Tensor:
    """The same convolution with the modulation moved onto the activations (scale the input
    channels by the styles, convolve with the shared weight, scale the outputs by the
    demodulation): when the weight is frozen and gradients flow only to the latent (inversion),
    the backward pass then needs no per-sample kernel gradient — about half the work."""
    out = _conv_same(x * styles[:, :, None, None], weight, up, up_order=up_order)
    if demodulate:
        dcoefs = ((weight[None] * styles[:, None, :, None, None]).square().sum(dim=(2, 3, 4)) + DEMOD_EPS).rsqrt()
        out = out * dcoefs[:, :, None, None]
    return out


def fir_filter2d_slow(x: Tensor, pad_lo: int, pad_hi: int, gain: float) -> Tensor:
    """Answer key: the [1,3,3,1] FIR filter (times gain) over x zero-padded by pad_lo before and
    pad_hi after on both axes, one filter tap at a time ('valid' output)."""
    f = fir_filter(dtype=x.dtype) * gain
    xp = F.pad(x, (pad_lo, pad_hi, pad_lo, pad_hi))
    k = f.shape[-1]
    h, w = xp.shape[-2] - k + 1, xp.shape[-1] - k + 1
    out = x.new_zeros(*x.shape[:-2], h, w)
    for ky in range(k):
        for kx in range(k):  # true convolution: tap (ky,kx) meets the pixel (k-1-ky, k-1-kx) away
            out = out + f[ky, kx] * xp[..., k - 1 - ky:k - 1 - ky + h, k - 1 - kx:k - 1 - kx + w]
    return out


def conv_transpose2d_slow(x: Tensor, weight: Tensor, stride: int) -> Tensor:
    """Answer key: x [I,H,W] (one sample), weight [O,I,k,k] -> [O,(H-1)*stride+k, ...]: every
    input pixel scatters weight[:, :, ky, kx] @ x[:, y, x] to output pixel (stride*y+ky, stride*x+kx)."""
    _, h, w = x.shape
    o, _, k, _ = weight.shape
    out = x.new_zeros(o, (h - 1) * stride + k, (w - 1) * stride + k)
    for ky in range(k):
        for kx in range(k):
            contrib = torch.einsum("oi,ihw->ohw", weight[:, :, ky, kx], x)
            out[:, ky:ky + stride * (h - 1) + 1:stride, kx:kx + stride * (w - 1) + 1:stride] += contrib
    return out


def upsample_conv2d_slow(x: Tensor, weight: Tensor, order: str = "eg3d") -> Tensor:
    """Answer key for upsample_conv2d, one sample x [I,H,W]: the transposed convolution with the
    kernel as stored, then the FIR (gain 4) with k-2 zeros of padding per side ("fir_first": the
    slow FIR upsampling, then a 'same' convolution)."""
    k = weight.shape[-1]
    if order == "fir_first":
        return F.conv2d(upsample2d_slow(x[None]), weight, padding=k // 2)[0]
    return fir_filter2d_slow(conv_transpose2d_slow(x, weight, UPSAMPLE_FACTOR), k - 2, k - 2, UPSAMPLE_FACTOR ** 2)


def modulated_conv2d_slow(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True,
                          up: bool = False, up_order: str = "eg3d") -> Tensor:
    """Answer key for modulated_conv2d: one sample at a time, the modulated kernel built explicitly."""
    outs = []
    k = weight.shape[-1]
    for n in range(x.shape[0]):
        wgt = weight * styles[n][None, :, None, None]
        if demodulate:
            norm = torch.sqrt((wgt ** 2).sum(dim=(1, 2, 3)) + DEMOD_EPS)
            wgt = wgt / norm[:, None, None, None]
        if up:
            outs.append(upsample_conv2d_slow(x[n], wgt, up_order)[None])
        else:
            outs.append(F.conv2d(x[n:n + 1], wgt, padding=k // 2))
    return torch.cat(outs)
