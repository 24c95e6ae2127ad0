"""Screenshot images: draw the legend onto a rendered frame (for backends without a 2D legend of
their own) and write PNGs atomically. Pillow only.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dnerf_core.errors import DnerfError
from dnerf_core.io.atomic import atomic_write_bytes

SWATCH = 12  # legend color square, pixels
ROW = 16  # legend row height, pixels
MARGIN = 6


def _text_color(canvas: tuple[int, int, int]) -> tuple[int, int, int]:
    # Dark text on a light canvas and the reverse, by perceived luminance.
    lum = 0.299 * canvas[0] + 0.587 * canvas[1] + 0.114 * canvas[2]
    return (0, 0, 0) if lum > 128 else (255, 255, 255)


def draw_legend(image: np.ndarray, rows: list[tuple[str, tuple[int, int, int]]],
                canvas: tuple[int, int, int]) -> np.ndarray:
    """[H,W,3] uint8 -> a copy with the legend rows (text, color) in its top-left corner."""
    img = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    text_color = _text_color(canvas)
    for i, (text, color) in enumerate(rows):
        y = MARGIN + i * ROW
        draw.rectangle([MARGIN, y, MARGIN + SWATCH - 1, y + SWATCH - 1], fill=tuple(color))
        draw.text((MARGIN + SWATCH + 4, y), text, fill=text_color, font=font)
    return np.asarray(img)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write [H,W,3] uint8 as a PNG, atomically (a reader never sees half a file)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise DnerfError(f"--screenshot must name a .png file, got {path}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8)).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return path
