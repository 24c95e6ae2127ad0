"""Settings of one inversion or edit (one dataclass, documented fields)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import DnerfError


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
