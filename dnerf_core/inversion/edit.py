"""3D-aware semantic editing by inversion (DatasetNeRF sec. 4.4).

Given a subject, one view of it and an edited part mask of that view: the region of interest is
every pixel whose label the edit changed; the subject's w+ is optimized so the semantic rendering
matches the edited labels inside the region (cross-entropy) while the RGB stays what it was
outside it (squared error; no perceptual network is available offline) and, beyond the paper, so do
the labels there (cross-entropy; label_keep_weight=0 turns it off). The result is a new subject: a
3D change, so every other view shows the edit too.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..errors import DnerfError
from ..labels import IGNORE_ID
from .config import FitConfig
from .fit import FitResult, Progress, fit_view, synthesize_ws
from .inputs import check_label_tensor, require_branch
from .objective import ViewObjective
from .pose import Pose
from .targets import label_term, resize_labels, rgb_term

EDIT_FIT = FitConfig(steps=150, search_steps=0, pose_starts=1, w_plus=True, fit_pose=False, lr_latent=0.01)
# Keeping the unedited pixels is worth this many label cross-entropies per unit of squared error.
# On the 10 held-out edit cases of scripts/eval_inversion.py, 150 (was 60) met both the region (IoU
# 0.8) and the outside (28 dB) targets in 8 cases instead of 6: PSNR outside rose in 9 cases (by
# 0.6-7 dB), the region IoU fell in four (most: face 0.91 -> 0.84, car 1.0 -> 0.82).
DEFAULT_KEEP_WEIGHT = 150.0
# Weight of the label cross-entropy outside the region (chosen when the region's weighed 1): with RGB
# alone a changed part's labels faded where the edit did not touch it (car roof IoU over the view 0.04-0.63).
DEFAULT_LABEL_KEEP_WEIGHT = 1.0
# Weight of the label cross-entropy inside the region (the edit itself), and the probability at
# which an edit's label pixel counts as done and stops pulling (objective.settled_cross_entropy).
# On the 10 held-out edits of scripts/eval_inversion.py, weight 1 / every pixel pulling
# -> 2 / settled at 0.9: face region mIoU 0.76 -> 0.86 (case 0: hair that had to go now goes, region
# pixels right 85% -> 96%), PSNR outside worst 31.0 -> 29.3 dB; car region unchanged (0.93), PSNR
# outside 1.5-2 dB lower in two cases (worst 28.0 -> 26.4). Weight 2 with every pixel pulling:
# the same face gain (0.83) but the car 2-3 dB lower in every case.
DEFAULT_REGION_WEIGHT = 2.0
SETTLED_PROBABILITY = 0.9
# Shares of a step's label rays inside / outside the region: 3 + 2 patches, what the region term
# alone rendered (a fourth or fifth patch on a region of ~50 pixels mostly overlapped the others).
# Weight 2 with 2 + 2 patches lost region IoU (car 1.0 -> 0.65 in one case); a full extra term
# cost 15 s per edit.
LABEL_SHARES = (0.6, 0.4)


@dataclass(frozen=True)
class EditView:
    """The view an edit was drawn on, as the subject rendered it before the edit: RGB [3,H,W]
    and labels [H,W] at the output resolution."""

    pose: Pose
    rgb: Tensor
    labels: Tensor


@dataclass
class EditResult:
    """The edited subject (fit.subject, fit.ws), what defined the edit (the view before it, the
    edited mask [H,W], the region of interest [H,W]: pixels whose label was changed) and the same
    view after it."""

    fit: FitResult
    before: EditView
    edited: Tensor
    region: Tensor
    after: EditView

    @property
    def region_accuracy(self) -> float:
        """Share of the region's pixels showing the edited label after the edit."""
        return float((self.after.labels[self.region] == self.edited[self.region]).double().mean())


@torch.no_grad()
def render_view(labeled, subject, pose: Pose) -> EditView:
    """The labeled generator's full render of one view (RGB and argmax labels)."""
    gen, _ = require_branch(labeled, "editing")
    out = labeled.render(subject, pose.cameras(gen.orbit))
    return EditView(pose, out.rgb[0], out.labels[0])


def edit_region(before: Tensor, edited: Tensor) -> Tensor:
    """[H,W] bool: where the edit changed the label (ignored pixels never count)."""
    return (edited != before) & (edited != IGNORE_ID)


def transplant_part(before: Tensor, donor: Tensor, label: int) -> Tensor:
    """An edited mask: `before` with part `label` given the shape it has in `donor` (another
    subject's mask of the same view); pixels the part leaves take the donor's label there."""
    take = (before == label) | (donor == label)
    return torch.where(take, donor, before)


def edit_subject(labeled, ws: Tensor, pose: Pose, edited_mask: Tensor, config: FitConfig = EDIT_FIT,
                 keep_weight: float = DEFAULT_KEEP_WEIGHT, progress: Progress | None = None,
                 before: EditView | None = None, label_keep_weight: float = DEFAULT_LABEL_KEEP_WEIGHT,
                 region_weight: float = DEFAULT_REGION_WEIGHT) -> EditResult:
    """Edit the subject with latents `ws` [1,num_ws,w_dim] so its view at `pose` shows `edited_mask`
    [H,W] (label ids at the generator's output resolution; 255 = don't care). `before`: the view
    as render_view already gave it for these ws and pose (saves rendering it again). Loss weights:
    region_weight (labels inside the region), keep_weight (RGB outside), label_keep_weight (labels
    outside)."""
    gen, branch = require_branch(labeled, "editing")
    if ws.ndim != 3 or ws.shape[0] != 1 or ws.shape[1] not in (1, gen.num_ws) or ws.shape[2] != gen.config.w_dim:
        raise DnerfError(f"ws must be [1,{gen.num_ws},{gen.config.w_dim}], got {tuple(ws.shape)}")
    if keep_weight < 0 or label_keep_weight < 0:
        raise DnerfError(f"keep weights must be >= 0, got {keep_weight} (RGB) and {label_keep_weight} (labels)")
    if region_weight <= 0:
        raise DnerfError(f"the region weight must be > 0, got {region_weight}")
    edited = check_label_tensor(edited_mask, branch.config.num_classes, gen.config.img_resolution)
    if before is None:
        with torch.no_grad():
            before = render_view(labeled, synthesize_ws(gen, ws), pose)
    region = edit_region(before.labels, edited)
    if not region.any():
        raise DnerfError("the edited mask is identical to the subject's current mask in this view: nothing to edit")
    res = gen.rendering.neural_resolution
    region_small = resize_labels(region.to(torch.int64), res).bool()
    terms = (rgb_term(before.rgb, res, where=~region_small, weight=keep_weight),)
    if label_keep_weight > 0:
        inside, outside = LABEL_SHARES
        terms += (label_term(edited, where=region, weight=region_weight, share=inside, settled=SETTLED_PROBABILITY),
                  label_term(edited, where=~region, weight=label_keep_weight, share=outside,
                             settled=SETTLED_PROBABILITY))
    else:
        terms += (label_term(edited, where=region, weight=region_weight, settled=SETTLED_PROBABILITY),)
    cfg = replace(config, fit_pose=False)
    fit = fit_view(gen, branch, ViewObjective(res, terms, scale=branch.superres.scale), ws, cfg, pose, progress)
    return EditResult(fit=fit, before=before, edited=edited, region=region,
                      after=render_view(labeled, fit.subject, pose))
