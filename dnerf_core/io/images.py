"""RGB views as 8-bit PNGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DnerfError
from .atomic import atomic_open

MAX_U8 = 255


def to_uint8_rgb(rgb) -> np.ndarray:
    """[H,W,3] float in [0,1] (rounded, clipped; NaN -> 0, inf -> 1) or uint8 -> [H,W,3] uint8."""
    arr = np.asarray(rgb.detach().cpu() if hasattr(rgb, "detach") else rgb)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DnerfError(f"an RGB image must be [H,W,3], got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind != "f":
        raise DnerfError(f"an RGB image must be float in [0,1] or uint8, got dtype {arr.dtype}")
    scaled = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0) * MAX_U8
    return np.clip(np.round(scaled), 0, MAX_U8).astype(np.uint8)


def write_rgb_png(path: str | Path, rgb) -> None:
    """Write an [H,W,3] image (float in [0,1] or uint8) as an 8-bit RGB PNG."""
    from PIL import Image

    path = Path(path)
    try:
        pixels = to_uint8_rgb(rgb)
    except DnerfError as exc:
        raise DnerfError(f"cannot write {path}: {exc}") from None
    h, w, _ = pixels.shape
    img = Image.frombytes("RGB", (w, h), pixels.tobytes())
    with atomic_open(path, "wb") as fh:
        img.save(fh, format="PNG")
