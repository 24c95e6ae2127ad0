"""Contact sheets of a fitted or edited subject: rows of views (RGB, part colors) in one PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..cameras import Cameras, spread_orbit_cameras
from ..io.images import to_uint8_rgb, write_rgb_png
from .pose import Pose

GAP = 2  # white pixels between tiles


def view_rows(labeled, subject, cameras: Cameras) -> list[list[np.ndarray]]:
    """[RGB row, part-color row] of the subject at the cameras ([H,W,3] uint8 tiles; one row when
    the generator has no labels)."""
    with torch.no_grad():
        out = labeled.render(subject, cameras)
    rgb = [to_uint8_rgb(img.permute(1, 2, 0)) for img in out.rgb]
    if out.labels is None:
        return [rgb]
    palette = labeled.label_set.palette()
    return [rgb, [palette[lab.cpu().numpy()] for lab in out.labels]]


def preview_cameras(generator, pose: Pose, views: int) -> Cameras:
    """The fitted / edited view first, then `views` spread over the orbit."""
    return Cameras.cat([pose.cameras(generator.orbit), spread_orbit_cameras(views, generator.orbit)])


def write_sheet(path: str | Path, rows: list[list[np.ndarray]]) -> None:
    """Tiles [H,W,3] uint8 of equal size, row by row, on white."""
    h, w, _ = rows[0][0].shape
    n_cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (h + GAP) - GAP, n_cols * (w + GAP) - GAP, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            sheet[i * (h + GAP):i * (h + GAP) + h, j * (w + GAP):j * (w + GAP) + w] = tile
    write_rgb_png(path, sheet)
