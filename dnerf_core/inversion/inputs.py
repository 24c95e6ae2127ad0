"""Reading what a user fits to: an RGB image or a part mask, checked with one clear message."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import AnnotationError, DnerfError
from ..io.images import open_image
from ..labels import IGNORE_ID


def unwrap(generator) -> tuple[object, object | None]:
    """(tri-plane generator, semantic branch or None) of a generator or a LabeledGenerator."""
    if hasattr(generator, "branch") and hasattr(generator, "generator"):
        return generator.generator, generator.branch
    if not hasattr(generator, "synthesize") or not hasattr(generator, "backbone"):
        raise DnerfError(f"{getattr(generator, 'name', generator)!r} is not a tri-plane generator: "
                         "only learned generators can be inverted")
    return generator, None


def require_branch(generator, what: str):
    gen, branch = unwrap(generator)
    if branch is None:
        raise DnerfError(f"{what} needs a semantic branch: load the generator with one "
                         "(default:<category> ships one; otherwise --semantic CKPT)")
    return gen, branch


def load_rgb_image(path: str | Path) -> Tensor:
    """[3,H,W] float in [0,1] of a square image file (alpha is composited over white)."""
    with open_image(path, "image", "a PNG or JPEG picture") as img:
        rgba = img.convert("RGBA")
    arr = np.asarray(rgba, dtype=np.float32) / 255.0
    rgb = arr[..., :3] * arr[..., 3:] + (1.0 - arr[..., 3:])
    h, w = rgb.shape[:2]
    if h != w:
        raise DnerfError(f"{path} is {w}x{h} pixels: the generator renders square views; crop it square first")
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).contiguous()


def check_rgb_tensor(image: Tensor) -> Tensor:
    if not isinstance(image, Tensor) or image.ndim != 3 or image.shape[0] != 3 or image.shape[1] != image.shape[2]:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise DnerfError(f"the target image must be a square [3,H,W] tensor in [0,1], got {shape}")
    if not torch.isfinite(image).all():
        raise DnerfError("the target image has non-finite values")
    return image.float().clamp(0, 1)


def load_label_mask(path: str | Path, label_set, size: int) -> Tensor:
    """[size,size] int64 label ids of a mask PNG (palette, grayscale ids or label colors)."""
    from ..io.masks import read_mask_png

    return torch.from_numpy(read_mask_png(path, label_set, expected_size=(size, size))).to(torch.int64)


def check_label_tensor(mask: Tensor, num_classes: int, size: int | None = None) -> Tensor:
    if not isinstance(mask, Tensor) or mask.ndim != 2 or mask.dtype.is_floating_point:
        raise AnnotationError("a mask must be an [H,W] integer tensor of label ids")
    if size is not None and tuple(mask.shape) != (size, size):
        raise AnnotationError(f"the mask is {mask.shape[1]}x{mask.shape[0]} pixels; this generator's views are "
                              f"{size}x{size}")
    bad = torch.unique(mask[((mask < 0) | (mask >= num_classes)) & (mask != IGNORE_ID)])
    if len(bad):
        raise AnnotationError(f"the mask has label ids that are not in the label set: {bad.tolist()} "
                              f"(valid: 0..{num_classes - 1}, {IGNORE_ID} = ignore)")
    return mask.to(torch.int64)
