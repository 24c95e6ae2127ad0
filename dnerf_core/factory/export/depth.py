"""Depth maps as 16-bit PNGs (value = round(depth / scale), 0 = no depth) or float .npy.

The depth stored is camera z-depth (distance along the camera's viewing axis), the nerfstudio
convention for `depth_file_path`, not the distance along each pixel's ray. Multiply a PNG value
by its scale (kept in the PNG text chunk DEPTH_SCALE_KEY, and written as
`depth_unit_scale_factor` in transforms.json) to get world units.
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np

from ...errors import DnerfError
from ...io.atomic import atomic_open
from ...io.images import open_image

# 1e-3 world units per step ("millimetres"): nerfstudio multiplies depth PNGs by its own config
# value depth_unit_scale_factor, default 1e-3, and never reads a scale from the file, so this is
# the only unit its users get right without a flag. 16 bits then cover 0.001..65.535 units:
# our scenes span ~0.1-5 units (EG3D cameras sit at 1.7-2.7 with rays ending by 3.3), so nothing
# real is clipped; a step of 1e-3 is 0.05% of a 2-unit depth (rounding error <= half a step).
DEFAULT_DEPTH_SCALE = 1e-3
DEPTH_SCALE_KEY = "depth_scale"  # PNG tEXt keyword holding the scale
DEPTH_KIND_KEY = "depth_kind"
DEPTH_KIND = "camera z-depth"
NO_DEPTH = 0
MAX_DEPTH_VALUE = 65535  # largest 16-bit value; deeper points are clipped to it
MIN_DEPTH_VALUE = 1  # a valid depth below scale/2 is stored as 1, never as "no depth"


def _as_depth(path: Path, depth) -> np.ndarray:
    arr = np.asarray(depth.detach().cpu() if hasattr(depth, "detach") else depth)
    if arr.ndim != 2:
        raise DnerfError(f"cannot write {path}: depth must be [H,W], got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise DnerfError(f"cannot write {path}: depth must be numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def depth_to_uint16(depth: np.ndarray, scale: float, valid: np.ndarray | None = None) -> np.ndarray:
    """[H,W] float depth -> [H,W] uint16 steps of `scale`; NaN/inf/<=0/invalid -> 0."""
    ok = np.isfinite(depth) & (depth > 0)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    steps = np.round(np.where(ok, depth, 0.0) / scale)
    steps = np.clip(steps, MIN_DEPTH_VALUE, MAX_DEPTH_VALUE)
    return np.where(ok, steps, NO_DEPTH).astype(np.uint16)


def write_depth_png(path: str | Path, depth, scale: float = DEFAULT_DEPTH_SCALE, valid=None) -> None:
    """Write depth [H,W] as a 16-bit PNG of round(depth / scale), with the scale in a text chunk.

    0 means "no depth": NaN, inf, depth <= 0, or pixels where `valid` [H,W] bool is False.
    Depths beyond 65535 * scale are clipped to 65535.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    path = Path(path)
    if not (isinstance(scale, numbers.Real) and math.isfinite(scale) and scale > 0):
        raise DnerfError(f"cannot write {path}: depth scale must be a positive number, got {scale!r}")
    arr = _as_depth(path, depth)
    if valid is not None and np.shape(valid) != arr.shape:
        raise DnerfError(f"cannot write {path}: valid mask shape {np.shape(valid)} != depth shape {arr.shape}")
    values = depth_to_uint16(arr, float(scale), valid)  # [H,W] uint16
    h, w = values.shape
    img = Image.frombytes("I;16", (w, h), values.astype("<u2").tobytes())
    info = PngInfo()
    info.add_text(DEPTH_SCALE_KEY, repr(float(scale)))
    info.add_text(DEPTH_KIND_KEY, DEPTH_KIND)
    with atomic_open(path, "wb") as fh:
        img.save(fh, format="PNG", pnginfo=info)


def read_depth_png(path: str | Path, scale: float | None = None) -> tuple[np.ndarray, float]:
    """Read a 16-bit depth PNG -> (depth [H,W] float32 with NaN where 0, scale).

    The scale comes from the file's text chunk; `scale` is used for files without one (e.g.
    written by other tools) and is an error to omit for them.
    """
    path = Path(path)
    with open_image(path, "depth file", "a 16-bit depth PNG") as img:
        mode, text = img.mode, dict(getattr(img, "text", {}) or {})
        values = np.asarray(img).astype(np.float64)
    if not mode.startswith("I") or values.ndim != 2:
        raise DnerfError(f"{path} is not a 16-bit grayscale depth PNG (mode {mode!r})")
    stored = text.get(DEPTH_SCALE_KEY)
    if stored is not None:
        try:
            scale = float(stored)
        except ValueError:
            raise DnerfError(f"{path}: bad depth scale {stored!r} in its {DEPTH_SCALE_KEY!r} text chunk") from None
    elif scale is None:
        raise DnerfError(f"{path} does not record its depth scale; pass the scale "
                         f"(e.g. transforms.json's depth_unit_scale_factor)")
    if not (math.isfinite(scale) and scale > 0):
        raise DnerfError(f"{path}: depth scale must be positive, got {scale}")
    depth = np.where(values == NO_DEPTH, np.nan, values * scale).astype(np.float32)
    return depth, float(scale)


def write_depth_npy(path: str | Path, depth) -> None:
    """Write depth [H,W] as float32 .npy (NaN kept as is: no quantization, no scale)."""
    path = Path(path)
    arr = _as_depth(path, depth).astype(np.float32)
    with atomic_open(path, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
