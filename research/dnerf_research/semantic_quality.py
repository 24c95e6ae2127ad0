"""How good the part labels of a labeled generator are, measured against the procedural oracle.

Anything with `.render(subject, cameras, resolution).labels` (a LabeledGenerator, the
DatasetGAN-style baseline, the oracle itself) is evaluated the same way, on held-out seeds the
annotations never touched. The learned generator and the oracle share seeds, so subject s of
one is compared with subject s of the other, at the same pose and the same label resolution.

Two sets, after the paper's evaluation:
- individual: N subjects, one random pose each within the generator's training range
  (`random_orbit_cameras` drawn from EVAL_POSE_SEED) -> per-class IoU, mIoU, pixel accuracy;
- video: M subjects x a 61-frame orbit -> the same 2D metrics, plus 3D consistency of the masks
  back-projected through the generator's depth (see `consistency_scores`).

Two ground truths for the 2D scores (both exact, both from the oracle):
- "world": the oracle's own render of the seed at the same camera. A learned generator only
  approximates that subject, so where its silhouette bulges or a thin part moves, the world mask
  disagrees with what its image shows: these scores include the generator's geometric error (a
  labeling of its surface by the true 3D parts, `label_ceiling`, does not reach 1);
- "image": what a careful annotator of the evaluated image draws, the paper's protocol (its test
  masks are annotations of generated images): every pixel the generator renders opaque gets the
  oracle's exact 3D part at that surface point, every other pixel background
  (`generators.surface_labels`; the masks `annotate-kit --oracle` writes). These score the labeling
  alone. For the oracle itself both truths are the same.

mIoU convention: DatasetGAN and DatasetNeRF report mIoU over all classes of the label set
INCLUDING background, each class's IoU computed from the confusion matrix summed over every
evaluated pixel, averaged over the classes present in prediction or truth. That is `miou`;
`miou_parts` (background excluded) is reported next to it for reference.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from dnerf_core.lab import (AnnotationError, backproject, BackprojectConfig, confusion_matrix, EVAL_POSE_SEED,
                            heldout_seeds, oracle_labels_on_surface, random_orbit_cameras, render_views, resize_masks,
                            segmentation_scores, to_resolution, video_orbit_cameras, ViewSet)

N_INDIVIDUAL = 90
N_VIDEO = 5
VIDEO_FRAMES = 61
# The video subjects come from a separate stretch of the held-out range, so changing N (the
# individual set's size) never changes which subjects the video set shows.
VIDEO_SEED_OFFSET = 100_000
# 3D consistency votes in cubic voxels of edge bounds / VOXEL_DIVISIONS (bounds = half the side
# of the subject's box, so the box is 2 * VOXEL_DIVISIONS voxels across): between half and one
# pixel's footprint on the subject at the default generators' 64x64 resolution, so a voxel holds
# one small surface patch that neighbouring frames of the orbit see again.
VOXEL_DIVISIONS = 64
# Pixels at least this opaque are surface points (the point-cloud exporter's default).
SURFACE_OPACITY = BackprojectConfig().opacity_threshold


def _json_safe(d: dict) -> dict:
    """NaN (a measure with nothing to measure, e.g. no surface point) -> None: strict JSON has no NaN."""
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in d.items()}


@dataclass
class SegmentationQuality:
    """2D scores over every evaluated pixel (confusion matrix summed over all views).

    per_class_iou: label name -> IoU (None for a class absent from both prediction and truth);
    miou: mean over present classes, background included (the paper's convention);
    miou_parts: the same without background; accuracy: share of pixels labeled correctly."""

    n_subjects: int
    n_views: int
    resolution: int
    miou: float
    miou_parts: float
    accuracy: float
    per_class_iou: dict[str, float | None]

    def to_dict(self) -> dict:
        return _json_safe(asdict(self))


@dataclass
class ConsistencyQuality:
    """3D consistency of masks back-projected through the generator's depth (numbers in [0,1]).

    cross_view_agreement: share of points whose label equals the majority label of the points
      other frames put in the same voxel (points in voxels seen by one frame only don't count);
    cross_view_ceiling: the same measure with the oracle's exact labels at the same points —
      below 1 only because voxels straddling a part border mix labels; the gap to it is the
      prediction's own inconsistency;
    oracle_agreement: share of points whose label equals the oracle's label at that 3D point;
    n_points: surface points (opaque pixels); n_voted: those in voxels seen by another frame."""

    voxel_size: float
    n_points: int
    n_voted: int
    cross_view_agreement: float
    cross_view_ceiling: float
    oracle_agreement: float

    def to_dict(self) -> dict:
        return _json_safe(asdict(self))


@dataclass
class VideoQuality:
    """segmentation: 2D scores over all frames vs the world truth; segmentation_image: the same vs
    the image truth (None when not computed); consistency: 3D, truth-independent but for
    oracle_agreement (the oracle's 3D labels at the generator's surface points)."""

    n_frames: int
    segmentation: SegmentationQuality
    consistency: ConsistencyQuality
    segmentation_image: SegmentationQuality | None = None

    def to_dict(self) -> dict:
        d = {"n_frames": self.n_frames, "segmentation": self.segmentation.to_dict(),
             "consistency": self.consistency.to_dict()}
        if self.segmentation_image is not None:
            d["segmentation_image"] = self.segmentation_image.to_dict()
        return d


@dataclass
class SemanticQuality:
    """individual / video.segmentation: vs the world truth; individual_image /
    video.segmentation_image: vs the image truth (see the module docstring)."""

    individual: SegmentationQuality
    video: VideoQuality
    individual_image: SegmentationQuality | None = None

    def to_dict(self) -> dict:
        d = {"individual": self.individual.to_dict(), "video": self.video.to_dict()}
        if self.individual_image is not None:
            d["individual_image"] = self.individual_image.to_dict()
        return d


# --- 2D ------------------------------------------------------------------------------------------
def segmentation_quality(confusion: Tensor, names: list[str], n_subjects: int, n_views: int,
                         resolution: int) -> SegmentationQuality:
    scores = segmentation_scores(confusion, include_background=True)
    parts = segmentation_scores(confusion, include_background=False)
    iou = {name: (None if torch.isnan(v) else v.item()) for name, v in zip(names, scores.iou)}
    return SegmentationQuality(n_subjects, n_views, resolution, scores.miou, parts.miou, scores.accuracy, iou)


TRUTHS = ("world", "image")  # see the module docstring


def _check_truth(truth: str) -> None:
    if truth not in TRUTHS:
        raise ValueError(f"truth must be one of {', '.join(TRUTHS)}, got {truth!r}")


def truth_labels(oracle, seeds: list[int], cameras, depth: Tensor, opacity: Tensor, truth: str) -> Tensor:
    """The exact masks [V,H,W] a prediction of `seeds` at `cameras` is scored against: the
    oracle's own render ("world") or its 3D parts on the surface the prediction shows ("image").
    depth, opacity [V,1,H,W]: the prediction's, at its label size (`to_resolution`)."""
    _check_truth(truth)
    if truth == "world":
        return oracle.render(oracle.sample(seeds), cameras, depth.shape[-1]).labels
    return oracle_labels_on_surface(oracle, seeds, cameras, depth, opacity)


@torch.no_grad()
def _individual_confusions(labeled, oracle, n_subjects: int, resolution: int | None, batch: int,
                           truths: tuple[str, ...]) -> tuple[dict[str, Tensor], int]:
    """The individual set's confusion matrix against each truth -> ({truth: [K,K]}, label size)."""
    seeds = heldout_seeds(n_subjects)
    cams = random_orbit_cameras(n_subjects, labeled.orbit, torch.Generator().manual_seed(EVAL_POSE_SEED))
    k = len(oracle.label_set)
    conf = {t: torch.zeros(k, k, dtype=torch.int64) for t in truths}
    size = None
    for start in range(0, n_subjects, batch):
        chunk = seeds[start:start + batch]
        cam = cams[start:start + len(chunk)]
        out = labeled.render(labeled.sample(chunk), cam, resolution)
        size = out.labels.shape[-1]
        depth, opacity = to_resolution(out.depth, out.opacity, tuple(out.labels.shape[-2:]))
        for t in truths:
            conf[t] += confusion_matrix(out.labels, truth_labels(oracle, chunk, cam, depth, opacity, t), k)
    return conf, size


def evaluate_individual(labeled, oracle, n_subjects: int = N_INDIVIDUAL, resolution: int | None = None,
                        batch: int = 8, truth: str = "world") -> SegmentationQuality:
    """One random pose per held-out subject; labels compared with `truth` at the same size.

    resolution: the neural rendering resolution asked of `labeled` (None: its own)."""
    _check_truth(truth)  # before anything is rendered
    conf, size = _individual_confusions(labeled, oracle, n_subjects, resolution, batch, (truth,))
    return segmentation_quality(conf[truth], oracle.label_set.names, n_subjects, n_subjects, size)


@torch.no_grad()
def evaluate_annotations(labeled, kit) -> SegmentationQuality:
    """The labeling on an annotation kit's own views vs its masks (255 ignored): how well a branch
    fits what it was trained on. Not a quality number (those are on held-out seeds): a fit well
    below 1 says the generator's features cannot hold what the masks ask for."""
    if labeled.label_set != kit.label_set:
        raise AnnotationError(f"the kit {kit.path} labels {', '.join(kit.label_set.names)}; the labeling gives "
                              f"{', '.join(labeled.label_set.names)}")
    k = len(kit.label_set)
    conf = torch.zeros(k, k, dtype=torch.int64)
    groups = kit.by_subject()
    for seed, idx in groups.items():
        labels = labeled.render(labeled.sample([seed]), kit.cameras[idx]).labels
        # masks at the label size as training reads them (nearest neighbour)
        conf += confusion_matrix(labels, resize_masks(kit.masks[idx], tuple(labels.shape[-2:])), k)
    return segmentation_quality(conf, kit.label_set.names, len(groups), len(kit), labels.shape[-1])


# --- 3D ------------------------------------------------------------------------------------------
def cross_view_agreement(points: np.ndarray, labels: np.ndarray, frames: np.ndarray, voxel_size: float,
                         num_classes: int) -> tuple[float, int]:
    """Share of points whose label is the majority label of the OTHER frames' points in their
    voxel (ties go to the smallest id, as in voxel_downsample) -> (share, points voted on).

    A point's own frame is left out so a frame cannot vote for itself: what is measured is
    whether different views agree about the same piece of surface."""
    if len(points) == 0:
        return float("nan"), 0
    keys = torch.floor(torch.from_numpy(points).double() / voxel_size).long()
    _, voxel = torch.unique(keys, dim=0, return_inverse=True)
    lab = torch.from_numpy(labels).long()
    frame = torch.from_numpy(frames).long()
    n_vox = int(voxel.max()) + 1
    per_voxel = torch.bincount(voxel * num_classes + lab, minlength=n_vox * num_classes).reshape(n_vox, num_classes)
    # the same counts per (voxel, frame) pair, to subtract each point's own frame
    _, pair = torch.unique(voxel * (int(frame.max()) + 1) + frame, return_inverse=True)
    n_pair = int(pair.max()) + 1
    per_pair = torch.bincount(pair * num_classes + lab, minlength=n_pair * num_classes).reshape(n_pair, num_classes)
    others = per_voxel[voxel] - per_pair[pair]  # [N,K] votes from other frames
    voted = others.sum(1) > 0
    if not voted.any():
        return float("nan"), 0
    agree = others[voted].argmax(1) == lab[voted]
    return agree.double().mean().item(), int(voted.sum())


def frame_points(views: ViewSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every surface pixel of every frame -> (points [N,3], predicted labels [N], frame [N]).

    Uses the factory's own back-projection, so the score is about the clouds it exports;
    pixels labeled background are kept: background on the surface is a labeling error too."""
    cfg = BackprojectConfig(opacity_threshold=SURFACE_OPACITY, keep_background=True)
    pts, labs, frames = [], [], []
    for i in range(len(views)):
        one = ViewSet(views.cameras[i:i + 1], views.rgb[i:i + 1], views.labels[i:i + 1], views.depth[i:i + 1],
                      views.opacity[i:i + 1])
        cloud = backproject(one, cfg)
        pts.append(cloud.points)
        labs.append(cloud.labels)
        frames.append(np.full(len(cloud), i, dtype=np.int64))
    return np.concatenate(pts), np.concatenate(labs), np.concatenate(frames)


@torch.no_grad()
def evaluate_video(labeled, oracle, n_subjects: int = N_VIDEO, n_frames: int = VIDEO_FRAMES,
                   resolution: int | None = None, batch: int = 16) -> VideoQuality:
    """M held-out subjects x an n-frame orbit: 2D scores over all frames (vs both truths), and 3D
    consistency of the frames' masks back-projected through `labeled`'s depth."""
    seeds = heldout_seeds(n_subjects, offset=VIDEO_SEED_OFFSET)
    cams = video_orbit_cameras(n_frames, labeled.orbit)
    k = len(oracle.label_set)
    voxel = labeled.bounds / VOXEL_DIVISIONS
    conf = {t: torch.zeros(k, k, dtype=torch.int64) for t in TRUTHS}
    n_points = n_voted = 0
    agree_sum = ceiling_sum = oracle_sum = 0.0
    size = None
    for seed in seeds:
        views = render_views(labeled, labeled.sample([seed]), cams, resolution, batch_size=batch)
        size = views.labels.shape[-1]
        truth_subject = oracle.sample([seed])
        for t in TRUTHS:
            truth_masks = truth_labels(oracle, [seed], cams, views.depth[:, None], views.opacity[:, None], t)
            conf[t] += confusion_matrix(views.labels, truth_masks, k)
        points, labels, frames = frame_points(views)
        if len(points) == 0:
            continue
        truth = oracle.labels_at(truth_subject, torch.from_numpy(points)[None].float())[0].numpy()
        share, voted = cross_view_agreement(points, labels, frames, voxel, k)
        ceiling, _ = cross_view_agreement(points, truth.astype(np.int32), frames, voxel, k)
        # weighted by points so every surface point of every subject counts once
        if voted:
            agree_sum += share * voted
            ceiling_sum += ceiling * voted
        oracle_sum += float((truth == labels).sum())
        n_points += len(points)
        n_voted += voted
    nan = float("nan")
    consistency = ConsistencyQuality(voxel, n_points, n_voted,
                                     agree_sum / n_voted if n_voted else nan,
                                     ceiling_sum / n_voted if n_voted else nan,
                                     oracle_sum / n_points if n_points else nan)
    names = oracle.label_set.names
    seg = {t: segmentation_quality(conf[t], names, n_subjects, n_subjects * n_frames, size) for t in TRUTHS}
    return VideoQuality(n_frames, seg["world"], consistency, seg["image"])


def evaluate_semantic(labeled, oracle, n_individual: int = N_INDIVIDUAL, n_video: int = N_VIDEO,
                      n_frames: int = VIDEO_FRAMES, resolution: int | None = None) -> SemanticQuality:
    """Both sets, as the paper's Tab. 1 reports them, each scored against both truths."""
    conf, size = _individual_confusions(labeled, oracle, n_individual, resolution, batch=8, truths=TRUTHS)
    ind = {t: segmentation_quality(conf[t], oracle.label_set.names, n_individual, n_individual, size)
           for t in TRUTHS}
    return SemanticQuality(ind["world"], evaluate_video(labeled, oracle, n_video, n_frames, resolution),
                           ind["image"])
