"""The downstream page (Markdown) and its figures, from research/results/downstream_{car,face}.json.

The page's tables and comparison sentences are computed from the JSON, so they cannot drift from
the numbers; rows missing from a JSON are listed with the command that produces them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

WORLDS = ("car", "face")
ROW_NAMES = {"kit": "(a) 90 annotated kit views", "baseline": "(b) DatasetGAN-style 2D baseline labels",
             "dnerf": "(c) dnerf semantic branch (DatasetNeRF)", "oracle": "(d) oracle renders, exact labels (ceiling)"}
DEFAULT_PAGE = Path(__file__).resolve().parents[2] / "downstream.md"


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _save_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    Image.fromarray(image).save(tmp)
    os.replace(tmp, path)


def _save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)


def prediction_figure(rgb: torch.Tensor, truth: torch.Tensor, preds: dict, palette: np.ndarray, path: Path,
                      scale: int = 2) -> Path:
    """One row per test view: RGB, truth, then each row's prediction (palette colors), nearest-
    upscaled `scale` times, 2-pixel white gaps; column titles are in the page."""
    palette = np.asarray(palette, dtype=np.uint8)
    tiles_per_view = []
    for i in range(len(rgb)):
        tiles = [rgb[i].numpy(), palette[truth[i].numpy().clip(0, len(palette) - 1)]]
        tiles += [palette[p[i].numpy().clip(0, len(palette) - 1)] for p in preds.values()]
        tiles_per_view.append(tiles)
    h, w = rgb.shape[1:3]
    gap = 2
    n_cols = len(tiles_per_view[0])
    canvas = np.full((len(rgb) * (h * scale + gap), n_cols * (w * scale + gap), 3), 255, dtype=np.uint8)
    for r, tiles in enumerate(tiles_per_view):
        for c, tile in enumerate(tiles):
            big = tile.repeat(scale, 0).repeat(scale, 1)
            y, x = r * (h * scale + gap), c * (w * scale + gap)
            canvas[y:y + h * scale, x:x + w * scale] = big
    _save_png(canvas, path)
    return path


def _rows(doc: dict, row: str) -> list[dict]:
    return [r for r in doc["rows"] if r["row"] == row]


def _largest(doc: dict, row: str) -> dict | None:
    rows = _rows(doc, row)
    return max(rows, key=lambda r: r["subjects"]) if rows else None


def plot_sweep(docs: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(docs), figsize=(5.5 * len(docs), 4), squeeze=False)
    for ax, (world, doc) in zip(axes[0], docs.items()):
        for metric, label, style in (("2d", "2D mIoU", "-o"), ("3d", "3D instance mIoU", "-s")):
            get = (lambda r: r["2d"]["miou"]) if metric == "2d" else (lambda r: r["3d"]["instance_miou"])
            dn_rows = sorted(_rows(doc, "dnerf"), key=lambda r: r["subjects"])
            line, = ax.plot([r["subjects"] for r in dn_rows], [get(r) for r in dn_rows], style, label=f"(c) dnerf, {label}")
            color = line.get_color()
            kit = _largest(doc, "kit")
            if kit is not None:
                ax.axhline(get(kit), color=color, ls=":", lw=1, label=f"(a) kit, {label}")
            # baseline and oracle: a thin line over the N they were trained at (one N: a horizontal line)
            for row, ls in (("baseline", "--"), ("oracle", "-.")):
                rs = sorted(_rows(doc, row), key=lambda r: r["subjects"])
                tag = f"{ROW_NAMES[row].split(' ')[0]} {row}, {label}"
                if len(rs) == 1:
                    ax.axhline(get(rs[0]), color=color, ls=ls, lw=1, label=tag)
                elif rs:
                    ax.plot([r["subjects"] for r in rs], [get(r) for r in rs], ls, color=color, lw=1,
                            marker=style[-1], markersize=3, label=tag)
        ax.set_xscale("log")
        ns = sorted(r["subjects"] for r in _rows(doc, "dnerf"))
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        ax.set_xlabel("generated subjects N (2 views each)")
        ax.set_ylabel("mIoU on held-out oracle test set")
        ax.set_title(world)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.12))
    _save_figure(fig, path)
    plt.close(fig)
    return path


def plot_parts(doc: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in (_largest(doc, k) for k in ("kit", "baseline", "dnerf", "oracle")) if r is not None]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for ax, (metric, title) in zip(axes, (("2d", "2D IoU per class (test images)"), ("3d", "3D IoU per part (test clouds)"))):
        names = doc["labels"] if metric == "2d" else doc["labels"][1:]
        width = 0.8 / max(len(shown), 1)
        for i, r in enumerate(shown):
            values = r["2d"]["iou"] if metric == "2d" else r["3d"]["part_iou"]
            ys = [values.get(n) or 0.0 for n in names]
            ax.bar(np.arange(len(names)) + (i - (len(shown) - 1) / 2) * width, ys, width, label=r["key"])
        ax.set_xticks(np.arange(len(names)), names, rotation=30, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"{doc['world']}: {title}")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    _save_figure(fig, path)
    plt.close(fig)
    return path


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _table(doc: dict) -> list[str]:
    lines = ["| row | subjects | images | 2D mIoU | pixel acc. | video mIoU | video consistency (truth) | "
             "3D instance mIoU | 3D part-avg mIoU | 3D point acc. | clouds / points | data s | train s (2D + 3D) | train CPU s (2D + 3D) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        v = r["video"]
        lines.append(f"| {r['key']} | {r['subjects']} | {r['images']} | {_f(r['2d']['miou'])} | {_f(r['2d']['accuracy'])} | "
                     f"{_f(v['segmentation']['miou'])} | {_f(v['consistency'])} ({_f(v['consistency_truth'])}) | "
                     f"{_f(r['3d']['instance_miou'])} | {_f(r['3d']['part_mean'])} | {_f(r['3d']['accuracy'])} | "
                     f"{r['clouds']} / {r['points']} | {'-' if r['data_seconds'] is None else round(r['data_seconds'])} | "
                     f"{round(r['train_seconds_2d'])} + {round(r['train_seconds_3d'])} | {_cpu(r)} |")
    return lines


def _cpu(r: dict) -> str:
    """CPU seconds of the row's two trainings ('-' for rows recorded before they were measured)."""
    if r.get("train_cpu_seconds_2d") is None:
        return "-"
    return f"{round(r['train_cpu_seconds_2d'])} + {round(r['train_cpu_seconds_3d'])}"


def _delta(a: float, b: float) -> str:
    return f"{a - b:+.3f}"


def comparison(doc: dict) -> list[str]:
    """Plain sentences: does the largest dnerf row beat (a) and (b), by how much, how far from (d)."""
    d = _largest(doc, "dnerf")
    if d is None:
        return ["- no dnerf row yet."]
    out = []
    for metric, name, get in (("2D", "2D mIoU", lambda r: r["2d"]["miou"]),
                              ("video", "video mIoU", lambda r: r["video"]["segmentation"]["miou"]),
                              ("3D", "3D instance mIoU", lambda r: r["3d"]["instance_miou"])):
        parts = [f"{name} of dnerf@{d['subjects']} = {get(d):.3f}"]
        for row, verb in (("kit", "the 90 kit views alone"), ("baseline", "the 2D baseline's data")):
            r = _largest(doc, row)
            if r is not None:
                word = "beats" if get(d) > get(r) else "does not beat"
                parts.append(f"{word} {verb} ({get(r):.3f}, {_delta(get(d), get(r))})")
        o = _largest(doc, "oracle")
        if o is not None:
            parts.append(f"{get(o) - get(d):.3f} below the oracle ceiling ({get(o):.3f})")
        out.append("- " + "; ".join(parts) + ".")
    return out


METRICS = (("2D mIoU", lambda r: r["2d"]["miou"]), ("video mIoU", lambda r: r["video"]["segmentation"]["miou"]),
           ("3D instance mIoU", lambda r: r["3d"]["instance_miou"]))


def _by_key(doc: dict) -> dict:
    return {r["key"]: r for r in doc["rows"]}


def seed_runs(results: Path, world: str, schedule: str = "") -> list[dict]:
    """The world's documents of every training seed of one schedule: downstream_<world>[_<schedule>].json
    (its own seed) and downstream_<world>[_<schedule>]_seed<k>.json; schedule "" is the default steps,
    "long" the longer schedule."""
    stem = f"downstream_{world}" + (f"_{schedule}" if schedule else "")
    docs = []
    for f in [results / f"{stem}.json", *sorted(results.glob(f"{stem}_seed*.json"))]:
        if f.is_file():
            docs.append(json.loads(f.read_text()))
    return docs


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def seed_table(world: str, docs: list[dict]) -> list[str]:
    """Each row kind at the largest N trained with every seed on record: mean and standard deviation
    over the seeds, and the dnerf row's verdicts from the means."""
    if len(docs) < 2:
        return []
    keys = set.intersection(*(set(_by_key(d)) for d in docs))
    chosen = {}
    for row in ("kit", "baseline", "dnerf", "oracle"):
        mine = [k for k in keys if k.split("@")[0] == row]
        if mine:
            chosen[row] = max(mine, key=lambda k: _by_key(docs[0])[k]["subjects"])
    if "dnerf" not in chosen:
        return []
    seeds = [d["schedule"]["seed"] for d in docs]
    steps = docs[0]["schedule"]
    lines = [f"### {world}, {steps['steps_2d']} + {steps['steps_3d']} steps: {len(docs)} training seeds "
             f"({', '.join(map(str, seeds))}), same data", "",
             "| row | " + " | ".join(f"{m} (mean ± sd)" for m, _ in METRICS) + " | per seed (2D / 3D) |",
             "|---|" + "---|" * (len(METRICS) + 1)]
    means = {}
    for row, key in chosen.items():
        rs = [_by_key(d)[key] for d in docs]
        cells = []
        for m, get in METRICS:
            mu, sd = _mean_sd([get(r) for r in rs])
            means[(row, m)] = (mu, sd)
            cells.append(f"{mu:.3f} ± {sd:.3f}")
        per = ", ".join(f"{r['2d']['miou']:.3f} / {r['3d']['instance_miou']:.3f}" for r in rs)
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {per} |")
    lines.append("")
    d = chosen["dnerf"]
    for m, _ in METRICS:
        mu, sd = means[("dnerf", m)]
        parts = [f"{m}, {d}: {mu:.3f}"]
        for row, what in (("kit", "the kit"), ("baseline", "the baseline")):
            if row in chosen:
                mu_r, sd_r = means[(row, m)]
                gap = mu - mu_r
                clear = abs(gap) > sd + sd_r
                verdict = ("beats" if gap > 0 else "loses to") if clear else "ties with"
                parts.append(f"{verdict} {what} ({gap:+.3f}{'' if clear else ', within the seeds spread'})")
        if "oracle" in chosen:
            parts.append(f"{means[('oracle', m)][0] - mu:.3f} below the oracle")
        lines.append("- " + "; ".join(parts) + ".")
    return lines + [""]


def schedule_table(world: str, base: dict | None, long: dict | None) -> list[str]:
    """The same rows trained with the default and a longer schedule (seed 0): does training
    length, not the data, limit the numbers?"""
    if base is None or long is None:
        return []
    b, l = _by_key(base), _by_key(long)
    keys = [k for k in l if k in b]
    if not keys:
        return []
    s0, s1 = base["schedule"], long["schedule"]
    lines = [f"### {world}: {s0['steps_2d']} + {s0['steps_3d']} steps vs {s1['steps_2d']} + {s1['steps_3d']} steps (seed {s1['seed']})", "",
             "| row | 2D mIoU | video mIoU | 3D instance mIoU | train CPU s (2D + 3D), long |", "|---|---|---|---|---|"]
    for k in keys:
        cells = [f"{get(b[k]):.3f} -> {get(l[k]):.3f}" for _, get in METRICS]
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {_cpu(l[k])} |")
    return lines + [""]


def _missing(doc: dict | None, world: str) -> list[str]:
    cmd = (f"`nice -n 15 .venv/bin/python scripts/downstream.py train --world {world} --root runs/downstream "
           f"--out research/results/downstream_{world}.json --figures research/results/downstream`")
    if doc is None:
        return [f"- **{world}: no rows.** Produce them with `nice -n 15 .venv/bin/python scripts/downstream.py data "
                f"--world {world} --root runs/downstream` then {cmd}."]
    have = {r["row"] for r in doc["rows"]}
    missing = [r for r in ("kit", "baseline", "dnerf", "oracle") if r not in have]
    return [f"- **{world}: rows {', '.join(missing)} missing**; {cmd} adds them (finished rows are kept)."] if missing else []


def write_report(results: str | Path, page: str | Path | None = None, figures: str | Path | None = None) -> Path:
    results = Path(results)
    page = Path(page) if page else DEFAULT_PAGE
    figures = Path(figures) if figures else results / "downstream"
    docs = {}
    for world in WORLDS:
        f = results / f"downstream_{world}.json"
        if f.is_file():
            docs[world] = json.loads(f.read_text())
    if not docs:
        raise FileNotFoundError(f"no downstream_{{car,face}}.json in {results}")
    rel = lambda p: os.path.relpath(p, page.parent)  # noqa: E731
    sweep_png = plot_sweep(docs, figures / "miou_vs_subjects.png")
    lines = ["# Does the data train anything? Downstream 2D and 3D part segmentation", "",
             "Generated by `scripts/downstream.py report` from "
             + ", ".join(f"`research/results/downstream_{w}.json`" for w in docs) + " (issue 25). The code: "
             "`research/dnerf_research/downstream/`.", ""]
    lines += _intro(next(iter(docs.values())), {w: d["scale"]["sweep"] for w, d in docs.items()})
    for world, doc in docs.items():
        parts_png = plot_parts(doc, figures / f"parts_{world}.png")
        lines += [f"## {world}", "", *_table(doc), "", *comparison(doc), "",
                  f"![mIoU per part, {world}]({rel(parts_png)})", ""]
        pred_png = figures / f"predictions_{world}.png"
        if pred_png.is_file():
            keys = doc.get("figure_rows") or [r["key"] for r in doc["rows"]]
            lines += [f"Three held-out test views ({world}); columns: RGB, exact truth, then the predictions of "
                      + ", ".join(keys) + ".", "", f"![predictions vs truth, {world}]({rel(pred_png)})", ""]
    lines += ["## mIoU against the number of generated subjects", "",
              "Thick line: the dnerf rows; thin lines: the baseline (dashed) and oracle (dash-dot) rows at the same N; "
              "dotted: the kit row (no generated subjects).", "", f"![mIoU vs N]({rel(sweep_png)})", ""]
    if len(docs) == 2:
        lines += ["## 3D, class-averaged over the two categories", "",
                  "ShapeNet-part's class average is the mean over categories; here the categories are car and face.", "",
                  "| row kind | car instance mIoU | face instance mIoU | class-averaged |", "|---|---|---|---|"]
        for row in ("kit", "baseline", "dnerf", "oracle"):
            a, b = _largest(docs["car"], row), _largest(docs["face"], row)
            if a and b:
                ia, ib = a["3d"]["instance_miou"], b["3d"]["instance_miou"]
                lines.append(f"| {a['key']} / {b['key']} | {ia:.3f} | {ib:.3f} | {(ia + ib) / 2:.3f} |")
        lines.append("")
    lines += ["## Read these numbers with", "",
              "- **The kit's poses.** The kit row's 90 views are 3 fixed poses per subject (frontal and two sides); "
              "the test views are random poses over the whole orbit (the car's is a full circle). Every generated row "
              "has random poses, so part of its lead over the kit is pose coverage, which is what a 3D-aware factory "
              "adds, not label quality alone.",
              "- **Which masks taught the labelers.** The baseline's pixel classifier was trained here on the kit's "
              "image masks; the shipped semantic branches (row dnerf) were trained on world-mask kits "
              "(research/RESULTS.md sec. 2.1). The test truth is the oracle's own render (world truth).",
              "- **Small, short training.** Both networks are small and trained briefly (see Networks); at 64x64 and "
              "the default schedule the 2D net learns no few-pixel face part (eye, brow, mouth, ear) for any row, not "
              "even the oracle's, so the face's 2D mIoU compares mostly large parts, and the 3D rows separate the "
              "labelers more clearly. With 3x the steps (section *Training seeds and schedule length*) it learns them "
              "from the dnerf and oracle rows, and the oracle's rows gain the most: the default schedule understates "
              "the ceiling.",
              "- **Training seeds.** Every row of the tables above is one training run (seed 0); the small 2D net "
              "moves with the initialization alone (a class it never predicts in one run changes the mIoU by ~0.1). "
              "The section *Training seeds and schedule length* trains the largest-N rows again with other seeds and "
              "a longer schedule and calls each gap a win, a loss or a tie from the seeds' spread: read the "
              "verdicts there.",
              "- **Times.** `data s` and `train s` are wall seconds of niced processes on 2 cores shared with other "
              "jobs (other engineers', or a second process of this study: the N=1000 rows' data and training ran "
              "two at a time), so they depend on that load; "
              "`train CPU s` is the CPU time of the training process itself (one torch thread), the cost to "
              "compare. Training cost does not grow with N (fixed steps and batch); generating a subject does.", ""]
    robustness = []
    for world in docs:
        robustness += seed_table(world, seed_runs(results, world))
        long_f = results / f"downstream_{world}_long.json"
        robustness += schedule_table(world, docs[world], json.loads(long_f.read_text()) if long_f.is_file() else None)
        robustness += seed_table(world, seed_runs(results, world, "long"))
    if robustness:
        lines += ["## Training seeds and schedule length", "",
                  "The tables above are one training run each (seed 0). The same data trained again with other seeds "
                  "(`train --seed k`, `downstream_<world>_seed<k>.json`) and with a longer schedule "
                  "(`downstream_<world>_long.json`, its other seeds `downstream_<world>_long_seed<k>.json`). A gap "
                  "is called a tie when it is smaller than the two rows' standard deviations over the seeds added "
                  "together.", "", *robustness]
    missing = [m for w in WORLDS for m in _missing(docs.get(w), w)]
    lines += ["## Missing rows", "", *(missing or ["- none: every row of both worlds is in the tables."]), ""]
    _atomic_write_text(page, "\n".join(lines))
    return page


def _intro(doc: dict, sweeps: dict[str, list[int]]) -> list[str]:
    """The protocol paragraph; doc: one world's document (settings shared by both), sweeps: N per world."""
    s, sc, t = doc["schedule"], doc["scale"], doc["test"]
    return [
        "## Protocol", "",
        "- **Rows** (the same network, initialization and schedule for each):",
        f"  (a) `kit`: the {sc['kit_subjects']} x {sc['kit_views']} annotation-kit views (`annotate-kit --oracle`, image masks: "
        "the oracle's parts on the generator's own surface); its clouds are those masks back-projected through the "
        "generator's depth;",
        f"  (b) `baseline@N`: the generated views of N subjects ({sc['views']} random poses each) labeled by the "
        "DatasetGAN-style pixel classifier (`dnerf_research/baseline.py`) trained on the same 90 kit views;",
        "  (c) `dnerf@N`: the SAME generated views (identical RGB and depth, one render) labeled by dnerf's shipped "
        "semantic branch (`default:car` / `default:face`);",
        "  (d) `oracle@N`: `procedural:C`'s own renders and clouds of the same seeds and poses, exact labels.",
        "  Clouds: every row's clouds are the opaque labeled pixels of that row's views back-projected and voxel-voted "
        "as `dnerf-export` does (partial clouds from the subject's views).",
        f"- **Test sets** (oracle, held-out seeds >= 1 000 000, never trained on): {t['images']} images "
        f"({t['image_subjects']} subjects x 2 random poses, exact masks); {t['videos']} orbit videos x {t['frames']} "
        f"frames; {t['clouds']} clouds ({t['points']} points) of the same {t['image_subjects']} subjects, exact labels.",
        "- **Metrics.** 2D: mIoU over all classes including background, from one confusion matrix over all test "
        "pixels; pixel accuracy. Video: the same mIoU over every frame, and temporal consistency = share of "
        "consecutive-frame pixel pairs, matched by warping with the oracle's depth (occlusion-checked), whose "
        "predicted labels agree (the truth's own agreement on the same pairs in brackets). 3D: ShapeNet-part "
        "protocol, predictions restricted to the category's parts, per-shape mean part IoU with a part absent from "
        "both counted as 1, instance-averaged; part-avg = mean over parts of the IoU pooled over all test points.",
        f"- **Networks** (`seg2d.py`, `pointnet.py`): a U-Net-like encoder-decoder (width {s['seg2d']['width']}, "
        f"{s['seg2d']['depth']} poolings, skips), {s['steps_2d']} Adam steps x batch {s['batch_2d']}, flips; a PointNet "
        f"segmenter (shared MLP {s['pointnet']['local']}, max-pooled global {s['pointnet']['global_width']} concatenated "
        f"back, head {s['pointnet']['head']}), {s['steps_3d']} steps x {s['batch_3d']} clouds x {s['points']} points. "
        "Both from scratch: nothing pretrained.",
        f"- **Scaled down** to fit the shared 2-core machine: {sc['resolution']}x{sc['resolution']} images, "
        f"{sc['views']} views per generated subject, N in {', '.join(f'{v} ({w})' for w, v in sweeps.items())} instead of the issue's {sc['asked_by_issue']}, "
        "short schedules. `data s` is the wall time to generate the row's N subjects, summed over the chunks of 10 "
        "subjects that made them (chunks made by parallel `data --part` processes add up; all three generated rows come "
        "from the same pass: the labeled generator's render dominates); `train s` the wall time of each training, on "
        "2 cores shared with other work (niced).", ""]
