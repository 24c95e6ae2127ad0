"""RGB views as 8-bit PNGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DnerfError
from .atomic import atomic_open

MAX_U8 = 255


def open_image(path: str | Path, noun: str, expected: str, error: type[DnerfError] = DnerfError):
    """The image at `path`, loaded (the caller closes it). A missing file, a folder, a file that is
    not an image or a damaged one raises `error` with one line: noun names the file ('mask file'),
    expected what it should be ('a PNG mask')."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise error(f"{noun} not found: {path}")
    if not path.is_file():
        raise error(f"{noun} path is not a file: {path}")
    img = None
    try:
        img = Image.open(path)
        img.load()
    except UnidentifiedImageError:
        raise error(f"{path} is not an image (expected {expected})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        if img is not None:
            img.close()
        raise error(f"{path} is a damaged image: {exc}") from None
    return img


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
