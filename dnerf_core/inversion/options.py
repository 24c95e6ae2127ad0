"""`dnerf invert` / `dnerf edit` settings, defined once (no torch here: the CLI reads them at start)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..options import opt, validate_fields
from .config import DEFAULT_KEEP_WEIGHT, DEFAULT_LABEL_KEEP_WEIGHT, DEFAULT_REGION_WEIGHT, EDIT_FIT, FitConfig

MAX_STEPS = 100_000
MAX_PREVIEW_VIEWS = 32


@dataclass(frozen=True)
class InvertOptions:
    """`dnerf invert`'s fit settings (the rest of the fit is the library's for the target kind)."""

    steps: int | None = field(default=None, metadata=opt(
        "Adam steps [default: the library's for the target kind]", min=1, max=MAX_STEPS))
    starts: int = field(default=2, metadata=opt("best poses of the coarse search refined before one is kept",
                                                min=1, max=12))
    w_plus: bool | None = field(default=None, metadata=opt(
        "fit one w per synthesis layer, or one w for all [default: w+ for a mask, one w for an image]",
        spelling="--w-plus/--one-w"))
    fit_radius: bool = field(default=False, metadata=opt("also fit the camera's distance", flag=True))
    fit_seed: int = field(default=0, metadata=opt("randomness of the fit (ray subsets): same seed, same result",
                                                  min=0))
    views: int = field(default=5, metadata=opt("preview views spread over the orbit (after the fitted view)",
                                               min=0, max=MAX_PREVIEW_VIEWS, short="-n"))

    def validate(self) -> "InvertOptions":
        validate_fields(self)
        return self

    def fit_config(self, kind: str) -> FitConfig:
        """The FitConfig of an inversion of `kind` with these settings."""
        from .jobs import default_fit  # the library's settings per target kind (needs torch)

        base = default_fit(kind)
        steps = self.steps or base.steps
        return replace(base, steps=steps, pose_starts=self.starts,
                       w_plus=base.w_plus if self.w_plus is None else self.w_plus, fit_radius=self.fit_radius,
                       seed=self.fit_seed, search_steps=min(base.search_steps, steps - 1)).validate()


@dataclass(frozen=True)
class EditOptions:
    """`dnerf edit`'s settings: fit steps, the three loss weights, previews."""

    steps: int = field(default=EDIT_FIT.steps, metadata=opt("Adam steps", min=1, max=MAX_STEPS))
    keep_weight: float = field(default=DEFAULT_KEEP_WEIGHT, metadata=opt(
        "weight of keeping the RGB outside the edited region", min=0))
    label_keep_weight: float = field(default=DEFAULT_LABEL_KEEP_WEIGHT, metadata=opt(
        "weight of keeping the part labels outside the edited region, 0 = off", min=0))
    region_weight: float = field(default=DEFAULT_REGION_WEIGHT, metadata=opt(
        "weight of matching the edited labels inside the region", min=0, min_open=True))
    fit_seed: int = field(default=0, metadata=opt("randomness of the fit (ray subsets): same seed, same result",
                                                  min=0))
    views: int = field(default=5, metadata=opt("preview views spread over the orbit (after the edited view)",
                                               min=0, max=MAX_PREVIEW_VIEWS, short="-n"))

    def validate(self) -> "EditOptions":
        validate_fields(self)
        return self

    def fit_config(self) -> FitConfig:
        return replace(EDIT_FIT, steps=self.steps, seed=self.fit_seed).validate()
