"""Settings of one inversion or edit (one dataclass, documented fields)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import DnerfError
from ..options import finite


@dataclass(frozen=True)
class FitConfig:
    """How a latent (and pose) is fitted to a target view.

    steps: Adam steps in total for the start that is kept (its share of the search included);
    search_steps: steps every pose start gets before all but the best are dropped;
    pose_starts: how many of the coarse search's best yaws are refined (1 = trust the search);
    rays_per_step: pixels rendered per step and per loss term (a random subset of the target);
    samples: coarse + importance samples per ray while fitting (the final views use the
        generator's own, usually more);
    lr_latent / lr_pose: Adam learning rates of w and of yaw/pitch (radians) / radius;
    w_plus: fit one w per synthesis layer (more freedom, the default for edits) instead of one w;
    fit_pose: optimize the camera (inversion); False keeps it fixed (edits of a known view);
    fit_radius: also fit the orbit radius;
    anchor: weight of keeping the latent near where it started (mean squared change of w+): an
        edit then changes what the mask asks for and little else;
    seed: randomness of the ray subsets and sample jitter (same seed, same result).
    """

    steps: int = 120
    search_steps: int = 60
    pose_starts: int = 2
    rays_per_step: int = 768
    samples: tuple[int, int] = (24, 24)
    lr_latent: float = 0.03
    lr_pose: float = 0.03
    w_plus: bool = False
    fit_pose: bool = True
    fit_radius: bool = False
    anchor: float = 0.0
    seed: int = 0

    def validate(self) -> "FitConfig":
        for name in ("steps", "search_steps", "pose_starts", "rays_per_step", "lr_latent", "lr_pose", "anchor"):
            finite(name, getattr(self, name))
        if self.steps < 1 or self.search_steps < 0 or self.pose_starts < 1:
            raise DnerfError("steps must be >= 1, search steps >= 0 and pose starts >= 1")
        if self.search_steps >= self.steps and self.pose_starts > 1:
            raise DnerfError(f"search steps ({self.search_steps}) must be fewer than steps ({self.steps})")
        if self.rays_per_step < 1 or min(self.samples) < 0 or self.samples[0] < 2:
            raise DnerfError("need at least one ray per step and two coarse samples per ray")
        if self.anchor < 0:
            raise DnerfError("the latent anchor weight must be >= 0")
        if self.lr_latent <= 0 or self.lr_pose <= 0:
            raise DnerfError("learning rates must be positive")
        return self


EDIT_FIT = FitConfig(steps=150, search_steps=0, pose_starts=1, w_plus=True, fit_pose=False, lr_latent=0.01)
# Keeping the unedited pixels is worth this many label cross-entropies per unit of squared error.
# On the 10 held-out edit cases of research/scripts/eval_inversion.py, 150 (was 60) met both the region (IoU
# 0.8) and the outside (28 dB) targets in 8 cases instead of 6: PSNR outside rose in 9 cases (by
# 0.6-7 dB), the region IoU fell in four (most: face 0.91 -> 0.84, car 1.0 -> 0.82).
DEFAULT_KEEP_WEIGHT = 150.0
# Weight of the label cross-entropy outside the region (chosen when the region's weighed 1): with RGB
# alone a changed part's labels faded where the edit did not touch it (car roof IoU over the view 0.04-0.63).
DEFAULT_LABEL_KEEP_WEIGHT = 1.0
# Weight of the label cross-entropy inside the region (the edit itself), and the probability at
# which an edit's label pixel counts as done and stops pulling (objective.settled_cross_entropy).
# On the 10 held-out edits of research/scripts/eval_inversion.py, weight 1 / every pixel pulling
# -> 2 / settled at 0.9: face region mIoU 0.76 -> 0.86 (case 0: hair that had to go now goes, region
# pixels right 85% -> 96%), PSNR outside worst 31.0 -> 29.3 dB; car region unchanged (0.93), PSNR
# outside 1.5-2 dB lower in two cases (worst 28.0 -> 26.4). Weight 2 with every pixel pulling:
# the same face gain (0.83) but the car 2-3 dB lower in every case.
DEFAULT_REGION_WEIGHT = 2.0
