"""Mask inversion: the latent and camera pose whose semantic rendering reproduces a part mask."""
from __future__ import annotations

from torch import Tensor

from .config import FitConfig
from .fit import FitResult, Progress, fit_view
from .inputs import check_label_tensor, require_branch
from .objective import ViewObjective
from .pose import Pose
from .rgb import average_latent
from .targets import label_term


# A label step costs about twice an RGB step (the semantic field and its super-resolution on top);
# part labels tell a car's front from its back sooner than colors do, so the starts need fewer
# steps: this keeps a mask inversion of the defaults under a minute on 2 cores. w+ (same cost per
# step) follows a mask more closely than one w: it raised held-out mIoU from 0.59/0.69 to 0.69/0.75
# on two face targets and 0.80/0.85/0.92 to 0.80/0.92/0.96 on three car targets
# (research/scripts/eval_inversion.py cases 0-2). 110 steps, the two starts' 30 search steps included (so a
# case renders 140). With the plain-CE face branch 140 steps helped the face (0.733 -> 0.772) at
# ~56 s a case; the class-balanced face branch draws small parts larger and 110 steps suffice
# (research/results/inversion_face.json), keeping the slowest case clear of a minute.
MASK_FIT = FitConfig(steps=110, search_steps=30, w_plus=True)


def invert_mask(generator, mask: Tensor, config: FitConfig = MASK_FIT, pose: Pose | None = None,
                progress: Progress | None = None) -> FitResult:
    """Fit w (or w+) and the pose so the semantic branch renders `mask` [H,W] (label ids; 255 is
    ignored). `generator` is a LabeledGenerator (or anything with .generator and .branch)."""
    gen, branch = require_branch(generator, "mask inversion")
    mask = check_label_tensor(mask, branch.config.num_classes, gen.config.img_resolution)
    res = gen.rendering.neural_resolution
    objective = ViewObjective(res, (label_term(mask),), scale=branch.superres.scale)
    return fit_view(gen, branch, objective, average_latent(gen), config, pose, progress)
