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
from ..io.metrics import confusion_matrix, segmentation_scores
from ..labels import IGNORE_ID
from .config import DEFAULT_KEEP_WEIGHT, DEFAULT_LABEL_KEEP_WEIGHT, DEFAULT_REGION_WEIGHT, EDIT_FIT, FitConfig
from .fit import FitResult, Progress, fit_view, synthesize_ws
from .inputs import check_label_tensor, require_branch
from .objective import ViewObjective
from .pose import Pose
from .targets import label_term, resize_labels, rgb_term

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
    return EditView(pose, out.rgb[0].cpu(), out.labels[0].cpu())


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


def edit_scores(result: EditResult, num_classes: int) -> dict:
    """How well the edited view shows the edit: mIoU inside the region vs the edited mask (every
    label present there counts, so one missed pixel of a 1-pixel label costs a whole class), the
    share of region pixels that are right, and RGB PSNR outside the region vs the view before
    the edit (region_pixels, region_miou, region_accuracy, outside_psnr)."""
    after, region = result.after, result.region
    conf = confusion_matrix(after.labels[region], result.edited[region], num_classes)
    mse = ((after.rgb - result.before.rgb) ** 2).mean(0)[~region].mean() if (~region).any() else torch.tensor(0.0)
    return {"region_pixels": int(region.sum()), "region_miou": segmentation_scores(conf).miou,
            "region_accuracy": result.region_accuracy,
            "outside_psnr": float(10 * torch.log10(1 / mse.clamp_min(1e-12)))}
