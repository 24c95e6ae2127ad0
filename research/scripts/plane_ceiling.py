#!/usr/bin/env python
"""How well can the default generator's representation hold ONE oracle subject at all?

    .venv/bin/python research/scripts/plane_ceiling.py --category car --resolution 64 --steps 2000 --out research/results/ceiling_car_64.json

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
from pathlib import Path

# research/ (dnerf_research) and, for a source checkout, the repository root (dnerf_core)
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from dnerf_core.lab import retain_freed_memory  # noqa: E402

VIEWS = 4
CHUNK_RAYS = 1024


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

    from dnerf_core import ray_bundle
    from dnerf_core.lab import psnr, random_orbit_cameras
    from dnerf_research.plane_fit import PlaneFitConfig, fit_planes
    from dnerf_core.lab import emit_json, march_chunked, ProceduralGenerator

    torch.set_num_threads(1)
    oracle = ProceduralGenerator(args.category)
    t0 = time.time()
    fit = fit_planes(oracle, args.seed, PlaneFitConfig(resolution=args.resolution, steps=args.steps, rays=args.rays))

    res = oracle.rendering.neural_resolution
    cams = random_orbit_cameras(VIEWS, oracle.orbit, torch.Generator().manual_seed(5))
    rays = ray_bundle(cams, res)
    with torch.no_grad():
        rgb = march_chunked(fit.field, rays.origins, rays.directions, oracle.rendering, CHUNK_RAYS).features
        rgb = rgb[..., :3].reshape(VIEWS, res, res, 3).permute(0, 3, 1, 2)
        target = oracle.render(oracle.sample([args.seed] * VIEWS), cams).rgb
    emit_json({"category": args.category, "seed": args.seed, "plane_resolution": args.resolution,
               "steps": args.steps, "rays_per_step": args.rays, "final_loss": fit.final_loss, "psnr_db": float(psnr(rgb, target).mean()),
               "seconds": round(time.time() - t0, 1)}, args.out)


if __name__ == "__main__":
    main()
