"""Benchmark `dnerf dataset` (#24): subjects/s, views/s and peak memory per executor.

Each configuration runs the real command line in a fresh process (so imports, worker start-up and
generator loading count, as they do for a user) into a fresh folder; the whole process tree's
resident memory (driver, local workers, or the local Ray instance's processes) is sampled every
0.2 s and its peak reported. Throughput comes from the run's own run.json.

  python scripts/bench_dataset.py --subjects 200 --resolution 128 --views 4 --json bench_dataset.json

The issue's figure is 200 subjects at 128x128; on a loaded 2-core machine that takes long, so
--subjects is a flag (the JSON records what was run).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {
    "local-1": ["--executor", "local", "--workers", "1"],
    "local-2": ["--executor", "local", "--workers", "2"],
    "ray": ["--executor", "ray"],
}
SAMPLE_EVERY_S = 0.2


def _tree_rss(psutil, pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_one(name: str, args: argparse.Namespace, work: Path) -> dict:
    import psutil

    out = work / name
    cmd = [sys.executable, "-c", "import sys; from dnerf_core.cli import main; main(sys.argv[1:])", "dataset",
           "--generator", args.generator,
           "--subjects", str(args.subjects), "--views", str(args.views), "--resolution", str(args.resolution),
           "--shard-size", str(args.shard_size), "--formats", args.formats, "--render", args.render,
           "--quiet", "--out", str(out),
           *CONFIGS[name]]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(psutil, proc.pid))
        time.sleep(SAMPLE_EVERY_S)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"config": name, "error": stderr.decode().strip().splitlines()[-1:]}
    run = json.loads((out / "run.json").read_text())
    return {"config": name, "subjects": args.subjects, "views": run["views"], "seconds": run["seconds"],
            "wall_seconds_with_startup": round(wall, 3), "subjects_per_second": run["subjects_per_second"],
            "views_per_second": run["views_per_second"], "bytes": run["bytes"],
            "peak_rss_mb": round(peak / 2 ** 20, 1)}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="default:car")
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--shard-size", type=int, default=10)
    ap.add_argument("--formats", default="folders,webdataset,ply,pts")
    ap.add_argument("--render", default="fast", help="render path: volume, fast or surface")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma list of " + ", ".join(CONFIGS))
    ap.add_argument("--json", default=None, help="also write the report here")
    ap.add_argument("--keep", action="store_true", help="keep the datasets (default: deleted)")
    return ap


def run(args: argparse.Namespace) -> dict:
    """Every configuration of args.configs, side by side -> the report."""
    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown config {unknown[0]!r}; known: {', '.join(CONFIGS)}")
    work = Path(tempfile.mkdtemp(prefix="dnerf-bench-dataset-"))
    try:
        results = [run_one(n, args, work) for n in names]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report = {"benchmark": "dnerf dataset", "generator": args.generator, "subjects": args.subjects,
              "views": args.views, "resolution": args.resolution, "shard_size": args.shard_size,
              "formats": args.formats, "render": args.render, "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg(),
              "python": platform.python_version(), "results": results}
    return report


def main() -> None:
    args = parser().parse_args()
    report = run(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
