"""Whole inversion / edit jobs as the CLI and the Blender add-on run them: read the target, fit,
write the fitted subject, a preview sheet and a JSON report into an output folder (staged: all
files appear together, or none)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DnerfError
from ..io.metrics import confusion_matrix, psnr, segmentation_scores
from ..io.atomic import atomic_write_text, staged_output
from ..io.masks import write_mask_png
from .config import FitConfig
from .edit import (DEFAULT_KEEP_WEIGHT, DEFAULT_LABEL_KEEP_WEIGHT, DEFAULT_REGION_WEIGHT, EDIT_FIT, edit_scores,
                   edit_subject, render_view)
from .fit import FitResult, Progress, synthesize_ws
from .inputs import load_label_mask, load_rgb_image, require_branch, unwrap
from .mask import MASK_FIT, invert_mask
from .pose import Pose
from .preview import preview_cameras, view_rows, write_sheet
from .rgb import invert_rgb
from .subject_file import FittedSubject, fitted_from, save_fitted

SUBJECT_FILE = "subject.pt"
PREVIEW_FILE = "preview.png"
REPORT_FILE = "report.json"


@dataclass
class JobOutcome:
    fitted: FittedSubject
    report: dict
    files: list[Path] = field(default_factory=list)


def _write(out, fitted: FittedSubject, rows, report: dict) -> list[Path]:
    with staged_output(out) as staged:
        save_fitted(staged.stage / SUBJECT_FILE, fitted)
        write_sheet(staged.stage / PREVIEW_FILE, rows)
        atomic_write_text(staged.stage / REPORT_FILE, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return staged.published


def _fit_report(kind: str, fit: FitResult, seconds: float) -> dict:
    return {"kind": kind, "pose_degrees": list(fit.pose.degrees), "radius": fit.pose.radius,
            "seconds": round(seconds, 2), "loss_first": fit.losses[0], "loss_last": fit.losses[-1],
            "starts": [{"pose_degrees": list(p.degrees), "loss": s} for p, s in fit.starts]}


def read_target(labeled, kind: str, path: str | Path) -> Tensor:
    """The target of an inversion: an RGB image [3,H,W] (kind "rgb") or part-mask ids [H,W] ("mask")."""
    if kind == "rgb":
        return load_rgb_image(path)
    if kind == "mask":
        gen, _ = require_branch(labeled, "mask inversion")
        return load_label_mask(path, labeled.label_set, gen.config.img_resolution)
    raise DnerfError(f"unknown inversion kind {kind!r}")


def default_fit(kind: str) -> FitConfig:
    """The library's fit settings for an inversion of `kind` ("rgb" or "mask")."""
    return MASK_FIT if kind == "mask" else FitConfig()


def run_invert(labeled, kind: str, target: Tensor, source: str, out, config: FitConfig | None = None,
               views: int = 5, progress: Progress | None = None) -> JobOutcome:
    """Invert an RGB image (kind "rgb") or part-mask ids (kind "mask", see read_target) and write
    the outputs; `source` names where the target came from (kept in the subject file)."""
    gen, branch = unwrap(labeled)
    t0 = time.perf_counter()
    if kind == "rgb":
        image = target
        fit = invert_rgb(gen, image, config or default_fit(kind), progress=progress)
    else:
        mask = target
        fit = invert_mask(labeled, mask, config or default_fit(kind), progress=progress)
        branch = labeled.branch
    report = _fit_report(kind, fit, time.perf_counter() - t0)
    with torch.no_grad():
        got = labeled.render(fit.subject, fit.pose.cameras(gen.orbit)).cpu()
    if kind == "rgb":
        target = F.interpolate(image[None], size=got.rgb.shape[-2:], mode="area")
        report["psnr"] = float(psnr(got.rgb, target)[0])
    else:
        report["miou"] = segmentation_scores(confusion_matrix(got.labels[0], mask, branch.config.num_classes)).miou
    fitted = fitted_from(labeled, fit.ws, fit.pose, kind, {"target": source})
    rows = view_rows(labeled, fit.subject, preview_cameras(gen, fit.pose, views))
    return JobOutcome(fitted, report, _write(out, fitted, rows, report))


def run_edit(labeled, ws: Tensor, pose: Pose, mask: Tensor, out, config: FitConfig = EDIT_FIT,
             keep_weight: float = DEFAULT_KEEP_WEIGHT, views: int = 5, info: dict | None = None,
             progress: Progress | None = None, label_keep_weight: float = DEFAULT_LABEL_KEEP_WEIGHT,
             region_weight: float = DEFAULT_REGION_WEIGHT) -> JobOutcome:
    """Edit the subject `ws` so its view at `pose` shows the part-mask ids `mask`; write outputs."""
    gen, branch = require_branch(labeled, "editing")
    t0 = time.perf_counter()
    result = edit_subject(labeled, ws, pose, mask, config, keep_weight, progress, label_keep_weight=label_keep_weight,
                          region_weight=region_weight)
    report = {**_fit_report("edit", result.fit, time.perf_counter() - t0),
              **edit_scores(result, branch.config.num_classes)}
    fitted = fitted_from(labeled, result.fit.ws, pose, "edit", dict(info or {}))
    cams = preview_cameras(gen, pose, views)
    before = synthesize_ws(gen, ws)
    rows = view_rows(labeled, before, cams) + view_rows(labeled, result.fit.subject, cams)
    return JobOutcome(fitted, report, _write(out, fitted, rows, report))


def write_view_mask(labeled, subject, pose: Pose, path: str | Path) -> Tensor:
    """The subject's part mask of one view as a palette PNG (to paint an edit on); returns it."""
    view = render_view(labeled, subject, pose)
    write_mask_png(path, view.labels.numpy(), labeled.label_set)
    return view.labels
