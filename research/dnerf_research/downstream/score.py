"""Scores of a trained row on the held-out oracle test sets.

2D (images): one confusion matrix over every test pixel; per-class IoU, mIoU over ALL classes
including background (the convention of research/RESULTS.md, dnerf_core.io.metrics), pixel
accuracy.

Video: the same 2D scores over every frame of the oracle orbit videos, and temporal consistency
measured by warping: every opaque pixel of frame t is lifted to 3D with the ORACLE's depth,
projected into frame t+1, and kept when the oracle's depth there shows the same surface point
(not occluded); consistency is the share of these pixel pairs whose predicted labels agree.
The oracle's own labels on the same pairs give its ceiling (below 1 where a pair straddles a
part border).

3D (clouds), the ShapeNet-part protocol: per shape, the IoU of every part of the category (a
part absent from both truth and prediction counts as 1), averaged over the parts -> shape mIoU;
instance-averaged mIoU = mean over shapes. Each world is one category, so its class-averaged
mIoU (mean over categories) equals the instance average within a world; the page gives the
class average over the two categories. Per-part IoU: pooled over all test points.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from dnerf_core import Cameras, ray_bundle
from dnerf_core.lab import confusion_matrix, segmentation_scores

from .data import Cloud, VideoSet

# A warped pixel is the same surface point when the oracle's depth at its target pixel matches
# its distance from the target camera within this share of that distance (1% = a few pixels'
# footprint at 64x64 on these subjects).
DEPTH_TOLERANCE = 0.01
SURFACE_OPACITY = 0.5


def _json(values) -> list:
    return [None if v != v else round(float(v), 5) for v in values]


@dataclass
class Scores2D:
    """miou (all classes incl. background), accuracy, per-class iou by name, pixels scored."""

    miou: float
    accuracy: float
    iou: dict
    pixels: int


def scores_2d(pred: Tensor, truth: Tensor, names: list[str]) -> Scores2D:
    s = segmentation_scores(confusion_matrix(pred, truth, len(names)))
    return Scores2D(round(s.miou, 5), round(s.accuracy, 5), dict(zip(names, _json(s.iou.tolist()))), int(truth.numel()))


@dataclass
class VideoScores:
    """segmentation: 2D scores over all frames; consistency: share of depth-warped pixel pairs of
    consecutive frames whose predicted labels agree; consistency_truth: the same for the oracle's
    labels; pairs: how many pixel pairs were compared."""

    segmentation: Scores2D
    consistency: float
    consistency_truth: float
    pairs: int


def warp_pairs(depth: Tensor, opacity: Tensor, cam2world: Tensor, intrinsics: Tensor) -> list[tuple[Tensor, Tensor]]:
    """For consecutive frames (t, t+1) of one video: (flat pixel index in t, flat index in t+1)
    of every opaque pixel of t that frame t+1 sees at the same surface point.
    depth/opacity [F,H,W]; cam2world [F,4,4] OpenCV; intrinsics [F,3,3] normalized."""
    f, h, w = depth.shape
    cams = Cameras(cam2world.float(), intrinsics.float())
    rays = ray_bundle(cams, (h, w))
    pts = rays.origins.reshape(f, h * w, 3) + depth.reshape(f, h * w, 1) * rays.directions.reshape(f, h * w, 3)
    pairs = []
    for t in range(f - 1):
        src = torch.nonzero(opacity[t].flatten() > SURFACE_OPACITY)[:, 0]
        p = pts[t, src]
        w2c = torch.linalg.inv(cam2world[t + 1].double()).float()
        cam = p @ w2c[:3, :3].T + w2c[:3, 3]
        z = cam[:, 2]
        k = intrinsics[t + 1]
        u = (k[0, 0] * cam[:, 0] / z + k[0, 2]) * w
        v = (k[1, 1] * cam[:, 1] / z + k[1, 2]) * h
        ui, vi = torch.floor(u).long(), torch.floor(v).long()
        inside = (z > 0) & (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
        src, p, ui, vi = src[inside], p[inside], ui[inside], vi[inside]
        dst = vi * w + ui
        dist = (p - cam2world[t + 1, :3, 3].float()).norm(dim=1)
        seen = (opacity[t + 1].flatten()[dst] > SURFACE_OPACITY) & \
               ((depth[t + 1].flatten()[dst] - dist).abs() < DEPTH_TOLERANCE * dist)
        pairs.append((src[seen], dst[seen]))
    return pairs


def video_scores(pred: Tensor, video: VideoSet, names: list[str]) -> VideoScores:
    """pred [M,F,H,W]: predicted labels of every frame of every video."""
    seg = scores_2d(pred, video.labels, names)
    agree = agree_truth = total = 0
    for m in range(len(video.labels)):
        p, t = pred[m].flatten(1), video.labels[m].flatten(1)
        for i, (a, b) in enumerate(warp_pairs(video.depth[m], video.opacity[m], video.cam2world[m], video.intrinsics[m])):
            agree += int((p[i, a] == p[i + 1, b]).sum())
            agree_truth += int((t[i, a] == t[i + 1, b]).sum())
            total += len(a)
    nan = float("nan")
    return VideoScores(seg, round(agree / total, 5) if total else nan, round(agree_truth / total, 5) if total else nan, total)


@dataclass
class Scores3D:
    """instance_miou: mean over shapes of the mean part IoU (absent in both -> 1);
    part_iou: per part, pooled over all points; part_mean: mean of part_iou; accuracy: share of
    points right; shapes / points: how many were scored."""

    instance_miou: float
    part_iou: dict
    part_mean: float
    accuracy: float
    shapes: int
    points: int


def shape_miou(pred: np.ndarray, truth: np.ndarray, parts: list[int]) -> float:
    """One shape's mean part IoU under the ShapeNet-part rule."""
    ious = []
    for part in parts:
        p, t = pred == part, truth == part
        union = np.logical_or(p, t).sum()
        ious.append(1.0 if union == 0 else np.logical_and(p, t).sum() / union)
    return float(np.mean(ious))


def scores_3d(preds: list[Tensor], clouds: list[Cloud], names: list[str]) -> Scores3D:
    """preds[i]: part labels of clouds[i]'s points; names: the label set (0 = background, not a part)."""
    parts = list(range(1, len(names)))
    per_shape, inter, union = [], np.zeros(len(names)), np.zeros(len(names))
    right = total = 0
    for pred, cloud in zip(preds, clouds):
        p, t = pred.numpy(), cloud.labels.numpy()
        if len(t) == 0:
            continue
        per_shape.append(shape_miou(p, t, parts))
        for part in parts:
            inter[part] += np.logical_and(p == part, t == part).sum()
            union[part] += np.logical_or(p == part, t == part).sum()
        right += int((p == t).sum())
        total += len(t)
    part_iou = {names[k]: (round(float(inter[k] / union[k]), 5) if union[k] else None) for k in parts}
    present = [v for v in part_iou.values() if v is not None]
    return Scores3D(round(float(np.mean(per_shape)), 5), part_iou, round(float(np.mean(present)), 5),
                    round(right / total, 5), len(per_shape), total)


def as_dict(scores) -> dict:
    return asdict(scores)
