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


N_PLANES = 3
# Hidden channels upsampled at once (project): each channel is upsampled on its own, so this only
# bounds the temporary (16 channels of a 256^2 plane: 4 MB).
UPSAMPLE_CHANNELS = 16


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
    # One plane at a time, written into one buffer stored the way the bilinear lookups read it
    # fastest (each texel's h features side by side), allocated in that layout. Within a plane the
    # blocks of one resolution are summed in place, upsampled a few channels at a time and added,
    # before the next resolution's are made: at EG3D size the temporaries stay at one full-size
    # channel map (17 MB) next to the 50 MB of planes. Same sums in the same order as summing every
    # resolution first, so the numbers do not depend on any of this.
    planes = torch.empty(b * N_PLANES, h, r, r, dtype=features[0].dtype, device=features[0].device,
                         memory_format=torch.channels_last).zero_().reshape(b, N_PLANES, h, r, r)
    for k in range(N_PLANES):
        groups: dict[int, list] = {}  # resolution -> the plane's pieces there, in first-seen order
        for piece in pieces:
            if piece[1] == k:
                groups.setdefault(layout.block_resolutions[piece[0]], []).append(piece)
        for res, group in groups.items():
            acc = None
            for blk, _, (c0, c1), off in group:
                x = torch.einsum("hc,bcxy->bhxy", weight[:, off:off + (c1 - c0)], features[blk][:, c0:c1])
                acc = x.contiguous() if acc is None else acc.add_(x)
                del x
            for h0 in range(0, h, UPSAMPLE_CHANNELS):
                planes[:, k, h0:h0 + UPSAMPLE_CHANNELS] += _upsample(acc[:, h0:h0 + UPSAMPLE_CHANNELS], r)
            del acc
    return planes
