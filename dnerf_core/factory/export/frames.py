"""A ViewSet's per-view files and the transforms.json naming them, ready for nerfstudio and instant-ngp.

Shared by the subject export and the Blender add-on, so both write the very same files:

  rgb/NNN.png      8-bit RGB                                   file_path
  mask/NNN.png     part ids, palette PNG (legend: labels.json)  part_mask_path
  depth/NNN.png    16-bit camera z-depth in steps of 1e-3       depth_file_path (nerfstudio),
                   world units (0 = no depth)                   depth_path (instant-ngp)
  fg_mask/NNN.png  only with include_mask: 8-bit, 255 where the mask_path
                   pixel has geometry (any part, 0 included), 0 elsewhere
  transforms.json  plus train/val/test_filenames (nerf_splits.py) and, when the caller wrote
                   a labeled cloud, ply_file_path (same world frame as the cameras)

Why no mask_path by default: nerfstudio treats mask_path as an include mask, so with one it
never trains on the background (the field is free to put floaters there, since no pixel says
"empty"), and its masked pixel sampler draws `num_rays_per_batch` (4096) distinct pixels from
an image's mask pixels, which crashes whenever an image shows fewer foreground pixels (any eval
view below ~64x64 foreground). Our views are complete renders, background included, so every
pixel is a correct training target. Users who want object-only training turn include_mask on
(`--nerf-mask`); the mask is then the true geometry mask (opacity >= DEPTH_OPACITY_THRESHOLD),
which also keeps pixels labeled 0 that have geometry.

Depth deeper than 65535 steps (65.535 world units) is written as 0 = no depth, never clipped:
a clipped value would supervise a wrong distance, while nerfstudio's depth losses skip 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ...labels import LabelSet
from ..views import ViewSet, z_depth
from ...io.atomic import atomic_open
from .depth import DEFAULT_DEPTH_SCALE, MAX_DEPTH_VALUE, write_depth_png
from ...io.images import write_rgb_png
from ...io.masks import write_mask_png
from .nerf_splits import nerfstudio_splits
from .transforms import FrameFiles, write_transforms_json

# Pixels whose opacity is below this count as background: depth 0 (= no depth) there.
DEPTH_OPACITY_THRESHOLD = 0.5
FOREGROUND, BACKGROUND = 255, 0  # values of the fg_mask/ PNGs (nerfstudio: nonzero = train)


def write_foreground_png(path: Path, foreground: np.ndarray) -> None:
    """[H,W] bool -> 8-bit grayscale PNG (FOREGROUND / BACKGROUND), nerfstudio's mask format."""
    from PIL import Image

    values = np.where(foreground, FOREGROUND, BACKGROUND).astype(np.uint8)
    with atomic_open(path, "wb") as fh:
        Image.fromarray(values, mode="L").save(fh, format="PNG")


def write_frames(out: Path, views: ViewSet, label_set: LabelSet, extra: dict,
                 progress: Callable[[int], None] | None = None, ply_file_path: str | None = None,
                 eval_views: int | None = None, include_mask: bool = False) -> list[FrameFiles]:
    """Write every view's files and a transforms.json naming them (module docstring; extra keys added).

    ply_file_path: the labeled cloud (relative to `out`) for nerfstudio's ply_file_path, or None.
    eval_views: held-out frames (nerf_splits.nerfstudio_splits; None: its default).
    include_mask: also write fg_mask/ and name it as mask_path.
    """
    split = nerfstudio_splits(len(views), eval_views)  # before any file: a bad count writes nothing
    zdepth = z_depth(views)
    frames = []
    for i in range(len(views)):
        name = f"{i:03d}.png"
        write_rgb_png(out / "rgb" / name, views.rgb[i].numpy())
        write_mask_png(out / "mask" / name, views.labels[i].numpy(), label_set)
        geometry = views.opacity[i].numpy() >= DEPTH_OPACITY_THRESHOLD
        depth = zdepth[i].numpy().copy()
        in_range = depth <= (MAX_DEPTH_VALUE + 0.5) * DEFAULT_DEPTH_SCALE
        write_depth_png(out / "depth" / name, depth, DEFAULT_DEPTH_SCALE, valid=geometry & in_range)
        mask = None
        if include_mask:
            mask = f"fg_mask/{name}"
            write_foreground_png(out / mask, geometry)
        frames.append(FrameFiles(f"rgb/{name}", mask_path=mask, depth_file_path=f"depth/{name}",
                                 part_mask_path=f"mask/{name}"))
        if progress is not None:
            progress(i + 1)
    h, w = views.labels.shape[1:]
    write_transforms_json(out / "transforms.json", views.cameras, w, h, frames, depth_scale=DEFAULT_DEPTH_SCALE,
                          extra={"labels_file": "labels.json", **extra}, ply_file_path=ply_file_path,
                          splits=split.filenames([f.file_path for f in frames]))
    return frames
