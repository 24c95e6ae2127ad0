"""Distil a procedural oracle world into a small tri-plane generator (the embedded default).

The oracle and the generator share their latent: subject `seed` of the oracle is built from
numpy.random.RandomState(seed).randn(...), whose first numbers are also the generator's z for that
seed. So the generator can learn a smooth map z -> world and reproduce seeds it never saw.

Supervision per step, for a batch of fresh training seeds:
- 3D points (near the oracle surface and uniform in the box): the alpha a ray step of the
  reference length would get from the generator's density vs the oracle's occupancy (BCE), and
  the generator's color vs the oracle's shaded color near and inside the surface (L1);
- a random subset of pixels of one random view per subject, volume-rendered with the
  generator: RGB (MSE), opacity vs the oracle's exact silhouette (BCE) and depth on hit pixels (L1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import random_orbit_cameras, ray_bundle
from ..io.splits import HELDOUT_SEED_START
from ..render.raymarch import eg3d_density, march
from ..render.config import RenderingConfig


@dataclass(frozen=True)
class DistillConfig:
    """One distillation run.

    batch_subjects: fresh training seeds per step; rays_per_subject: pixels rendered per subject
    per step; points_per_subject: 3D supervision points per subject; uniform_fraction: share of
    those drawn uniformly in the box (the rest near the surface); surface_noise: std of the offset
    of near-surface points, as a fraction of the box half-size; occupancy_sharpness: oracle
    occupancy = sigmoid(-sdf / (occupancy_sharpness * bounds)); train_samples: coarse + fine ray
    samples during training (fewer than at inference keeps steps cheap); lr: Adam learning rate;
    loss weights w_*.
    """

    batch_subjects: int = 4
    rays_per_subject: int = 768
    points_per_subject: int = 4096
    uniform_fraction: float = 0.25
    surface_noise: float = 0.02
    occupancy_sharpness: float = 0.005
    train_samples: tuple[int, int] = (32, 32)
    lr: float = 2e-3
    lr_final_fraction: float = 0.1
    w_alpha: float = 1.0
    w_color3d: float = 1.0
    w_rgb: float = 1.0
    w_opacity: float = 0.5
    w_depth: float = 1.0


@dataclass
class StepLosses:
    total: float
    alpha: float
    color3d: float
    rgb: float
    opacity: float
    depth: float


def learning_rate(cfg: DistillConfig, step: int, total_steps: int) -> float:
    return cfg.lr * cfg.lr_final_fraction ** (min(step, total_steps) / max(total_steps, 1))


def training_seeds(rng: np.random.Generator, n: int) -> list[int]:
    return [int(s) for s in rng.integers(0, HELDOUT_SEED_START, size=n)]


def reference_step(rendering: RenderingConfig) -> float:
    """Length of one coarse ray step: the 3D alpha target is expressed for this step."""
    return (rendering.ray_end - rendering.ray_start) / rendering.depth_resolution


def supervision_points(oracle, truth_subject, surface_pts: torch.Tensor, cfg: DistillConfig,
                        gen: torch.Generator) -> torch.Tensor:
    """[B,P,3]: noisy copies of visible surface points plus uniform points in the box."""
    b = oracle.bounds
    n_uniform = int(cfg.points_per_subject * cfg.uniform_fraction)
    n_surface = cfg.points_per_subject - n_uniform
    out = []
    for i in range(len(truth_subject)):
        pts = surface_pts[i]
        if len(pts) == 0:
            pts = torch.zeros(1, 3)
        pick = torch.randint(0, len(pts), (n_surface,), generator=gen)
        near = pts[pick] + torch.randn(n_surface, 3, generator=gen) * cfg.surface_noise * b
        uniform = (torch.rand(n_uniform, 3, generator=gen) * 2 - 1) * b
        out.append(torch.cat([near, uniform]))
    return torch.stack(out)


@dataclass
class PointTargets:
    """The oracle at 3D supervision points [B,P]: occupancy in [0,1], shaded color [B,P,3], and
    which points are near or inside the surface (where color is supervised)."""

    occupancy: torch.Tensor
    color: torch.Tensor
    near_or_inside: torch.Tensor


@torch.no_grad()
def point_targets(oracle, truth_subject, pts: torch.Tensor, cfg: DistillConfig) -> PointTargets:
    sdf = oracle.sdf_at(truth_subject, pts)
    return PointTargets(occupancy=torch.sigmoid(-sdf / (cfg.occupancy_sharpness * oracle.bounds)),
                        color=oracle.colors_at(truth_subject, pts),
                        near_or_inside=sdf < cfg.surface_noise * oracle.bounds)


def point_losses(field, pts: torch.Tensor, targets: PointTargets, step_length: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha BCE, color L1) of a field (points, directions) -> (raw sigma, features) at pts [B,P,3]:
    the alpha one ray step of `step_length` gets from the density vs the oracle's occupancy, and
    the color vs the oracle's where it is near or inside the surface."""
    sigma, feats = field(pts, torch.zeros_like(pts))
    alpha = 1 - torch.exp(-eg3d_density(sigma[..., 0]) * step_length)
    loss_alpha = F.binary_cross_entropy(alpha.clamp(1e-5, 1 - 1e-5), targets.occupancy)
    color_err = (feats[..., :3] - targets.color).abs().mean(-1)
    mask = targets.near_or_inside
    return loss_alpha, (color_err * mask).sum() / mask.sum().clamp_min(1)


@dataclass
class RayTargets:
    """The oracle along supervised rays [B,R]: origins and directions [B,R,3], exact RGB [B,R,3],
    opacity and depth [B,R,1], which rays hit, and the hit points per subject (list of [H,3])."""

    origins: torch.Tensor
    directions: torch.Tensor
    rgb: torch.Tensor
    opacity: torch.Tensor
    depth: torch.Tensor
    hit: torch.Tensor
    surface: list[torch.Tensor]


@torch.no_grad()
def ray_targets(oracle, truth_subject, n_rays: int, gen: torch.Generator) -> RayTargets:
    """`n_rays` random pixels of one random orbit view per subject, traced exactly by the oracle."""
    res = oracle.rendering.neural_resolution
    b = len(truth_subject)
    cams = random_orbit_cameras(b, oracle.orbit, gen)
    rays = ray_bundle(cams, res)
    pick = torch.stack([torch.randperm(res * res, generator=gen)[:n_rays] for _ in range(b)])
    take = lambda x: x.gather(1, pick[..., None].expand(-1, -1, x.shape[-1]))  # noqa: E731
    origins, dirs = take(rays.origins), take(rays.directions)
    truth = oracle.trace_rays(truth_subject, origins, dirs)  # only the supervised rays
    hit = truth.opacity[..., 0] > 0.5
    surface = [(origins[i] + truth.depth[i] * dirs[i])[hit[i]] for i in range(b)]
    return RayTargets(origins, dirs, truth.rgb, truth.opacity, truth.depth, hit, surface)


def ray_losses(field, targets: RayTargets, rendering: RenderingConfig, samples: tuple[int, int],
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(RGB MSE, opacity BCE, depth L1 on hit rays) of a field volume-rendered along the
    supervised rays with `samples` (coarse, fine) jittered samples per ray."""
    train_render = RenderingConfig(samples[0], samples[1], rendering.ray_start, rendering.ray_end,
                                   rendering.box_warp, rendering.white_back, rendering.neural_resolution)
    marched = march(field, targets.origins, targets.directions, train_render, generator=gen)
    loss_rgb = F.mse_loss(marched.features[..., :3], targets.rgb)
    loss_opacity = F.binary_cross_entropy(marched.opacity.clamp(1e-5, 1 - 1e-5), targets.opacity)
    depth_err = (marched.depth - targets.depth).abs()[..., 0]
    loss_depth = (depth_err * targets.hit).sum() / targets.hit.sum().clamp_min(1)
    return loss_rgb, loss_opacity, loss_depth


def distill_step(model, oracle, optimizer, cfg: DistillConfig, rng: np.random.Generator,
                 gen: torch.Generator) -> StepLosses:
    """One optimization step on fresh seeds; returns the losses (floats)."""
    seeds = training_seeds(rng, cfg.batch_subjects)
    rendering = model.config.rendering
    with torch.no_grad():
        truth_subject = oracle.sample(seeds)
        rays = ray_targets(oracle, truth_subject, cfg.rays_per_subject, gen)
        pts = supervision_points(oracle, truth_subject, rays.surface, cfg, gen)
        targets = point_targets(oracle, truth_subject, pts, cfg)

    return field_step(model.field(model.sample_for_training(seeds)), pts, targets, rays, rendering, cfg, gen, optimizer)


def field_step(field, pts, targets, rays, rendering, cfg, gen, optimizer) -> StepLosses:
    """One optimizer step of the distillation losses (3D points and rays) of `field` -> the losses."""
    loss_alpha, loss_color = point_losses(field, pts, targets, reference_step(rendering))
    loss_rgb, loss_opacity, loss_depth = ray_losses(field, rays, rendering, cfg.train_samples, gen)
    total = (cfg.w_alpha * loss_alpha + cfg.w_color3d * loss_color + cfg.w_rgb * loss_rgb
             + cfg.w_opacity * loss_opacity + cfg.w_depth * loss_depth)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return StepLosses(total.item(), loss_alpha.item(), loss_color.item(), loss_rgb.item(),
                      loss_opacity.item(), loss_depth.item())


def rescale_decoder(state: dict[str, torch.Tensor], old_multiplier: float,
                    new_multiplier: float) -> dict[str, torch.Tensor]:
    """A model state dict trained with decoder lr multiplier `old_multiplier`, converted so that a
    decoder with `new_multiplier` computes the same function (equalized-lr layers store their
    weights and biases divided by the multiplier). Lets a run warm-start from an older one."""
    ratio = old_multiplier / new_multiplier
    return {k: (v * ratio if k.startswith("decoder.net.") else v) for k, v in state.items()}


def psnr_from_mse(mse: float) -> float:
    return 10 * math.log10(1 / max(mse, 1e-12))


def save_training_state(path, model, optimizer, step: int, rng, gen: torch.Generator, **extra) -> None:
    """Write a resumable training checkpoint atomically: model, optimizer, step and both random
    generators (numpy's as JSON), plus `extra` entries."""
    import json

    from ..io.atomic import atomic_open

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "numpy_rng": json.dumps(rng.bit_generator.state), "torch_rng": gen.get_state(), **extra}
    with atomic_open(path) as fh:
        torch.save(state, fh)


def resume_training_state(path, model, optimizer, rng, gen: torch.Generator) -> int:
    """Load a save_training_state checkpoint into model, optimizer and the random generators
    (weights only, nothing executed); returns its step."""
    import json

    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = json.loads(state["numpy_rng"])
    gen.set_state(state["torch_rng"])
    return int(state["step"])
