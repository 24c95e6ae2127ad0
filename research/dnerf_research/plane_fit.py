"""Free tri-planes fitted to ONE oracle subject: what the default generator's representation can
hold per subject (no synthesis network, so no latent to generalize from).

Free 3 x C x R x R planes and a default-sized decoder (same learning-rate multiplier) are fitted
with the distillation's 3D losses (occupancy BCE at points near the surface and in the box, color
L1 near and inside it), optionally plus its ray losses. Used by research/scripts/plane_ceiling.py (RGB
against the oracle) and by the local label bound (dnerf_research.label_bound, source "fit").
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import Tensor

# Box points closer than this to the surface (|sdf|) are the "surface" the near points jitter around.
SURFACE_BAND = 0.01
CANDIDATES = 400_000
POINTS_PER_STEP = 8192
PLANE_INIT_STD = 0.5
EMPTY_SIGMA = -30.0  # raw density outside the box: the planes say nothing there


@dataclass(frozen=True)
class PlaneFitConfig:
    """resolution: plane size R; steps: Adam steps; rays: also supervise this many rays of a random
    view per step (RGB, opacity, depth, as the distillation does; 0: 3D points only); lr /
    lr_final_fraction: exponential decay from lr to lr * fraction; seed: plane init and sampling."""

    resolution: int = 64
    steps: int = 2000
    rays: int = 0
    lr: float = 0.01
    lr_final_fraction: float = 0.1
    seed: int = 0


@dataclass
class PlaneFit:
    """The fitted subject as a field(points [N,P,3], directions) -> (raw sigma [N,P,1], features
    [N,P,F]) with empty space outside the box (the planes and decoder it closes over are frozen);
    final_loss of the last step."""

    field: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
    final_loss: float


def fit_planes(oracle, seed: int, config: PlaneFitConfig = PlaneFitConfig()) -> PlaneFit:
    """Fit free planes to the oracle subject `seed` (CPU, a few minutes at the defaults)."""
    from dnerf_core.lab import (default_config, DistillConfig, point_losses, point_targets, ray_losses, ray_targets,
                                reference_step, sample_planes, supervision_points, TriPlaneDecoder)

    cfg, model_cfg = DistillConfig(), default_config(oracle.category)
    points_cfg = replace(cfg, points_per_subject=POINTS_PER_STEP)
    truth = oracle.sample([seed])
    b, box_warp, step_len = oracle.bounds, oracle.rendering.box_warp, reference_step(oracle.rendering)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # the decoder initializes from the global generator
    cand = (torch.rand(1, CANDIDATES, 3, generator=gen) * 2 - 1) * b
    surface = cand[0][oracle.sdf_at(truth, cand)[0].abs() < SURFACE_BAND]
    r = config.resolution
    planes = torch.nn.Parameter(torch.randn(1, 3, model_cfg.plane_channels, r, r, generator=gen) * PLANE_INIT_STD)
    decoder = TriPlaneDecoder(model_cfg.plane_channels, model_cfg.decoder_hidden, model_cfg.decoder_features,
                              model_cfg.decoder_lr_multiplier)
    opt = torch.optim.Adam([planes, *decoder.parameters()], lr=config.lr, betas=(0.9, 0.99))

    def planes_field(points, directions):
        return decoder(sample_planes(planes.expand(len(points), -1, -1, -1, -1), points, box_warp))

    def boxed_field(points, directions):  # rendering: rays also pass outside the box
        sig, f = planes_field(points, directions)
        inside = (points.abs() <= b).all(-1, keepdim=True)
        return torch.where(inside, sig, torch.full_like(sig, EMPTY_SIGMA)), f

    loss = torch.zeros(())
    for step in range(config.steps):
        for group in opt.param_groups:
            group["lr"] = config.lr * config.lr_final_fraction ** (step / config.steps)
        pts = supervision_points(oracle, truth, [surface], points_cfg, gen)
        loss_alpha, loss_color = point_losses(planes_field, pts, point_targets(oracle, truth, pts, cfg), step_len)
        loss = cfg.w_alpha * loss_alpha + cfg.w_color3d * loss_color
        if config.rays:
            rays = ray_targets(oracle, truth, config.rays, gen)
            loss_rgb, loss_opacity, loss_depth = ray_losses(boxed_field, rays, oracle.rendering, cfg.train_samples, gen)
            loss = loss + cfg.w_rgb * loss_rgb + cfg.w_opacity * loss_opacity + cfg.w_depth * loss_depth
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for p in [planes, *decoder.parameters()]:
        p.requires_grad_(False)
    return PlaneFit(boxed_field, float(loss.item()))
