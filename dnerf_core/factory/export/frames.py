"""A ViewSet's per-view files: rgb/, mask/ (palette PNG), depth/ (16-bit camera z) and transforms.json.

Shared by the subject export and the Blender add-on, so both write the very same files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ...labels import LabelSet
from ..views import ViewSet, z_depth
from .depth import DEFAULT_DEPTH_SCALE, write_depth_png
from ...io.images import write_rgb_png
from ...io.masks import write_mask_png
from .transforms import FrameFiles, write_transforms_json

# Pixels whose opacity is below this count as background: depth 0 (= no depth) there.
DEPTH_OPACITY_THRESHOLD = 0.5


def write_frames(out: Path, views: ViewSet, label_set: LabelSet, extra: dict,
                 progress: Callable[[int], None] | None = None) -> list[FrameFiles]:
    """Write every view's RGB, mask and depth and a transforms.json naming them (extra keys added)."""
    zdepth = z_depth(views)
    frames = []
    for i in range(len(views)):
        name = f"{i:03d}.png"
        write_rgb_png(out / "rgb" / name, views.rgb[i].numpy())
        write_mask_png(out / "mask" / name, views.labels[i].numpy(), label_set)
        depth = zdepth[i].numpy().copy()
        depth[views.opacity[i].numpy() < DEPTH_OPACITY_THRESHOLD] = 0.0
        write_depth_png(out / "depth" / name, depth, DEFAULT_DEPTH_SCALE)
        frames.append(FrameFiles(f"rgb/{name}", f"mask/{name}", f"depth/{name}"))
        if progress is not None:
            progress(i + 1)
    h, w = views.labels.shape[1:]
    write_transforms_json(out / "transforms.json", views.cameras, w, h, frames, depth_scale=DEFAULT_DEPTH_SCALE,
                          extra={"labels_file": "labels.json", **extra})
    return frames
