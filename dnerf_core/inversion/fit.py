"""The fitting loop shared by RGB inversion, mask inversion and editing: Adam on a latent (one w
or w+) and, for inversions, on the camera pose, from several pose starts of which the best is kept.

Starts: a coarse search renders the starting latent at yaws spread over the generator's orbit
(no gradients, all pixels) and keeps the `pose_starts` best; each is refined for `search_steps`,
the one with the lowest loss continues to `steps`.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from ..generators.base import Subject
from .config import FitConfig
from .objective import PixelTerm, ViewObjective, fitting_rendering, objective_loss
from .pose import Pose, distinct_starts, pose_cameras, search_poses
from .targets import nearest_centers

# Loss of a start = mean over its last steps (one step's loss is noisy: random ray subsets).
LOSS_WINDOW = 5
# Pixels per side of the coarse pose search's renders (cheap, still shows the silhouette).
SEARCH_RESOLUTION = 24
INVERTED_SEED = -1  # Subject.seeds entry of a fitted subject: it comes from no seed

Progress = Callable[[int, float], None]  # (steps done, current loss)


@dataclass
class FitResult:
    """ws [1,num_ws,w_dim] of the fitted subject, its pose, the loss per step of the kept start,
    the final loss of every refined start (pose, loss), and the subject (planes cached)."""

    ws: Tensor
    pose: Pose
    losses: list[float]
    starts: list[tuple[Pose, float]] = field(default_factory=list)
    subject: Subject | None = None


class _Params:
    """The tensors Adam updates for one start."""

    def __init__(self, w: Tensor, pose: Pose, cfg: FitConfig, num_ws: int):
        w = w.detach().clone()
        if cfg.w_plus and w.shape[1] == 1:
            w = w.expand(-1, num_ws, -1).clone()
        self.w = w.requires_grad_(True)
        self.start = w.detach().clone()
        self.num_ws = num_ws
        self.yaw = torch.tensor([pose.yaw], requires_grad=cfg.fit_pose)
        self.pitch = torch.tensor([pose.pitch], requires_grad=cfg.fit_pose)
        self.radius = torch.tensor([pose.radius], requires_grad=cfg.fit_pose and cfg.fit_radius)
        groups = [{"params": [self.w], "lr": cfg.lr_latent}]
        pose_params = [p for p in (self.yaw, self.pitch, self.radius) if p.requires_grad]
        if pose_params:
            groups.append({"params": pose_params, "lr": cfg.lr_pose})
        self.optimizer = torch.optim.Adam(groups, betas=(0.9, 0.99))

    def ws(self) -> Tensor:
        return self.w.expand(-1, self.num_ws, -1)

    def pose(self) -> Pose:
        return Pose(float(self.yaw.detach()), float(self.pitch.detach()), float(self.radius.detach()))


def synthesize_ws(generator, ws: Tensor) -> Subject:
    """The subject of latents ws [1,1 or num_ws,w_dim] (one w is broadcast to every layer)."""
    return generator.synthesize(ws.expand(-1, generator.num_ws, -1), [INVERTED_SEED])


def _step(generator, branch, params: _Params, objective: ViewObjective, cfg: FitConfig, gen: torch.Generator,
          orbit) -> float:
    rendering = fitting_rendering(generator.rendering, cfg.samples, objective.resolution)
    subject = synthesize_ws(generator, params.w)
    cams = pose_cameras(params.yaw, params.pitch, params.radius, orbit)
    loss = objective_loss(generator, branch, subject, cams, objective, rendering, cfg.rays_per_step, gen)
    if cfg.anchor > 0:
        loss = loss + cfg.anchor * (params.w - params.start).square().mean()
    params.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params.optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def rank_poses(generator, branch, w: Tensor, objective: ViewObjective, candidates: list[Pose],
               cfg: FitConfig) -> list[tuple[Pose, float]]:
    """Candidates sorted by the loss of the starting latent rendered there (all pixels of a
    coarse view, deterministic samples)."""
    coarse = downsample_objective(objective, SEARCH_RESOLUTION)
    rendering = fitting_rendering(generator.rendering, cfg.samples, coarse.resolution)
    subject = synthesize_ws(generator, w)
    scored = []
    for pose in candidates:
        scored.append((pose, float(objective_loss(generator, branch, subject, pose.cameras(generator.orbit), coarse,
                                                  rendering, cfg.rays_per_step, None))))
    return sorted(scored, key=lambda s: s[1])


def downsample_objective(objective: ViewObjective, resolution: int) -> ViewObjective:
    """The same terms on a coarser pixel grid (nearest pixel centers), for cheap searches; label
    terms are scored before super-resolution there ("labels_raw")."""
    terms = []
    for t in objective.terms:
        src = objective.resolution * (objective.scale if t.kind == "labels" else 1)
        ij = nearest_centers(src, resolution)
        full = (ij[:, None] * src + ij[None, :]).reshape(-1)  # coarse pixel -> source pixel
        lookup = torch.full((src * src,), -1, dtype=torch.long)
        lookup[t.pixels] = torch.arange(len(t.pixels))
        hit = lookup[full]
        keep = hit >= 0
        if keep.any():
            draw = None if t.draw is None else t.draw[hit[keep]]
            kind = "labels_raw" if t.kind == "labels" else t.kind
            terms.append(PixelTerm(kind, torch.nonzero(keep)[:, 0], t.target[hit[keep]], t.weight, draw, t.share))
    return ViewObjective(resolution, tuple(terms))


def fit_view(generator, branch, objective: ViewObjective, w_init: Tensor, cfg: FitConfig,
             pose: Pose | None = None, progress: Progress | None = None) -> FitResult:
    """Fit the latent (and, with cfg.fit_pose, the pose) of `generator` to one view.

    w_init: [1,1,w_dim] or [1,num_ws,w_dim] starting latent; pose: the starting (or, without
    fit_pose, the fixed) camera — None searches the orbit for the starts."""
    cfg = cfg.validate()
    with frozen(generator, branch):
        return _fit_view(generator, branch, objective, w_init, cfg, pose, progress)


@contextlib.contextmanager
def frozen(*modules):
    """Weights need no gradients while fitting latents; their flags are restored afterwards."""
    params = [p for m in modules if m is not None for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def _fit_view(generator, branch, objective: ViewObjective, w_init: Tensor, cfg: FitConfig, pose: Pose | None,
              progress: Progress | None) -> FitResult:
    gen = torch.Generator().manual_seed(cfg.seed)
    if pose is not None:
        starts = [pose]
    else:
        ranked = rank_poses(generator, branch, w_init, objective, search_poses(generator.orbit), cfg)
        starts = distinct_starts([p for p, _ in ranked], cfg.pose_starts, generator.orbit)
    done = 0
    runs = []
    search = cfg.search_steps if len(starts) > 1 else 0
    for start in starts:
        params = _Params(w_init, start, cfg, generator.num_ws)
        losses = []
        for _ in range(search):
            losses.append(_step(generator, branch, params, objective, cfg, gen, generator.orbit))
            done += 1
            if progress:
                progress(done, losses[-1])
        runs.append((params, losses))
    scores = [sum(ls[-LOSS_WINDOW:]) / max(len(ls[-LOSS_WINDOW:]), 1) if ls else math.inf for _, ls in runs]
    best = min(range(len(runs)), key=scores.__getitem__)
    params, losses = runs[best]
    while len(losses) < cfg.steps:
        losses.append(_step(generator, branch, params, objective, cfg, gen, generator.orbit))
        done += 1
        if progress:
            progress(done, losses[-1])
    scores[best] = sum(losses[-LOSS_WINDOW:]) / len(losses[-LOSS_WINDOW:])
    with torch.no_grad():
        ws = params.ws().detach().clone()
        subject = synthesize_ws(generator, ws)
    return FitResult(ws=ws, pose=params.pose(), losses=losses,
                     starts=[(p.pose(), s) for (p, _), s in zip(runs, scores)], subject=subject)


def total_steps(cfg: FitConfig, n_starts: int) -> int:
    """Steps fit_view reports through progress (for progress bars)."""
    return cfg.steps + (cfg.search_steps * (n_starts - 1) if n_starts > 1 else 0)
