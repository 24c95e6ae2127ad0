"""Positional encoding of world points for the semantic decoder (an option; the paper's decoder
reads plane features only).

The subjects of a category share a canonical frame (faces and cars are posed alike), so where a
point is says much about which part it is; the generator's features say where each subject's
parts are. [x, sin(2^k pi x), cos(2^k pi x) for k < L] with x the point in box units ([-1, 1]).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def position_features(frequencies: int) -> int:
    """Width of the encoding with `frequencies` octaves (0: no encoding)."""
    return 0 if frequencies == 0 else 3 + 6 * frequencies


def encode_positions(points: Tensor, half_size: float, frequencies: int) -> Tensor:
    """points [...,3] world -> [...,3+6L] (L = frequencies >= 1)."""
    x = points / half_size
    scaled = x[..., None, :] * (math.pi * 2.0 ** torch.arange(frequencies, dtype=x.dtype, device=x.device))[:, None]
    return torch.cat([x, torch.sin(scaled).flatten(-2), torch.cos(scaled).flatten(-2)], dim=-1)
