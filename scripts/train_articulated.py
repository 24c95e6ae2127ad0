#!/usr/bin/env python
"""Train the articulated default generator (`default:figure`) by distilling procedural:figure in
random poses (dnerf_core.generators.articulated: canonical tri-plane + posed-to-canonical warp).

    nice -n 15 .venv/bin/python scripts/train_articulated.py --steps 3000 --run runs/default_figure \
        --export dnerf_core/weights/default_figure.pt

Resumable like scripts/train_generator.py: RUN/ckpt.pt (model, optimizer, step, random states) every
--ckpt-every steps, log in RUN/log.jsonl; started again with the same --run it continues. --export
writes the inference weights (a weights_only-loadable dnerf-articulated file) at the end;
--export-now writes them from the last checkpoint without training (for a run stopped early).

    .venv/bin/python scripts/train_articulated.py --evaluate dnerf_core/weights/default_figure.pt --subjects 32

--evaluate renders held-out seeds (never trained on) in held-out random poses (self-intersection
free, pose seeds disjoint from training's) from one random orbit view each, with the weights and
with the oracle, and prints PSNR, silhouette IoU and depth error (JSON; --out writes it too).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="total optimization steps (sets the lr schedule)")
    parser.add_argument("--run", type=Path, default=None, help="run folder (checkpoint + log)")
    parser.add_argument("--evaluate", type=Path, default=None, help="evaluate these weights instead of training")
    parser.add_argument("--subjects", type=int, default=32, help="held-out subjects for --evaluate")
    parser.add_argument("--out", type=Path, default=None, help="write --evaluate's JSON here")
    parser.add_argument("--ckpt-every", type=int, default=25)
    parser.add_argument("--export", type=Path, default=None, help="write inference weights here at the end")
    parser.add_argument("--export-now", action="store_true", help="only export the run's last checkpoint")
    parser.add_argument("--seed", type=int, default=0, help="training randomness (not a subject seed)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-subjects", type=int, default=None, help="override DistillConfig.batch_subjects")
    parser.add_argument("--rays", type=int, default=None, help="override DistillConfig.rays_per_subject")
    parser.add_argument("--warm-start", type=Path, default=None,
                        help="start a NEW run from these inference weights (save_articulated file; fresh optimizer)")
    parser.add_argument("--lr", type=float, default=None,
                        help="override DistillConfig.lr (the schedule decays it to lr * lr_final_fraction)")
    parser.add_argument("--decoder-lr-multiplier", type=float, default=None,
                        help="override the default config's decoder learning-rate multiplier")
    args = parser.parse_args()
    if args.export_now and not args.export:
        parser.error("--export-now needs --export")
    if args.evaluate is None and (args.steps is None or args.run is None):
        parser.error("training needs --steps and --run (or pass --evaluate WEIGHTS)")
    if args.warm_start and not args.warm_start.is_file():
        parser.error(f"--warm-start {args.warm_start}: no such weight file")

    import dataclasses

    import torch

    from dnerf_core import ensure_dir
    from dnerf_core.lab import (articulated_distill_step, ArticulatedTriPlane, default_figure_config, DistillConfig,
                                FigureGenerator, run_steps, save_articulated, start_run)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.evaluate is not None:
        from dnerf_core.lab import load_articulated

        result = evaluate(load_articulated(args.evaluate), FigureGenerator(), args.subjects)
        text = json.dumps({"weights": str(args.evaluate), **result}, indent=1)
        print(text)
        if args.out:
            from dnerf_core.lab import atomic_write_text

            atomic_write_text(args.out, text + "\n")
        return
    run_dir = ensure_dir(args.run)
    ckpt_path = run_dir / "ckpt.pt"
    cfg = DistillConfig()
    if args.batch_subjects:
        cfg = dataclasses.replace(cfg, batch_subjects=args.batch_subjects)
    if args.rays:
        cfg = dataclasses.replace(cfg, rays_per_subject=args.rays)
    if args.lr:
        cfg = dataclasses.replace(cfg, lr=args.lr)
    oracle = FigureGenerator()
    config = default_figure_config()
    if args.decoder_lr_multiplier:
        config = dataclasses.replace(config, decoder_lr_multiplier=args.decoder_lr_multiplier)
    model = ArticulatedTriPlane(config, name="default_figure").train()
    run = start_run(model, cfg.lr, args.seed, ckpt_path)
    if run.resumed:
        print(f"[train] resumed {ckpt_path} at step {run.step}", file=sys.stderr)
    elif args.export_now:
        parser.error(f"--export-now: no checkpoint in {run_dir}")
    elif args.warm_start:
        # Only the weights: the shipped file carries no optimizer state, so Adam starts afresh
        # (hence --lr, to start the new schedule below the first run's initial rate).
        from dnerf_core.lab import load_articulated

        warm = load_articulated(args.warm_start)
        if warm.config != model.config:
            parser.error(f"--warm-start {args.warm_start}: its config differs from the default figure config")
        model.load_state_dict(warm.state_dict())
        print(f"[train] warm start from {args.warm_start}", file=sys.stderr)
    if not args.export_now:
        run_steps(run, cfg, args.steps, lambda r: articulated_distill_step(model, oracle, r.optimizer, cfg, r.rng, r.gen),
                  run_dir / "log.jsonl", args.ckpt_every, say=lambda line: print(line, file=sys.stderr, flush=True))
    if args.export:
        save_articulated(args.export, model.eval())
        print(f"[train] wrote {args.export} (step {run.step})", file=sys.stderr)


def evaluate(model, oracle, n_subjects: int) -> dict:
    """Held-out seeds and poses, one random orbit view each, at the neural resolution."""
    import math

    import torch

    from dnerf_core.lab import HELDOUT_SEED_START, make_figure, random_orbit_cameras, random_pose

    gen = torch.Generator().manual_seed(0)
    res = model.rendering.neural_resolution
    mses, ious, depth_errs = [], [], []
    for k in range(n_subjects):
        seed = HELDOUT_SEED_START + k
        # training draws pose seeds below 2**31 from its own stream; these are fixed and separate
        pose = random_pose(make_figure(seed), 2 ** 31 + k)
        cam = random_orbit_cameras(1, oracle.orbit, gen)
        truth = oracle.render(oracle.sample([seed], pose=pose), cam, res)
        out = model.render(model.sample([seed], pose=pose), cam, res)
        mses.append(float(((out.rgb_raw - truth.rgb) ** 2).mean()))
        a, b = out.opacity[0, 0] > 0.5, truth.opacity[0, 0] > 0.5
        ious.append(float((a & b).sum()) / max(float((a | b).sum()), 1.0))
        both = a & b
        if both.any():
            depth_errs.append(float((out.depth[0, 0][both] - truth.depth[0, 0][both]).abs().mean()))
    psnr = [10 * math.log10(1 / max(m, 1e-12)) for m in mses]
    return {"subjects": n_subjects, "resolution": res, "psnr_db": sum(psnr) / len(psnr),
            "silhouette_iou": sum(ious) / len(ious),
            "depth_error": sum(depth_errs) / max(len(depth_errs), 1)}


if __name__ == "__main__":
    main()
