"""ShapeNet-part style point-cloud segmentation pairs: NAME.pts (x y z per line) + NAME.seg
(one part id per line, 1-based as in the benchmark: our ids already are, background is dropped)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DnerfError
from ..types import LabeledPointCloud
from ...io.atomic import atomic_write_text


def write_pts_seg(stem: str | Path, cloud: LabeledPointCloud) -> tuple[Path, Path]:
    """Write stem.pts and stem.seg; returns both paths. Background points (id 0) are left out."""
    stem = Path(stem)
    keep = cloud.labels > 0
    if not keep.any():
        raise DnerfError(f"cannot write {stem}.pts: the cloud has no labeled points")
    pts, seg = cloud.points[keep], cloud.labels[keep]
    pts_path, seg_path = stem.with_suffix(".pts"), stem.with_suffix(".seg")
    atomic_write_text(pts_path, "".join(f"{x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in pts.astype(np.float64)))
    atomic_write_text(seg_path, "".join(f"{int(s)}\n" for s in seg))
    return pts_path, seg_path


def read_pts_seg(stem: str | Path) -> tuple[np.ndarray, np.ndarray]:
    stem = Path(stem)
    try:
        pts = np.loadtxt(stem.with_suffix(".pts"), dtype=np.float32, ndmin=2)
        seg = np.loadtxt(stem.with_suffix(".seg"), dtype=np.int32, ndmin=1)
    except (OSError, ValueError) as exc:
        raise DnerfError(f"cannot read {stem}.pts/.seg: {exc}") from exc
    if len(pts) != len(seg) or pts.shape[1] != 3:
        raise DnerfError(f"{stem}.pts and .seg disagree: {pts.shape} points, {len(seg)} labels")
    return pts, seg
