"""Part masks as Pascal-VOC style palette PNGs: pixel value = label id, palette = label colors.

Writing: mode 'P', palette entry i = color of label i, entry IGNORE_ID (255) = IGNORE_COLOR.
Any image viewer shows the colored parts; any loader that reads raw indices gets the ids.

Reading accepts what annotators hand back:
- palette PNGs ('P'): the index is the id (the VOC convention; the palette is only for display);
- grayscale id PNGs ('L', 16-bit 'I'): the gray value is the id;
- RGB(A) PNGs painted in the label colors: each color is mapped back to its id exactly; the VOC
  ignore color and fully transparent pixels read as 255 (ignore).
Every problem raises AnnotationError (a DnerfError) naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AnnotationError, DnerfError
from ..labels import IGNORE_ID, LabelSet
from .atomic import atomic_open
from .images import open_image

IGNORE_COLOR = (224, 224, 192)  # Pascal VOC's color for the "void" (255) index
PALETTE_SIZE = 256
MAX_LISTED = 5  # how many offending ids / colors an error message lists


def palette_for(label_set: LabelSet) -> list[int]:
    """Flat 768-value PNG palette: label colors at their ids, IGNORE_COLOR at 255, black elsewhere."""
    pal = np.zeros((PALETTE_SIZE, 3), np.uint8)
    pal[:len(label_set)] = label_set.palette()
    pal[IGNORE_ID] = IGNORE_COLOR
    return pal.reshape(-1).tolist()


def _as_id_array(path: Path, labels) -> np.ndarray:
    arr = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if arr.ndim != 2:
        raise DnerfError(f"cannot write {path}: a mask must be [H,W] label ids, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise DnerfError(f"cannot write {path}: mask values must be integer label ids")
    elif arr.dtype.kind not in "iub":
        raise DnerfError(f"cannot write {path}: mask values must be integer label ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _unknown_ids(ids: np.ndarray, label_set: LabelSet) -> tuple[np.ndarray, np.ndarray]:
    """(bad ids, their pixel counts): values that are neither a label id nor IGNORE_ID."""
    bad = (ids < 0) | ((ids >= len(label_set)) & (ids != IGNORE_ID))
    return np.unique(ids[bad], return_counts=True)


def _describe_ids(values: np.ndarray, counts: np.ndarray) -> str:
    listed = ", ".join(f"{v} ({c} px)" for v, c in zip(values[:MAX_LISTED].tolist(), counts[:MAX_LISTED].tolist()))
    more = f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else ""
    return listed + more


def _valid_ids_text(label_set: LabelSet) -> str:
    return f"valid ids are 0..{len(label_set) - 1} ({', '.join(label_set.names)}) and {IGNORE_ID} (ignore)"


def write_mask_png(path: str | Path, labels, label_set: LabelSet) -> None:
    """Write labels [H,W] (ints in the label set, or 255 = ignore) as a palette PNG."""
    from PIL import Image

    path = Path(path)
    ids = _as_id_array(path, labels)  # [H,W] int64
    bad, counts = _unknown_ids(ids, label_set)
    if bad.size:
        raise DnerfError(f"cannot write {path}: label ids {_describe_ids(bad, counts)} are not in the label set; "
                         + _valid_ids_text(label_set))
    h, w = ids.shape
    img = Image.frombytes("P", (w, h), np.ascontiguousarray(ids, dtype=np.uint8).tobytes())
    img.putpalette(palette_for(label_set))
    with atomic_open(path, "wb") as fh:
        img.save(fh, format="PNG")


# --- reading ------------------------------------------------------------------------------------
def _open_png(path: Path):
    img = open_image(path, "mask file", "a PNG mask", AnnotationError)
    if img.format != "PNG":
        img.close()
        raise AnnotationError(f"{path} is a {img.format} image; masks must be PNG (lossless), "
                              "since lossy formats change the label colors at part borders")
    return img


def _color_ids(path: Path, rgb: np.ndarray, alpha: np.ndarray | None, label_set: LabelSet | None) -> np.ndarray:
    """[H,W,3] uint8 colors (+ [H,W] alpha) -> [H,W] ids via exact label colors."""
    if label_set is None:
        raise AnnotationError(f"{path} is an RGB mask: reading it needs the label set to map colors to ids")
    by_code: dict[int, int] = {}
    for lab in label_set.labels:
        code = (lab.color[0] << 16) | (lab.color[1] << 8) | lab.color[2]
        if code in by_code:
            other = label_set.labels[by_code[code]].name
            raise AnnotationError(f"cannot read RGB mask {path}: labels {other!r} and {lab.name!r} share the "
                                  f"color {tuple(lab.color)}; use a palette or grayscale id PNG")
        by_code[code] = lab.id
    ignore_code = (IGNORE_COLOR[0] << 16) | (IGNORE_COLOR[1] << 8) | IGNORE_COLOR[2]
    by_code.setdefault(ignore_code, IGNORE_ID)
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]  # [H,W]
    if alpha is not None:
        codes = np.where(alpha == 0, ignore_code, codes)
    uniq, inverse = np.unique(codes, return_inverse=True)
    lut = np.array([by_code.get(int(c), -1) for c in uniq], dtype=np.int64)
    ids = lut[inverse.reshape(codes.shape)]
    if (ids < 0).any():
        unknown = uniq[lut < 0]
        ys, xs = np.nonzero(ids < 0)
        first = codes[ys[0], xs[0]]
        example = (int(first >> 16) & 255, int(first >> 8) & 255, int(first) & 255)
        known = ", ".join(f"{lab.name} {tuple(lab.color)}" for lab in label_set.labels)
        raise AnnotationError(
            f"{path}: {len(ys)} pixels have colors that are not label colors, e.g. {example} at "
            f"(x={xs[0]}, y={ys[0]}) ({len(unknown)} unknown colors in all). Paint only with the label "
            f"colors (no anti-aliasing or blur): {known}; {IGNORE_COLOR} or transparent = ignore")
    return ids


def read_mask_png(path: str | Path, label_set: LabelSet | None = None,
                  expected_size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask PNG as uint8 ids [H,W] (255 = ignore).

    label_set: when given, every id must belong to it (or be 255); needed for RGB masks.
    expected_size: (height, width), or one int for a square image; a mismatch is an error.
    """
    path = Path(path)
    with _open_png(path) as img:
        return _mask_ids(path, img, label_set, expected_size)


def _mask_ids(path: Path, img, label_set: LabelSet | None, expected_size) -> np.ndarray:
    if expected_size is not None:
        eh, ew = (expected_size, expected_size) if isinstance(expected_size, int) else expected_size
        if img.size != (ew, eh):
            raise AnnotationError(f"{path} is {img.width}x{img.height} pixels (width x height), "
                                  f"expected {ew}x{eh}")
    mode = img.mode
    if mode in ("P", "PA", "L", "LA", "1"):
        # Palette index or gray value is the id ('PA'/'LA' arrays are [H,W,2]: drop the alpha).
        arr = np.asarray(img)
        ids = (arr[..., 0] if arr.ndim == 3 else arr).astype(np.int64)
    elif mode.startswith("I"):  # 16/32-bit grayscale ids
        ids = np.asarray(img).astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() > 255):
            raise AnnotationError(f"{path}: grayscale id values must lie in 0..255, found {ids.min()}..{ids.max()}")
    elif mode in ("RGB", "RGBA"):
        arr = np.asarray(img)  # [H,W,3|4] uint8
        ids = _color_ids(path, arr[..., :3], arr[..., 3] if mode == "RGBA" else None, label_set)
    else:
        raise AnnotationError(f"{path}: unsupported PNG mode {mode!r}; use a palette, grayscale or RGB PNG")
    if label_set is not None:
        bad, counts = _unknown_ids(ids, label_set)
        if bad.size:
            raise AnnotationError(f"{path} has label ids that are not in the label set: "
                                  f"{_describe_ids(bad, counts)}; {_valid_ids_text(label_set)}")
    return np.ascontiguousarray(ids, dtype=np.uint8)
