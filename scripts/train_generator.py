#!/usr/bin/env python
"""Train the embedded default tri-plane generator of one category by distilling the oracle.

    .venv/bin/python scripts/train_generator.py --category car --steps 6000 --run runs/default_car \
        --export dnerf_core/weights/default_car.pt

Resumable: it checkpoints to RUN/ckpt.pt (model, optimizer, step, every random state) every
--ckpt-every steps and continues from there when started again with the same --run; the log is
RUN/log.jsonl. Run it in the background (nohup ... &); a killed run loses at most --ckpt-every
steps. --export writes the inference weights (weights_only-loadable .pt) for `default:<category>`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnerf_core.lab import retain_freed_memory  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, choices=["car", "face"])
    parser.add_argument("--steps", type=int, required=True, help="total optimization steps")
    parser.add_argument("--run", type=Path, required=True, help="run folder (checkpoint + log)")
    parser.add_argument("--ckpt-every", type=int, default=100)
    parser.add_argument("--export", type=Path, default=None, help="write inference weights here at the end")
    parser.add_argument("--seed", type=int, default=0, help="training randomness (not a subject seed)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--warm-start", type=Path, default=None,
                        help="a RUN/ckpt.pt of an earlier run: start from its weights (decoder rescaled to this "
                             "config's lr multiplier) with a fresh optimizer and schedule; ignored when --run "
                             "already has a checkpoint")
    args = parser.parse_args()
    retain_freed_memory()  # dnerf_core.allocator: big step temporaries reused, not faulted in again
    if args.warm_start and not args.warm_start.is_file():
        parser.error(f"--warm-start {args.warm_start}: no such checkpoint file")

    import torch

    from dnerf_core import ensure_dir
    from dnerf_core.lab import (default_config, distill_step, DistillConfig, ProceduralGenerator, rescale_decoder,
                                run_steps, save_triplane, start_run, TriPlaneGAN)

    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = ensure_dir(args.run)
    ckpt_path = run_dir / "ckpt.pt"
    cfg = DistillConfig()
    oracle = ProceduralGenerator(args.category)
    model = TriPlaneGAN(default_config(args.category)).train()
    run = start_run(model, cfg.lr, args.seed, ckpt_path)
    if run.resumed:
        print(f"[train] resumed {ckpt_path} at step {run.step}", file=sys.stderr)
    elif args.warm_start:
        state = torch.load(args.warm_start, weights_only=True)
        # Checkpoints written before the multiplier was recorded used the plain rate.
        old = float(state.get("decoder_lr_multiplier", 1.0))
        model.load_state_dict(rescale_decoder(state["model"], old, model.config.decoder_lr_multiplier))
        print(f"[train] warm start from {args.warm_start} (step {int(state['step'])})", file=sys.stderr)
    run_steps(run, cfg, args.steps, lambda r: distill_step(model, oracle, r.optimizer, cfg, r.rng, r.gen),
              run_dir / "log.jsonl", args.ckpt_every, say=lambda line: print(line, file=sys.stderr, flush=True),
              decoder_lr_multiplier=model.config.decoder_lr_multiplier)
    if args.export:
        save_triplane(args.export, model.eval())
        print(f"[train] wrote {args.export}", file=sys.stderr)


if __name__ == "__main__":
    main()
