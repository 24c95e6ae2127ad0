"""The small tri-plane generator shipped as `default:<category>`: sized to train on 2 CPU cores
and render fast, with the oracle world's cameras and ray settings."""
from __future__ import annotations

import math
from dataclasses import replace

# Small enough to train on 2 CPU cores and ship as a few MB, big enough to hold a category:
# 64x64 planes of 3x32 channels, 128 channels at most, 10 ws.
DEFAULT_Z_DIM = 64
DEFAULT_W_DIM = 128
DEFAULT_PLANE_RESOLUTION = 64
DEFAULT_CHANNEL_BASE = 4096
DEFAULT_CHANNEL_MAX = 128
# The oracle latent is a smooth function of z; a plain (not 100x slowed) mapping learns it faster.
DEFAULT_MAPPING_LR_MULTIPLIER = 0.1
# Opaque surfaces need a raw density of ~150 inside and ~0 a hundredth of a unit outside; at the
# plain rate the decoder took thousands of steps to get there and rendered fuzzy, translucent
# blobs (measured: density 20-40 inside after 3900 steps); at 20x stage 2 sharpened it (weights/README.md).
DEFAULT_DECODER_LR_MULTIPLIER = 20.0
# The shipped default weights were trained with FIR-first upsampling convolutions (before EG3D
# parity, networks.ops.UPCONV_ORDERS); the default architecture keeps that order, so a retrained
# default is the same network as the shipped one.
DEFAULT_UPCONV_ORDER = "fir_first"


def surface_density(rendering) -> float:
    """The density at which the distilled occupancy is 0.5: distillation matches the alpha of one
    reference ray step to the oracle's occupancy, and alpha = 0.5 at density ln 2 / step."""
    from .distill import reference_step

    return math.log(2.0) / reference_step(rendering)


def default_config(category: str):
    from .procedural import ProceduralGenerator
    from .triplane_gan import TriPlaneConfig

    oracle = ProceduralGenerator(category)
    return TriPlaneConfig(
        z_dim=DEFAULT_Z_DIM, w_dim=DEFAULT_W_DIM, c_dim=0,
        img_resolution=oracle.rendering.neural_resolution,
        plane_resolution=DEFAULT_PLANE_RESOLUTION, plane_channels=32,
        channel_base=DEFAULT_CHANNEL_BASE, channel_max=DEFAULT_CHANNEL_MAX,
        mapping_layers=2, mapping_lr_multiplier=DEFAULT_MAPPING_LR_MULTIPLIER,
        decoder_lr_multiplier=DEFAULT_DECODER_LR_MULTIPLIER,
        superres=None, rendering=replace(oracle.rendering), orbit=oracle.orbit, conditioning_zero=True,
        bounds=oracle.bounds, density_threshold=surface_density(oracle.rendering),
        upconv_order=DEFAULT_UPCONV_ORDER,
    )
