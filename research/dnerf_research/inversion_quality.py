"""Inversion and editing measured on the default generator: targets rendered from seeds never used
in training (HELDOUT_SEED_START and up), at random poses of the generator's orbit.

- RGB inversion: PSNR of the fitted subject's render at the fitted pose vs the target image,
  and the yaw error of the recovered pose;
- mask inversion: mIoU of the fitted subject's labels vs the target mask;
- editing: a part of the subject is given another held-out subject's shape of it in one view
  (transplant_part); inside the region the edit changed, mIoU of the new labels vs the edited
  mask; outside it, RGB PSNR vs the original view; in other views, the share of changed pixels
  that involve the edited part (the edit moves that part, the rest stays).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from dnerf_core import edit_subject, Pose, render_view, require_branch
from dnerf_core.lab import (confusion_matrix, EDIT_FIT, edit_scores, FitConfig, HELDOUT_SEED_START, invert_mask,
                            invert_rgb, MASK_FIT, mask_iou, psnr, segmentation_scores, spread_orbit_cameras,
                            transplant_part, yaw_error_degrees)

# Seeds of the targets: held-out, and apart from the generator / semantic evaluations' first ones.
INVERSION_SEED_OFFSET = 7_000
# Part whose shape the edit benchmark transplants, per category (a large, visible part).
EDIT_PART = {"car": "roof", "face": "hair"}
OTHER_VIEWS = 4


@dataclass
class InversionCase:
    kind: str
    seed: int
    target_pose_deg: tuple[float, float]
    fitted_pose_deg: tuple[float, float]
    seconds: float
    psnr: float | None = None
    yaw_error_deg: float | None = None
    miou: float | None = None
    confusion: list | None = None  # mask cases: [K,K] counts (rows truth), for the pooled mIoU


@dataclass
class EditCase:
    seed: int
    donor_seed: int
    part: str
    pose_deg: tuple[float, float]
    region_pixels: int
    seconds: float
    region_miou: float
    outside_psnr: float
    other_views_part_share: float
    part_area_change: float
    region_accuracy: float  # share of region pixels showing the edited label
    part_iou: float  # IoU of the edited part's pixels in the whole view vs the edited mask


def target_pose(generator, index: int) -> Pose:
    """A random pose of the orbit's range, repeatable per case index."""
    cams_gen = torch.Generator().manual_seed(HELDOUT_SEED_START + index)
    r = torch.rand(2, generator=cams_gen, dtype=torch.float64)
    o = generator.orbit
    yaw = o.yaw_range[0] + float(r[0]) * (o.yaw_range[1] - o.yaw_range[0])
    pitch = o.pitch_range[0] + float(r[1]) * (o.pitch_range[1] - o.pitch_range[0])
    return Pose(yaw, pitch, o.radius)


def case_seed(index: int) -> int:
    return HELDOUT_SEED_START + INVERSION_SEED_OFFSET + index


def part_iou(labels: Tensor, edited: Tensor, part: int) -> float:
    """IoU of the pixels showing `part` in `labels` [H,W] vs in the edited mask [H,W] (1 when neither has it)."""
    return float(mask_iou((labels == part)[None], (edited == part)[None])[0])


@torch.no_grad()
def _render(labeled, subject, pose: Pose):
    gen, _ = require_branch(labeled, "evaluation")
    return labeled.render(subject, pose.cameras(gen.orbit))


def _inversion_case(labeled, kind: str, index: int, cfg: FitConfig) -> InversionCase:
    gen, branch = require_branch(labeled, "evaluation")
    seed, pose = case_seed(index), target_pose(gen, index)
    target = _render(labeled, gen.sample([seed]), pose)
    t0 = time.perf_counter()
    fit = invert_rgb(gen, target.rgb[0], cfg) if kind == "rgb" else invert_mask(labeled, target.labels[0], cfg)
    seconds = time.perf_counter() - t0
    got = _render(labeled, fit.subject, fit.pose)
    case = InversionCase(kind, seed, pose.degrees, fit.pose.degrees, seconds,
                         yaw_error_deg=yaw_error_degrees(fit.pose.yaw, pose.yaw))
    if kind == "rgb":
        case.psnr = float(psnr(got.rgb, target.rgb)[0])
    else:
        conf = confusion_matrix(got.labels[0], target.labels[0], branch.config.num_classes)
        case.miou, case.confusion = segmentation_scores(conf).miou, conf.tolist()
    return case


def rgb_case(labeled, index: int, cfg: FitConfig = FitConfig()) -> InversionCase:
    return _inversion_case(labeled, "rgb", index, cfg)


def mask_case(labeled, index: int, cfg: FitConfig = MASK_FIT) -> InversionCase:
    return _inversion_case(labeled, "mask", index, cfg)


def edit_case(labeled, category: str, index: int, cfg: FitConfig = EDIT_FIT, **edit_options) -> EditCase:
    """One held-out edit (edit_options: keyword arguments of edit_subject, e.g. keep weights)."""
    gen, branch = require_branch(labeled, "evaluation")
    seed, donor_seed, pose = case_seed(index), case_seed(index + 500), target_pose(gen, index)
    part = labeled.label_set.id_of(EDIT_PART[category])
    subject = gen.sample([seed])
    before = render_view(labeled, subject, pose)
    donor = render_view(labeled, gen.sample([donor_seed]), pose)
    edited = transplant_part(before.labels, donor.labels, part)
    t0 = time.perf_counter()
    result = edit_subject(labeled, subject.ws, pose, edited, cfg, before=before, **edit_options)
    seconds = time.perf_counter() - t0
    scores = edit_scores(result, branch.config.num_classes)
    others = spread_orbit_cameras(OTHER_VIEWS, gen.orbit)
    with torch.no_grad():
        lab_before = labeled.render(subject, others).labels
        lab_after = labeled.render(result.fit.subject, others).labels
    changed = lab_before != lab_after
    involves = changed & ((lab_before == part) | (lab_after == part))
    share = float(involves.sum() / changed.sum()) if changed.any() else 1.0
    area_before = float((lab_before == part).sum())
    area_change = float((lab_after == part).sum()) / max(area_before, 1.0) - 1.0
    return EditCase(seed, donor_seed, EDIT_PART[category], pose.degrees, scores["region_pixels"], seconds,
                    region_miou=scores["region_miou"], outside_psnr=scores["outside_psnr"],
                    other_views_part_share=share, part_area_change=area_change,
                    region_accuracy=scores["region_accuracy"], part_iou=part_iou(result.after.labels, edited, part))


def pooled_mask_miou(rows: list[dict]) -> float:
    """mIoU of the confusion summed over all mask cases (a part a few pixels wide in one target
    weighs by its pixels, not as a whole class)."""
    return segmentation_scores(sum(torch.tensor(r["confusion"]) for r in rows)).miou


def summarize(cases: list) -> dict:
    rows = [asdict(c) for c in cases]
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and k not in ("seed", "donor_seed")]
    mean = {k: sum(r[k] for r in rows if r[k] is not None) / max(sum(r[k] is not None for r in rows), 1)
            for k in keys}
    worst = {}
    for k in ("psnr", "miou", "region_miou", "region_accuracy", "part_iou", "outside_psnr", "other_views_part_share"):
        vals = [r[k] for r in rows if r.get(k) is not None]
        if vals:
            worst[k] = min(vals)
    if any(r.get("yaw_error_deg") is not None for r in rows):
        worst["yaw_error_deg"] = max(r["yaw_error_deg"] for r in rows if r["yaw_error_deg"] is not None)
    worst["seconds"] = max(r["seconds"] for r in rows)
    return {"mean": mean, "worst": worst, "cases": rows}
