"""Public API, inversion side: fit a latent and pose to an image or part mask, and edit a subject
in 3D by redrawing one view's part mask.

    >>> import tempfile, dnerf_core as dn
    >>> work = tempfile.mkdtemp()
    >>> labeled = dn.load_generator("default:face", device="cpu")   # with its shipped semantic branch
    >>> start = dn.edit_start(labeled, seed=3, view=(0.0, 0.0))     # yaw, pitch in degrees
    >>> ids = dn.write_view_mask(labeled, start, f"{work}/mask.png")  # paint on it, then dn.edit(...)
    >>> tuple(ids.shape), int(ids.max()) < len(labeled.label_set)
    ((64, 64), True)
    >>> dn.invert(labeled, f"{work}/fit", options=dn.InvertOptions(steps=2))
    Traceback (most recent call last):
    ...
    dnerf_core.errors.DnerfError: give exactly one of --rgb IMAGE or --mask MASK
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from ..errors import DnerfError
from ..inversion.fit import Progress, synthesize_ws
from ..inversion.jobs import JobOutcome, read_target, run_edit, run_invert
from ..inversion.jobs import write_view_mask as _write_view_mask
from ..inversion.options import EditOptions, InvertOptions
from ..inversion.edit import edit_subject, render_view
from ..inversion.inputs import require_branch
from ..inversion.pose import MAX_ABS_PITCH, Pose
from ..inversion.subject_file import fitted_from, load_fitted, save_fitted

__all__ = ["EditOptions", "EditStart", "InvertOptions", "JobOutcome", "MAX_ABS_PITCH", "Pose", "edit", "edit_start",
           "edit_subject", "invert", "render_view", "require_branch", "save_edited", "write_view_mask"]


def invert(labeled, out: str | Path, *, rgb: str | Path | None = None, mask: str | Path | None = None,
           options: InvertOptions | None = None, progress: Progress | None = None) -> JobOutcome:
    """Fit a latent and camera pose to the RGB image `rgb` or the part mask `mask` (exactly one) and
    write subject.pt, preview.png and report.json into the new folder `out`."""
    if (rgb is None) == (mask is None):
        raise DnerfError("give exactly one of --rgb IMAGE or --mask MASK")
    kind, path = ("rgb", rgb) if rgb is not None else ("mask", mask)
    opts = (options or InvertOptions()).validate()
    target = read_target(labeled, kind, path)
    return run_invert(labeled, kind, target, str(path), out, opts.fit_config(kind), opts.views, progress)


@dataclass(frozen=True)
class EditStart:
    """The subject an edit starts from: ws [1,num_ws,w_dim], the edited view's pose, and where the
    subject came from ({"seed": S} or {"subject": FILE}, kept in the edit's report)."""

    ws: Tensor
    pose: Pose
    info: dict


def edit_start(labeled, seed: int | None = None, subject_file: str | Path | None = None,
               view: tuple[float, float] | None = None) -> EditStart:
    """The subject of `seed` or of a fitted `subject_file` (exactly one), seen from `view` = (yaw,
    pitch) in degrees (default: the subject file's own pose; required with a seed)."""
    gen, _ = require_branch(labeled, "editing")
    if (seed is None) == (subject_file is None):
        raise DnerfError("give exactly one of --seed S or --subject FILE")
    if subject_file is not None:
        fitted = load_fitted(subject_file, labeled)
        ws, pose, info = fitted.ws, fitted.pose, {"subject": str(subject_file)}
    else:
        ws, pose, info = gen.sample([seed]).ws, None, {"seed": seed}
    if view is not None:
        pose = Pose(math.radians(view[0]), math.radians(view[1]), gen.orbit.radius)
    if pose is None:
        raise DnerfError("--view YAW,PITCH is required with --seed")
    return EditStart(ws, pose, info)


def edit(labeled, start: EditStart, mask: str | Path, out: str | Path, options: EditOptions | None = None,
         progress: Progress | None = None) -> JobOutcome:
    """Edit `start`'s subject so its view shows the part mask `mask` (a PNG of that view); write
    subject.pt, preview.png (before / after) and report.json into the new folder `out`."""
    opts = (options or EditOptions()).validate()
    target = read_target(labeled, "mask", mask)
    return run_edit(labeled, start.ws, start.pose, target, out, opts.fit_config(), opts.keep_weight, opts.views,
                    {**start.info, "mask": str(mask)}, progress, opts.label_keep_weight, opts.region_weight)


def write_view_mask(labeled, start: EditStart, out: str | Path) -> Tensor:
    """Write the part mask of `start`'s view as a palette PNG (to paint an edit on); returns the ids."""
    return _write_view_mask(labeled, synthesize_ws(labeled.generator, start.ws), start.pose, out)


def save_edited(path: str | Path, labeled, ws: Tensor, pose: Pose, info: dict | None = None) -> Path:
    """Write the subject file (what `dnerf edit` writes as subject.pt) of an edit made in memory
    with edit_subject: its ws, the edited view's pose, and `info` (kept in the file)."""
    save_fitted(path, fitted_from(labeled, ws, pose, kind="edit", info=info))
    return Path(path)
