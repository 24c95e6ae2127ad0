#!/usr/bin/env python
"""How well can the default generator's representation hold ONE oracle subject at all?

    .venv/bin/python scripts/plane_ceiling.py --category car --resolution 64 --steps 2000 --out results/ceiling_car_64.json

Fits free tri-planes (3 x 32 x R x R, no synthesis network) and the default decoder (same size,
same learning-rate multiplier) to one held-out oracle subject with the distillation's 3D losses
(occupancy BCE at points near the surface and in the box, color L1 near and inside it), then
volume-renders it at random poses and scores RGB against the oracle. This is an upper bound for
what the generator can reach per subject at that plane resolution and step budget: the generator
must also produce such planes from a latent.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnerf_core.allocator import retain_freed_memory  # noqa: E402

# Box points rejected below this |sdf| are the "surface" the near points are jittered around.
SURFACE_BAND = 0.01
CANDIDATES = 400_000
POINTS_PER_STEP = 8192
LR, LR_FINAL_FRACTION = 0.01, 0.1
PLANE_INIT_STD = 0.5
EMPTY_SIGMA = -30.0  # raw density outside the box: the planes say nothing there
VIEWS = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, choices=["car", "face"])
    parser.add_argument("--resolution", type=int, default=64, help="plane resolution")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1_000_001, help="the oracle subject (held out)")
    parser.add_argument("--rays", type=int, default=0,
                        help="also supervise this many rays of a random view per step (RGB, opacity, depth, "
                             "as the generator's distillation does); 0: 3D points only")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    retain_freed_memory()  # dnerf_core.allocator: big step temporaries reused, not faulted in again

    import torch

    from dnerf_core.cameras import random_orbit_cameras, ray_bundle
    from dnerf_core.eval.metrics import psnr
    from dnerf_core.factory.export.atomic import emit_json
    from dnerf_core.generators.default_config import default_config
    from dnerf_core.generators.distill import (DistillConfig, point_losses, point_targets, ray_losses,
                                               ray_targets, reference_step, supervision_points)
    from dnerf_core.generators.networks.decoder import TriPlaneDecoder
    from dnerf_core.generators.procedural import ProceduralGenerator
    from dnerf_core.render.raymarch import march
    from dnerf_core.render.triplane import sample_planes

    torch.set_num_threads(1)
    torch.manual_seed(0)  # the decoder initializes from the global generator
    oracle, cfg, model_cfg = ProceduralGenerator(args.category), DistillConfig(), default_config(args.category)
    points_cfg = replace(cfg, points_per_subject=POINTS_PER_STEP)
    truth = oracle.sample([args.seed])
    b, box_warp, step_len = oracle.bounds, oracle.rendering.box_warp, reference_step(oracle.rendering)
    gen = torch.Generator().manual_seed(0)
    cand = (torch.rand(1, CANDIDATES, 3, generator=gen) * 2 - 1) * b
    surface = cand[0][oracle.sdf_at(truth, cand)[0].abs() < SURFACE_BAND]

    planes = torch.nn.Parameter(torch.randn(1, 3, model_cfg.plane_channels, args.resolution, args.resolution,
                                            generator=gen) * PLANE_INIT_STD)
    decoder = TriPlaneDecoder(model_cfg.plane_channels, model_cfg.decoder_hidden, model_cfg.decoder_features,
                              model_cfg.decoder_lr_multiplier)
    opt = torch.optim.Adam([planes, *decoder.parameters()], lr=LR, betas=(0.9, 0.99))

    def planes_field(points, directions):
        return decoder(sample_planes(planes.expand(len(points), -1, -1, -1, -1), points, box_warp))

    def boxed_field(points, directions):  # rendering: rays also pass outside the box
        sig, f = planes_field(points, directions)
        inside = (points.abs() <= b).all(-1, keepdim=True)
        return torch.where(inside, sig, torch.full_like(sig, EMPTY_SIGMA)), f

    t0 = time.time()
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = LR * LR_FINAL_FRACTION ** (step / args.steps)
        pts = supervision_points(oracle, truth, [surface], points_cfg, gen)
        loss_alpha, loss_color = point_losses(planes_field, pts, point_targets(oracle, truth, pts, cfg), step_len)
        loss = cfg.w_alpha * loss_alpha + cfg.w_color3d * loss_color
        if args.rays:
            rays = ray_targets(oracle, truth, args.rays, gen)
            loss_rgb, loss_opacity, loss_depth = ray_losses(boxed_field, rays, oracle.rendering, cfg.train_samples, gen)
            loss = loss + cfg.w_rgb * loss_rgb + cfg.w_opacity * loss_opacity + cfg.w_depth * loss_depth
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    res = oracle.rendering.neural_resolution
    cams = random_orbit_cameras(VIEWS, oracle.orbit, torch.Generator().manual_seed(5))
    rays = ray_bundle(cams, res)
    with torch.no_grad():
        chunks = [march(boxed_field, o, d, oracle.rendering).features[..., :3]
                  for o, d in zip(rays.origins.split(1024, 1), rays.directions.split(1024, 1))]
        rgb = torch.cat(chunks, 1).reshape(VIEWS, res, res, 3).permute(0, 3, 1, 2)
        target = oracle.render(oracle.sample([args.seed] * VIEWS), cams).rgb
    emit_json({"category": args.category, "seed": args.seed, "plane_resolution": args.resolution,
               "steps": args.steps, "rays_per_step": args.rays, "final_loss": loss.item(), "psnr_db": float(psnr(rgb, target).mean()),
               "seconds": round(time.time() - t0, 1)}, args.out)


if __name__ == "__main__":
    main()
