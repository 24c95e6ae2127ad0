"""The oracle's latent: the first numbers of EG3D's z for a seed (RandomState(seed).randn)."""
from __future__ import annotations

import colorsys
import math

import numpy as np

# How many Gaussian numbers a world description uses; the learned default generator's z
# (RandomState(seed).randn(z_dim)) starts with exactly these numbers.
ORACLE_LATENT_DIM = 24


def oracle_latent(seed: int, truncation: float = 1.0) -> np.ndarray:
    """[ORACLE_LATENT_DIM] standard normals for a seed, scaled by truncation (0: the mean subject)."""
    return np.random.RandomState(seed).randn(ORACLE_LATENT_DIM) * truncation


def squash(x: float, lo: float, hi: float) -> float:
    """Smoothly map a standard normal into (lo, hi) (mean subject at the midpoint)."""
    return lo + (hi - lo) / (1 + math.exp(-1.2 * x))


def hue_color(a: float, b: float, saturation: float, value: float) -> tuple[float, float, float]:
    """A color whose hue is the angle of (a, b): smooth in the latent, covers the whole wheel."""
    hue = (math.atan2(b, a) / (2 * math.pi)) % 1.0
    return colorsys.hsv_to_rgb(hue, saturation, value)


def lerp(c0, c1, t: float) -> tuple[float, float, float]:
    return tuple(float(x0 + (x1 - x0) * t) for x0, x1 in zip(c0, c1))
