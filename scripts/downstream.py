#!/usr/bin/env python
"""Downstream 2D and 3D part segmentation trained on dnerf data, scored on exact oracle truth (issue 25).

Three stages, each resumable (re-run the same command after a crash):

    # 1. data: kit + baseline, held-out oracle test sets, generated rows (seeds 0..N-1); a larger
    #    --subjects later extends the same folder (subjects are prefixes)
    nice -n 15 .venv/bin/python scripts/downstream.py data --world car --subjects 30 --root runs/downstream
    # 2. train + score every row (one JSON per world, rebuilt after every row; --rows dnerf@20 etc.
    #    picks rows, so several processes can share a world)
    nice -n 15 .venv/bin/python scripts/downstream.py train --world car --root runs/downstream \
        --sweep 10,20,30 --out research/results/downstream_car.json --figures research/results/downstream
    # 3. the Markdown page and the plots from both worlds' JSON
    .venv/bin/python scripts/downstream.py report --results research/results --root runs/downstream

Bad input gives one line and exit code 2. The research code is research/dnerf_research/downstream/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# research/ (dnerf_research) and, for a source checkout, the repository root (dnerf_core)
sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "research"), str(Path(__file__).resolve().parents[1])]


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _part(text: str) -> tuple[int, int]:
    """'i/k' as two integers; their range is build_all's check (one check for the API and the CLI)."""
    try:
        index, parts = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/k, got {text!r}") from None
    return index, parts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    data = sub.add_parser("data", help="write the training and test sets of one world")
    data.add_argument("--world", required=True, choices=["car", "face"])
    data.add_argument("--root", required=True, help="scratch folder (one subfolder per world)")
    data.add_argument("--subjects", type=int, default=200, help="generated subjects (seeds 0..N-1)")
    data.add_argument("--views", type=int, default=2, help="random poses per generated subject")
    data.add_argument("--resolution", type=int, default=64)
    data.add_argument("--kit-subjects", type=int, default=30)
    data.add_argument("--kit-views", type=int, default=3)
    data.add_argument("--baseline-steps", type=int, default=1500)
    data.add_argument("--test-subjects", type=int, default=100)
    data.add_argument("--test-views", type=int, default=2)
    data.add_argument("--video-subjects", type=int, default=5)
    data.add_argument("--video-frames", type=int, default=61)
    data.add_argument("--chunk", type=int, default=10)
    data.add_argument("--threads", type=int, default=1, help="torch threads")
    data.add_argument("--part", type=_part, default=(0, 1),
                      help="i/k: write only generated chunks i, i+k, ... so k processes share a world "
                           "(start the others once the first has written the kit and test sets)")

    train = sub.add_parser("train", help="train and score every row of one world")
    train.add_argument("--world", required=True, choices=["car", "face"])
    train.add_argument("--root", required=True)
    train.add_argument("--sweep", type=_ints, default=[30, 100, 200], help="generated subjects per dnerf row")
    train.add_argument("--rows", default="kit,baseline,dnerf,oracle", help="which rows (comma-separated)")
    train.add_argument("--steps-2d", type=int, default=None, help="2D training steps (default: TrainConfig's)")
    train.add_argument("--steps-3d", type=int, default=None, help="3D training steps (default: TrainConfig's)")
    train.add_argument("--seed", type=int, default=None,
                       help="initialization and batch-order seed (default: TrainConfig's); another seed is another "
                            "schedule: its rows are kept in their own folder of the same --root, give it its own --out")
    train.add_argument("--out", required=True, help="JSON file (rewritten after every row)")
    train.add_argument("--figures", default=None, help="folder for prediction-vs-truth images")
    train.add_argument("--threads", type=int, default=1, help="torch threads")
    train.add_argument("--dataset", default=None,
                       help="instead of the study's rows: train one row on this `dnerf dataset` folder (formats "
                            "folders,pts, the world's labels, the test set's resolution) and score it on --root's "
                            "test sets of --world")
    train.add_argument("--split", default="train",
                       help="with --dataset: which split's views to train on ('all': every view)")

    report = sub.add_parser("report", help="the Markdown page and plots from downstream_{car,face}.json")
    report.add_argument("--results", required=True, help="folder holding downstream_{car,face}.json")
    report.add_argument("--page", default=None, help="Markdown page (default: research/downstream.md)")
    report.add_argument("--figures", default=None, help="PNG folder (default: RESULTS/downstream)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from dnerf_core import DnerfError

    try:
        if args.stage == "data":
            from dnerf_research.downstream.data import DataConfig, build_all

            torch.set_num_threads(args.threads)
            cfg = DataConfig(world=args.world, resolution=args.resolution, subjects=args.subjects, views=args.views,
                             kit_subjects=args.kit_subjects, kit_views=args.kit_views,
                             baseline_steps=args.baseline_steps, test_subjects=args.test_subjects,
                             test_views=args.test_views, video_subjects=args.video_subjects,
                             video_frames=args.video_frames, chunk=args.chunk).validate()
            build_all(cfg, args.root, log=lambda m: print(m, flush=True), part=args.part)
        elif args.stage == "train":
            from dnerf_research.downstream.run import run_world
            from dnerf_research.downstream.train import TrainConfig

            torch.set_num_threads(args.threads)
            cfg = TrainConfig() if args.seed is None else TrainConfig(seed=args.seed)
            if args.dataset is not None:
                from dnerf_research.downstream.run import run_dataset_row

                run_dataset_row(args.world, args.root, args.dataset, args.out,
                                split=None if args.split == "all" else args.split, steps_2d=args.steps_2d,
                                steps_3d=args.steps_3d, cfg=cfg, log=lambda m: print(m, flush=True))
                return 0
            run_world(args.world, args.root, args.out, sweep=args.sweep, rows=args.rows.split(","),
                      steps_2d=args.steps_2d, steps_3d=args.steps_3d, figures=args.figures, cfg=cfg,
                      log=lambda m: print(m, flush=True))
        else:
            from dnerf_research.downstream.report import write_report

            write_report(args.results, page=args.page, figures=args.figures)
    except (DnerfError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
