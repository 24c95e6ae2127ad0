"""A resumable distillation run (scripts/train_generator.py, scripts/train_articulated.py): the
state carried between steps and the step loop with its schedule, log and checkpoints."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .distill import DistillConfig, learning_rate, resume_training_state, save_training_state

ADAM_BETAS = (0.9, 0.99)  # the defaults' distillation setting (a shorter memory than Adam's 0.999)
PRINT_EVERY = 10  # steps between progress lines (the log file gets every step)


@dataclass
class TrainingRun:
    """What a run carries from step to step; `step` steps are done, `resumed` when they came from
    the checkpoint file."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    gen: torch.Generator
    checkpoint: Path
    step: int = 0
    resumed: bool = False

    def save(self, **extra) -> None:
        save_training_state(self.checkpoint, self.model, self.optimizer, self.step, self.rng, self.gen, **extra)


def start_run(model: torch.nn.Module, lr: float, seed: int, checkpoint: str | Path) -> TrainingRun:
    """A fresh run (Adam, both random generators seeded with `seed`), or the one the checkpoint
    file holds when it exists (model, optimizer, generators and step restored, nothing executed)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=ADAM_BETAS)
    run = TrainingRun(model, optimizer, np.random.default_rng(seed), torch.Generator().manual_seed(seed),
                      Path(checkpoint))
    if run.checkpoint.is_file():
        run.step = resume_training_state(run.checkpoint, model, optimizer, run.rng, run.gen)
        run.resumed = True
    return run


def run_steps(run: TrainingRun, cfg: DistillConfig, steps: int, step_fn: Callable[[TrainingRun], object],
              log_path: str | Path, checkpoint_every: int, say: Callable[[str], None] | None = None,
              **extra) -> None:
    """Take steps run.step .. steps-1: the learning rate of cfg's schedule, step_fn(run) -> its
    losses (a dataclass), one JSON line per step appended to log_path (passed to `say` every
    PRINT_EVERY steps), a checkpoint every `checkpoint_every` steps and at the end (with `extra`)."""
    t0 = time.time()
    with open(log_path, "a") as log:
        while run.step < steps:
            for group in run.optimizer.param_groups:
                group["lr"] = learning_rate(cfg, run.step, steps)
            losses = step_fn(run)
            run.step += 1
            line = json.dumps({"step": run.step, "elapsed_s": round(time.time() - t0, 1), **vars(losses)})
            log.write(line + "\n")
            log.flush()
            if say is not None and (run.step % PRINT_EVERY == 0 or run.step == steps):
                say(line)
            if run.step % checkpoint_every == 0 or run.step == steps:
                run.save(**extra)
