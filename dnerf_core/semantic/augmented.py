"""The augmented multi-scale semantic tri-plane (DatasetNeRF), built lazily.

The paper upsamples every synthesis block's output to the plane resolution R, concatenates them
along channels and reshapes the result into three planes of D channels each. For EG3D that is
~3000 channels at 256x256 per subject (over 1 GB). The semantic decoder's first layer is linear,
and so are bilinear upsampling and bilinear sampling; so each block is projected with its slice
of the first-layer weights at its own (small) resolution, and only the projected maps (hidden
channels, not D) are upsampled and summed. `materialize` keeps the paper's construction as the
reference; `project` is what the product uses. Both give the same decoder pre-activations.

Channel layout: the concatenated channel vector (blocks in order, zero-padded to a multiple of
3) is cut into three consecutive chunks of D channels: chunk k is plane k.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..render.triplane import channels_innermost

N_PLANES = 3


@dataclass(frozen=True)
class AugmentedLayout:
    """Where each backbone block's channels land in the augmented tri-plane.

    block_channels / block_resolutions: per block; plane_resolution: R (the largest block's);
    channels_per_plane: D = ceil(sum(block_channels) / 3).
    """

    block_channels: tuple[int, ...]
    block_resolutions: tuple[int, ...]
    plane_resolution: int
    channels_per_plane: int

    @classmethod
    def from_features(cls, features: list[Tensor]) -> "AugmentedLayout":
        channels = tuple(int(f.shape[1]) for f in features)
        resolutions = tuple(int(f.shape[-1]) for f in features)
        return cls(channels, resolutions, max(resolutions), -(-sum(channels) // N_PLANES))

    def pieces(self):
        """Yield (block, plane, block channel range, plane channel offset) for every block/plane overlap."""
        start = 0
        d = self.channels_per_plane
        for b, c in enumerate(self.block_channels):
            lo, hi = start, start + c
            for k in range(N_PLANES):
                a, z = max(lo, k * d), min(hi, (k + 1) * d)
                if a < z:
                    yield b, k, (a - lo, z - lo), a - k * d
            start = hi


def _upsample(x: Tensor, size: int) -> Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def materialize(features: list[Tensor], layout: AugmentedLayout) -> Tensor:
    """Reference (the paper's construction): [B,3,D,R,R] augmented planes. Memory-hungry."""
    r = layout.plane_resolution
    cat = torch.cat([_upsample(f, r) for f in features], dim=1)
    pad = N_PLANES * layout.channels_per_plane - cat.shape[1]
    if pad:
        cat = F.pad(cat, (0, 0, 0, 0, 0, pad))
    return cat.reshape(cat.shape[0], N_PLANES, layout.channels_per_plane, r, r)


def project(features: list[Tensor], layout: AugmentedLayout, weight: Tensor) -> Tensor:
    """Lazy: the augmented planes already multiplied by the first-layer weight [H,D] -> [B,3,H,R,R].

    Equals einsum('hd,bkdxy->bkhxy', weight, materialize(features, layout)) without building it:
    every block is projected at its native resolution, then upsampled.
    """
    b = features[0].shape[0]
    r, h = layout.plane_resolution, weight.shape[0]
    pieces = list(layout.pieces())
    # one plane at a time, written into one buffer: only a plane's worth of temporaries is alive;
    # the buffer stores each texel's h features side by side (what the bilinear lookups read
    # fastest), so no second, reordered copy is ever made
    planes = channels_innermost(features[0].new_zeros(b, N_PLANES, h, r, r))
    for k in range(N_PLANES):
        by_res: dict[int, Tensor] = {}  # blocks of one resolution are summed before upsampling
        for blk, plane, (c0, c1), off in pieces:
            if plane != k:
                continue
            x = torch.einsum("hc,bcxy->bhxy", weight[:, off:off + (c1 - c0)], features[blk][:, c0:c1])
            res = layout.block_resolutions[blk]
            by_res[res] = by_res[res] + x if res in by_res else x.contiguous()
        for res in list(by_res):
            planes[:, k] += _upsample(by_res.pop(res), r)
    return planes
