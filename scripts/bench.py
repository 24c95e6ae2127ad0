#!/usr/bin/env python
"""Speed and memory figures, compared side by side in one run, written as JSON.

    .venv/bin/python scripts/bench.py --out bench.json [--only oracle,cloud,...] [--quick]

Each benchmark is a function returning a dict; the machine's float32 matmul GFLOP/s is measured
in the same run as the yardstick for "fraction of peak" figures. Timings are medians of repeats.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MATMUL_SIZE = 2048


def _median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_matmul(quick: bool) -> dict:
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    sec = _median_seconds(lambda: a @ b, 3 if quick else 10)
    return {"size": MATMUL_SIZE, "seconds": sec, "gflops": 2 * MATMUL_SIZE ** 3 / sec / 1e9}


def bench_oracle(quick: bool) -> dict:
    from dnerf_core.cameras import random_orbit_cameras
    from dnerf_core.generators.procedural import ProceduralGenerator

    out = {}
    for category in ("car", "face"):
        gen = ProceduralGenerator(category)
        subject = gen.sample([0])
        cams = random_orbit_cameras(4, gen.orbit, torch.Generator().manual_seed(0))
        sec = _median_seconds(lambda: gen.render(subject, cams, 128), 2 if quick else 5)
        out[category] = {"resolution": 128, "views_per_second": len(cams) / sec}
    return out


def bench_cloud(quick: bool) -> dict:
    from dnerf_core.cameras import spread_orbit_cameras
    from dnerf_core.factory.pointcloud import labeled_point_cloud
    from dnerf_core.generators.procedural import ProceduralGenerator

    gen = ProceduralGenerator("car")
    subject = gen.sample([7])
    cams = spread_orbit_cameras(8, gen.orbit)
    n_points = []
    sec = _median_seconds(lambda: n_points.append(len(labeled_point_cloud(gen, subject, cams, 128))),
                          2 if quick else 3)
    return {"views": 8, "resolution": 128, "seconds_to_merged_cloud": sec, "points": n_points[-1]}


BENCHMARKS: dict[str, Callable[[bool], dict]] = {
    "matmul": bench_matmul,
    "oracle": bench_oracle,
    "cloud": bench_cloud,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    parser.add_argument("--only", default=None, help=f"comma list of {','.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    report = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "processor": platform.machine()}}
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        report[name] = BENCHMARKS[name](args.quick)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        from dnerf_core.factory.export.atomic import atomic_write_text

        atomic_write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
