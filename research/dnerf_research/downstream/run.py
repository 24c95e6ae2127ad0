"""Train and score every row of one world; the JSON is rewritten (atomically) after each row,
and rows already in it with the same schedule are skipped, so a killed run resumes."""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

import dnerf_core as dn

from .data import (DATA_FILE, TestSet, TrainingSet, generated_subjects, generation_seconds, load_generated_row,
                   load_kit_row, load_test, world_dir)
from .dataset_row import load_dataset_row
from .score import as_dict, scores_2d, scores_3d, video_scores
from .train import TrainConfig, predict_pointnet, predict_seg2d, train_pointnet, train_seg2d

ROWS = ("kit", "baseline", "dnerf", "oracle")
FIGURE_VIEWS = (0, 1, 2)  # the test views shown as predictions next to truth
FORMAT = "dnerf-downstream"
ROWS_DIR = "rows"


def _save_tensor(t, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(t, tmp)
    os.replace(tmp, path)


def rows_dir_name(schedule: dict) -> str:
    """The folder holding the rows trained with `schedule`: ROWS_DIR for the default schedule,
    else ROWS_DIR plus the fields that differ (e.g. rows-seed=1), so rows of several seeds or
    schedules live side by side in one data folder instead of retraining each other's files."""
    default = json.loads(json.dumps(asdict(TrainConfig())))
    changed = [k for k in sorted(schedule) if schedule[k] != default.get(k)]
    if not changed:
        return ROWS_DIR
    return ROWS_DIR + "-" + ",".join(f"{k}={schedule[k]}" if not isinstance(schedule[k], dict) else
                                     f"{k}~{hashlib.sha1(json.dumps(schedule[k], sort_keys=True).encode()).hexdigest()[:8]}"
                                     for k in changed)


def _finished(rows_dir: Path, key: str, schedule: dict) -> dict | None:
    """The row's record if it was finished with this schedule."""
    f = rows_dir / f"{key}.json"
    if not f.is_file():
        return None
    saved = json.loads(f.read_text())
    return saved["record"] if saved.get("schedule") == schedule else None


def _assemble(doc: dict, rows_dir: Path, schedule: dict, order: list[str]) -> dict:
    """The world's document with every finished row of this schedule, in plan order."""
    rows = [r for r in (_finished(rows_dir, k, schedule) for k in order) if r is not None]
    return {**doc, "rows": rows}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def row_plan(rows: list[str], sweep: list[int], available: int) -> list[tuple[str, str, int | None]]:
    """(key, row, generated subjects) for every row asked: the dnerf, baseline and oracle rows at
    each N of the sweep that is on disk (at one N the three share seeds and poses, so every
    comparison is at equal N), and the kit row. rows: row kinds (ROWS) or single keys (e.g. dnerf@50)."""
    kinds = {r.split("@")[0] for r in rows}
    unknown = sorted(kinds - set(ROWS))
    if unknown:
        raise dn.DnerfError(f"unknown rows {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    ns = sorted({n for n in sweep if n <= available})
    if not ns and kinds - {"kit"}:
        raise dn.DnerfError(f"only {available} generated subjects on disk; the sweep {sweep} needs at least {min(sweep)}")
    plan = []
    for row in ROWS:
        if row == "kit":
            plan.append(("kit", "kit", None))
        else:
            plan += [(f"{row}@{n}", row, n) for n in ns]
    return [p for p in plan if p[0] in rows or p[1] in rows]


def _data_config(root: Path, world: str) -> dict:
    """The world's data.json (written by `scripts/downstream.py data`), or one clear error."""
    path = world_dir(root, world) / DATA_FILE
    if not path.is_file():
        raise dn.DnerfError(f"no data for {world} in {root}: run `scripts/downstream.py data --world {world}` first")
    return json.loads(path.read_text())


def _with_steps(cfg: TrainConfig | None, steps_2d: int | None, steps_3d: int | None) -> TrainConfig:
    """cfg (default: TrainConfig()) with the step counts given (None: keep cfg's)."""
    steps = {k: v for k, v in (("steps_2d", steps_2d), ("steps_3d", steps_3d)) if v is not None}
    return replace(cfg or TrainConfig(), **steps)


def run_world(world: str, root: str | Path, out: str | Path, sweep: list[int], rows: list[str] = list(ROWS),
              steps_2d: int | None = None, steps_3d: int | None = None, figures: str | Path | None = None,
              cfg: TrainConfig | None = None, log: Callable[[str], None] = print) -> dict:
    """Every row of `world` trained and scored; returns (and writes to `out`) the JSON document."""
    root, out = Path(root), Path(out)
    wdir = world_dir(root, world)
    data_cfg = _data_config(root, world)
    cfg = _with_steps(cfg, steps_2d, steps_3d)
    world_gen = dn.load_generator(f"procedural:{world}", device="cpu")
    label_set, scale = world_gen.label_set, world_gen.bounds
    names = label_set.names
    available = generated_subjects(root, world)
    plan = row_plan(rows, sweep, available)
    test = load_test(root, world)
    schedule = json.loads(json.dumps(asdict(cfg)))  # as it reads back from the JSON (tuples -> lists)
    # Each finished row is kept in its own file (<rows dir>/<key>.json + its figure predictions),
    # so rows of one world can train in parallel processes; the world's JSON is rebuilt from all of
    # them after every row (the last writer's copy holds every row finished before it).
    rows_dir = wdir / rows_dir_name(schedule)
    rows_dir.mkdir(exist_ok=True)
    old = json.loads(out.read_text()) if out.is_file() else {}
    if old.get("schedule") == schedule and old.get("world") == world:
        legacy = wdir / "figure_predictions.pt"  # rows of a run from before the row files
        legacy_preds = torch.load(legacy, weights_only=True) if legacy.is_file() else {}
        for r in old.get("rows", []):
            if not (rows_dir / f"{r['key']}.json").is_file():
                if r["key"] in legacy_preds:
                    _save_tensor(legacy_preds[r["key"]], rows_dir / f"{r['key']}.pt")
                _write_json(rows_dir / f"{r['key']}.json", {"schedule": schedule, "record": r})
    doc = {
        "format": FORMAT, "world": world, "labels": names, "colors": label_set.palette().tolist(),
        "schedule": schedule,
        "scale": {**{k: data_cfg[k] for k in ("resolution", "views", "kit_subjects", "kit_views", "baseline_steps")},
                  "generated_subjects_on_disk": available, "sweep": [n for n in sweep if n <= available],
                  "asked_by_issue": [100, 300, 1000]},
        "test": {"images": len(test.images), "image_subjects": data_cfg["test_subjects"],
                 "videos": int(test.video.labels.shape[0]), "frames": int(test.video.labels.shape[1]),
                 "clouds": len(test.clouds), "points": int(sum(len(c.labels) for c in test.clouds)),
                 "seeds": "held-out (>= 1 000 000), oracle renders at random poses, exact labels"},
        "rows": [],
    }
    full_order = [k for k, _, _ in row_plan(list(ROWS), sweep, available)]
    for key, row, n in plan:
        if _finished(rows_dir, key, schedule) is not None:
            continue
        data = load_kit_row(root, world) if row == "kit" else load_generated_row(root, world, row, n)
        data_seconds = None if row == "kit" else round(generation_seconds(root, world, n), 1)
        record, pred = train_and_score(key, row, data, data_seconds, test, names, scale, cfg,
                                       log=lambda m: log(f"{world} {m}"))
        _save_tensor(pred[list(FIGURE_VIEWS)].to(torch.uint8), rows_dir / f"{key}.pt")
        _write_json(rows_dir / f"{key}.json", {"schedule": schedule, "record": record})
        _write_json(out, _assemble(doc, rows_dir, schedule, full_order))
    doc = _assemble(doc, rows_dir, schedule, full_order)
    shown = _figure_predictions(doc["rows"], rows_dir)
    doc["figure_rows"] = list(shown)  # the prediction figure's columns, in order (a function of the rows)
    if figures is not None and shown:
        from .report import prediction_figure

        prediction_figure(test.images.rgb[list(FIGURE_VIEWS)], test.images.labels[list(FIGURE_VIEWS)],
                          shown, label_set.palette(), Path(figures) / f"predictions_{world}.png")
    _write_json(out, doc)
    return doc


def train_and_score(key: str, row: str, data: TrainingSet, data_seconds: float | None, test: TestSet,
                    names: list[str], scale: float, cfg: TrainConfig,
                    log: Callable[[str], None] = print) -> tuple[dict, Tensor]:
    """Train both networks on one row's data, score them on the test sets: (the row's JSON record,
    the 2D predictions of every test image [N,H,W])."""
    t0 = time.time()
    t2 = train_seg2d(data.images, len(names), cfg)
    pred = predict_seg2d(t2.model, test.images.rgb)
    s2 = scores_2d(pred, test.images.labels, names)
    m, f = test.video.rgb.shape[:2]
    vpred = predict_seg2d(t2.model, test.video.rgb.flatten(0, 1)).reshape(m, f, *test.video.rgb.shape[2:4])
    sv = video_scores(vpred, test.video, names)
    t3 = train_pointnet(data.clouds, len(names) - 1, scale, cfg)
    s3 = scores_3d([predict_pointnet(t3, c) for c in test.clouds], test.clouds, names)
    record = {"key": key, "row": row, "subjects": data.subjects, "images": len(data.images),
              "clouds": len(data.clouds), "points": data.n_points,
              "data_seconds": data_seconds, "train_seconds_2d": round(t2.seconds, 1),
              "train_seconds_3d": round(t3.seconds, 1), "train_cpu_seconds_2d": round(t2.cpu_seconds, 1),
              "train_cpu_seconds_3d": round(t3.cpu_seconds, 1), "final_loss_2d": round(t2.final_loss, 4),
              "final_loss_3d": round(t3.final_loss, 4),
              "2d": as_dict(s2), "video": as_dict(sv), "3d": as_dict(s3)}
    log(f"{key}: 2D mIoU {s2.miou:.3f} acc {s2.accuracy:.3f} | video mIoU {sv.segmentation.miou:.3f} "
        f"consistency {sv.consistency:.3f} (truth {sv.consistency_truth:.3f}) | 3D instance mIoU "
        f"{s3.instance_miou:.3f} | {len(data.images)} images, {data.n_points} points | "
        f"train {t2.seconds:.0f}+{t3.seconds:.0f} s (CPU {t2.cpu_seconds:.0f}+{t3.cpu_seconds:.0f} s), "
        f"row {time.time() - t0:.0f} s")
    return record, pred


def run_dataset_row(world: str, root: str | Path, dataset: str | Path, out: str | Path, split: str | None = "train",
                    steps_2d: int | None = None, steps_3d: int | None = None, cfg: TrainConfig | None = None,
                    log: Callable[[str], None] = print) -> dict:
    """One row trained on a `dnerf dataset` folder and scored on `world`'s oracle test sets (made by
    `scripts/downstream.py data`); written to `out` (one row per dataset folder, replaced if present).
    Returns the record."""
    root, out, dataset = Path(root), Path(out), Path(dataset)
    data_cfg = _data_config(root, world)
    cfg = _with_steps(cfg, steps_2d, steps_3d)
    world_gen = dn.load_generator(f"procedural:{world}", device="cpu")
    names = list(world_gen.label_set.names)
    data = load_dataset_row(dataset, names, data_cfg["resolution"], split)
    header = json.loads((dataset / "dataset.json").read_text())
    key = f"dataset:{dataset.name}"
    record, _ = train_and_score(key, "dataset", data, None, load_test(root, world), names, world_gen.bounds, cfg,
                                log=lambda m: log(f"{world} {m}"))
    record["dataset"] = {"path": str(dataset), "split": split, "arguments": header.get("arguments")}
    old = json.loads(out.read_text()) if out.is_file() else {}
    rows = [r for r in old.get("rows", []) if r["key"] != key] + [record]
    _write_json(out, {"format": FORMAT, "world": world, "labels": names,
                      "schedule": json.loads(json.dumps(asdict(cfg))), "rows": rows})
    return record


def _figure_predictions(rows: list[dict], rows_dir: Path) -> dict[str, Tensor]:
    """The figure's columns: of each row kind its largest-N row whose predictions are on disk
    (rows imported from an older JSON have none), so the figure compares the labelers, not the sweep."""
    shown = {}
    for kind in ROWS:
        kept = [r for r in rows if r["row"] == kind and (rows_dir / f"{r['key']}.pt").is_file()]
        if kept:
            key = max(kept, key=lambda r: r["subjects"])["key"]
            shown[key] = torch.load(rows_dir / f"{key}.pt", weights_only=True)
    return shown
