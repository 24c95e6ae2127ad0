#!/usr/bin/env python
"""Re-run the paper's semantic tables on our oracle worlds, scored against exact ground truth.

    .venv/bin/python research/scripts/reproduce_tables.py --category car
    .venv/bin/python research/scripts/reproduce_tables.py --category face --steps 1500 --workdir runs/tables_face
    .venv/bin/python research/scripts/reproduce_tables.py --category car --quick      # shrunken smoke run

What it does (all in --workdir, default runs/tables_<category>; resumable: a finished kit,
checkpoint or evaluation found there is reused, an interrupted semantic training resumes):
  1. an oracle annotation kit: 30 training subjects x 3 views (frontal + 2 sides), masks from
     the procedural ground truth (`make_kit(..., oracle=True)`; --kit-masks image or world);
  2. one model per row: the DatasetNeRF semantic branch (`train_semantic`) in its variants, the
     DatasetGAN-style baseline (per-pixel MLP ensemble on the rendered features) and the transfer
     baseline (a U-Net pretrained on the other world's oracle renders, fine-tuned on the kit);
  3. every row evaluated the same way (dnerf_research.semantic_quality): 90 held-out subjects
     at random poses, 5 held-out subjects x 61-frame orbits with 3D consistency.
Writes --out (JSON, default research/results/tables_<category>.json) and the same name with .md:
  Tab. 1  transfer and DatasetGAN-style baselines vs DatasetNeRF (individual + video, 3D consistency)
  Tab. 4  multiscale features on/off x density prior on/off
  Tab. 5  30 / 45 / 90 annotated views (the first 10 / 15 / 30 kit subjects)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

# research/ (dnerf_research) and, for a source checkout, the repository root (dnerf_core)
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from dnerf_core.lab import retain_freed_memory  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"

KIT_DIR = "kit"
CHECKPOINT_DIR = "checkpoints"
ROWS_DIR = "rows"


@dataclass(frozen=True)
class TableSettings:
    """kit_subjects x kit_views annotated views; steps / views_per_step: semantic training;
    baseline_steps: Adam steps per baseline MLP, and the transfer segmenter's fine-tuning steps
    (it is pretrained for TRANSFER_PRETRAIN_PER_STEP times as many); n_individual / n_video /
    n_frames: evaluation sets; resolution: neural resolution of evaluation renders (None: the generator's);
    kit_masks: how the oracle fills the kit's masks ("image": the true parts of the surface each
    kit image shows, "world": the oracle's own renders; semantic.annotations.ORACLE_MASKS)."""

    kit_subjects: int = 30
    kit_views: int = 3
    steps: int = 1500
    views_per_step: int = 2
    baseline_steps: int = 1500
    n_individual: int = 90
    n_video: int = 5
    n_frames: int = 61
    resolution: int | None = None
    kit_masks: str = "image"


# The transfer row: pretraining steps per fine-tuning step, and source-world renders per kit view
# (a 90-view kit: 720 renders of the other world, 1200 pretraining steps for 300 fine-tuning steps).
TRANSFER_PRETRAIN_PER_STEP = 4
TRANSFER_SOURCE_PER_VIEW = 8

# A shrunken run: minutes on a CPU, numbers only good for checking the pipeline end to end.
QUICK = TableSettings(kit_subjects=3, steps=30, baseline_steps=60, n_individual=4, n_video=1, n_frames=8)


@dataclass(frozen=True)
class Row:
    """One trained model: method 'datasetnerf' (semantic branch), 'datasetgan' or 'transfer'
    (baselines), the two ablation switches, and the share of kit subjects it is trained on (num / den)."""

    name: str
    method: str
    multiscale: bool = True
    density_prior: bool = True
    share: tuple[int, int] = (1, 1)

    def n_subjects(self, kit_subjects: int) -> int:
        num, den = self.share
        return max(1, (kit_subjects * num + den // 2) // den)


ROWS = {r.name: r for r in (
    Row("transfer", "transfer"),
    Row("datasetgan", "datasetgan"),
    Row("datasetnerf", "datasetnerf"),
    Row("no_multiscale", "datasetnerf", multiscale=False),
    Row("no_density_prior", "datasetnerf", density_prior=False),
    Row("no_multiscale_no_density_prior", "datasetnerf", multiscale=False, density_prior=False),
    Row("subjects_1_3", "datasetnerf", share=(1, 3)),
    Row("subjects_1_2", "datasetnerf", share=(1, 2)),
)}
TABLES = {
    "tab1": ["transfer", "datasetgan", "datasetnerf"],
    "tab4": ["no_multiscale_no_density_prior", "no_multiscale", "no_density_prior", "datasetnerf"],
    "tab5": ["subjects_1_3", "subjects_1_2", "datasetnerf"],
}

CONVENTIONS = {
    "miou": "mean IoU over the label set's classes INCLUDING background (DatasetGAN/DatasetNeRF convention), "
            "IoU per class from the confusion matrix summed over all evaluated pixels, classes absent from "
            "prediction and truth left out; miou_parts excludes background",
    "accuracy": "share of pixels whose predicted label equals the oracle's",
    "truths": "individual / video.segmentation: vs the oracle's own render of the seed (world truth, also counts "
              "the generator's geometric error); individual_image / video.segmentation_image: vs the oracle's 3D "
              "part at the surface point each evaluated pixel shows, background where the view is transparent "
              "(image truth: what an annotator of the generated image draws, the paper's protocol)",
    "cross_view_agreement": "video frames back-projected through the generator's depth (opacity > 0.5); share of "
                            "points whose label is the majority label of the OTHER frames' points in their voxel "
                            "(edge bounds/64); points in voxels seen by one frame only are not counted",
    "cross_view_ceiling": "the same measure with the oracle's exact 3D labels at the same points (voxels on "
                          "part borders keep it below 1)",
    "oracle_agreement": "share of back-projected points whose label equals the oracle's label at that 3D point",
    "seeds": "training kit seeds 0..kit_subjects-1; evaluation on held-out seeds (dnerf_core.io.splits)",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the annotation kit ------------------------------------------------------------------------------
def ensure_kit(generator, category: str, workdir: Path, settings: TableSettings):
    """The oracle-annotated kit in workdir/kit (made once) with `generator`'s images (and, for
    image masks, its surface); a generator given as a .pt file is recorded as default:<category>
    (make_kit needs a spec naming the oracle category)."""
    from dnerf_core import GeneratorSpec, load_kit
    from dnerf_core.lab import spec_category, write_kit as make_kit

    path = workdir / KIT_DIR
    if not path.exists():
        log(f"annotation kit: {settings.kit_subjects} subjects x {settings.kit_views} views "
            f"(oracle {settings.kit_masks} masks)")
        own = generator.spec
        if spec_category(own) != category:
            generator.spec = GeneratorSpec.parse(f"default:{category}")
        try:
            make_kit(generator, path, subjects=settings.kit_subjects, views=settings.kit_views, oracle=True,
                     oracle_masks=settings.kit_masks)
        finally:
            generator.spec = own
    kit = load_kit(path)
    want = settings.kit_subjects * settings.kit_views
    if len(kit) != want or kit.category != category or kit.oracle_masks != settings.kit_masks:
        raise SystemExit(f"{path} holds {len(kit)} views of {kit.category} with {kit.oracle_masks} masks, this run "
                         f"needs {want} of {category} with {settings.kit_masks} masks: use another --workdir")
    return kit


# --- training one row --------------------------------------------------------------------------------
def _semantic_row(generator, kit, row: Row, n: int, settings: TableSettings, ckpt: Path):
    from dnerf_core import SemanticConfig, SemanticTrainConfig
    from dnerf_core.lab import (CheckpointError, LabeledGenerator, load_semantic, read_semantic, same_train_config,
                                train_branch as train_semantic)

    semantic = SemanticConfig(num_classes=len(kit.label_set), multiscale=row.multiscale,
                              density_prior=row.density_prior)
    cfg = SemanticTrainConfig(steps=settings.steps, views_per_step=settings.views_per_step)
    if ckpt.is_file():  # finished before: reuse without re-marching the annotated views
        extra = json.loads(read_semantic(ckpt)["extra"])
        if same_train_config(extra.get("train_config"), cfg) and extra.get("steps") == cfg.steps and extra.get("views") == n:
            try:
                branch, _ = load_semantic(ckpt, generator)
                if branch.config == semantic:
                    return LabeledGenerator(generator, branch, kit.label_set)
            except CheckpointError:
                pass  # trained on another generator: train again
    log(f"{row.name}: training the semantic branch on {n} views, {cfg.steps} steps")
    branch = train_semantic(generator, kit.label_set, kit.seeds[:n], kit.cameras[:n], kit.masks[:n],
                            semantic, cfg, checkpoint=ckpt)
    return LabeledGenerator(generator, branch, kit.label_set)


def _baseline_row(generator, kit, n: int, settings: TableSettings, ckpt: Path, gen_id: str):
    from dnerf_research.baseline import BaselineConfig, DatasetGANBaseline, load_baseline, save_baseline, train_baseline

    cfg = BaselineConfig(steps=settings.baseline_steps)
    extra = {"config": asdict(cfg), "views": n, "generator_identity": gen_id}
    if ckpt.is_file():
        clf, _, saved = load_baseline(ckpt)
        if saved == extra:
            return DatasetGANBaseline(generator, clf, kit.label_set)
    log(f"datasetgan: training {cfg.n_models} pixel MLPs on {n} views, {cfg.steps} steps each")
    clf = train_baseline(generator, kit.label_set, kit.seeds[:n], kit.cameras[:n], kit.masks[:n], cfg)
    save_baseline(ckpt, clf, kit.label_set, extra)
    return DatasetGANBaseline(generator, clf, kit.label_set)


def transfer_config(settings: TableSettings):
    from dnerf_research.transfer import TransferConfig

    return TransferConfig(source_images=TRANSFER_SOURCE_PER_VIEW * settings.kit_subjects * settings.kit_views,
                          pretrain_steps=TRANSFER_PRETRAIN_PER_STEP * settings.baseline_steps,
                          finetune_steps=settings.baseline_steps)


def _transfer_row(generator, category: str, kit, n: int, settings: TableSettings, ckpt: Path, gen_id: str):
    from dnerf_research.transfer import SOURCE_WORLD, TransferBaseline, load_transfer, save_transfer, train_transfer

    cfg, source = transfer_config(settings), SOURCE_WORLD[category]
    extra = json.loads(json.dumps({"config": asdict(cfg), "source": source, "views": n, "generator_identity": gen_id}))
    if ckpt.is_file():
        net, _, saved = load_transfer(ckpt)
        if saved == extra:
            return TransferBaseline(generator, net, kit.label_set)
    log(f"transfer: pretraining a U-Net on {cfg.source_images} {source} oracle renders ({cfg.pretrain_steps} steps), "
        f"fine-tuning on {n} views ({cfg.finetune_steps} steps)")
    net = train_transfer(generator, kit.label_set, kit.seeds[:n], kit.cameras[:n], kit.masks[:n], source, cfg)
    save_transfer(ckpt, net, kit.label_set, cfg, extra)
    return TransferBaseline(generator, net, kit.label_set)


def run_row(generator, category: str, kit, row: Row, settings: TableSettings, workdir: Path,
            gen_id: str) -> dict:
    """Train (or reuse) and evaluate one row; the evaluation is cached next to the checkpoint."""
    from dnerf_research.semantic_quality import evaluate_semantic
    from dnerf_core.lab import atomic_write_text, ProceduralGenerator

    n_subjects = row.n_subjects(settings.kit_subjects)
    n = n_subjects * settings.kit_views
    # through JSON once, so it compares equal to the cached copy (tuples come back as lists)
    key = json.loads(json.dumps({"row": asdict(row), "settings": asdict(settings), "generator_identity": gen_id,
                                 "views": n}))
    cache = workdir / ROWS_DIR / f"{row.name}.json"
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            log(f"{row.name}: reusing {cache}")
            return saved["record"]
    ckpt = workdir / CHECKPOINT_DIR / f"{row.name}.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    if row.method == "datasetgan":
        labeled = _baseline_row(generator, kit, n, settings, ckpt, gen_id)
    elif row.method == "transfer":
        labeled = _transfer_row(generator, category, kit, n, settings, ckpt, gen_id)
    else:
        labeled = _semantic_row(generator, kit, row, n, settings, ckpt)
    log(f"{row.name}: evaluating ({settings.n_individual} subjects, {settings.n_video} x {settings.n_frames} frames)")
    quality = evaluate_semantic(labeled, ProceduralGenerator(category), settings.n_individual, settings.n_video,
                                settings.n_frames, settings.resolution)
    record = json.loads(json.dumps({**asdict(row), "annotated_subjects": n_subjects, "annotated_views": n,
                                    **quality.to_dict()}))
    atomic_write_text(cache, json.dumps({"key": key, "record": record}, indent=1) + "\n")
    return record


# --- tables --------------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}"


def _metrics(rec: dict) -> list[str]:
    if "error" in rec:
        return ["failed (see JSON)"] + ["-"] * (len(METRIC_HEADER) - 1)
    ind, vid = rec["individual"], rec["video"]
    ind_img, vid_img = rec.get("individual_image", {}), vid.get("segmentation_image", {})
    con = vid["consistency"]
    return [_pct(ind_img.get("miou")), _pct(ind["miou"]), _pct(ind_img.get("accuracy")), _pct(ind["accuracy"]),
            _pct(vid_img.get("miou")), _pct(vid["segmentation"]["miou"]), _pct(con["cross_view_agreement"]),
            _pct(con["oracle_agreement"])]


METRIC_HEADER = ["mIoU image", "mIoU world", "acc. image", "acc. world", "video mIoU image", "video mIoU world",
                 "3D cross-view", "3D vs oracle"]


def _table(title: str, first: list[str], rows: list[tuple[list[str], dict]]) -> str:
    head = first + METRIC_HEADER
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells + _metrics(rec)) + " |" for cells, rec in rows]
    return "\n".join(lines) + "\n"


def markdown(report: dict) -> str:
    from dnerf_research.transfer import SOURCE_WORLD

    rows = report["rows"]
    s = report["settings"]
    yes = lambda b: "yes" if b else "no"  # noqa: E731
    names = {"transfer": f"Transfer (U-Net pretrained on {SOURCE_WORLD[report['category']]} renders)",
             "datasetgan": "DatasetGAN-style (pixel MLPs)", "datasetnerf": "DatasetNeRF (ours)"}
    first = {  # the leading cells of each table's rows, from the row definitions
        "tab1": (["method"], lambda r: [names[r.name]]),
        "tab4": (["multiscale", "density prior"], lambda r: [yes(r.multiscale), yes(r.density_prior)]),
        "tab5": (["annotated views", "subjects"],
                 lambda r: [str(r.n_subjects(s["kit_subjects"]) * s["kit_views"]), str(r.n_subjects(s["kit_subjects"]))]),
    }
    titles = {"tab1": "Tab. 1 — baselines vs DatasetNeRF", "tab4": "Tab. 4 — ablation",
              "tab5": "Tab. 5 — number of annotations"}
    tables = [_table(titles[t], first[t][0], [(first[t][1](ROWS[n]), rows[n]) for n in TABLES[t] if n in rows])
              for t in TABLES]
    s = report["settings"]
    ok = [r for r in rows.values() if "error" not in r]
    ceiling = ok[0]["video"]["consistency"]["cross_view_ceiling"] if ok else None
    notes = (f"Numbers in %. {report['generator']} vs the procedural:{report['category']} oracle; "
             f"{s['kit_subjects']} x {s['kit_views']} oracle-annotated views ({s.get('kit_masks', 'world')} masks), "
             f"{s['steps']} semantic steps. "
             f"Individual: {s['n_individual']} held-out subjects at random poses; video: {s['n_video']} held-out "
             f"subjects x {s['n_frames']} frames. mIoU includes background. image: vs the oracle's 3D parts on "
             "the surface each evaluated image shows (what an annotator of the image draws; the paper's protocol); "
             "world: vs the oracle's own render of the seed (also counts the generator's geometric error). "
             "3D cross-view: agreement with the "
             f"other frames' majority label per voxel (the oracle's own labels reach {_pct(ceiling)} on the same "
             "points: border voxels mix parts). 3D vs oracle: back-projected labels vs the oracle's 3D labels. "
             "'-': nothing to measure (e.g. no pixel opaque enough to back-project).")
    return f"## Semantic tables — {report['category']}{' (quick)' if report['quick'] else ''}\n\n{notes}\n\n" \
           + "\n".join(tables)


def run_tables(generator, category: str, settings: TableSettings, workdir: Path, out: Path,
               quick: bool = False, rows: list[str] | None = None) -> dict:
    """Kit, every row, JSON at `out` and markdown next to it (out with .md); returns the report."""
    from dnerf_core.lab import atomic_write_text, generator_identity

    workdir.mkdir(parents=True, exist_ok=True)
    kit = ensure_kit(generator, category, workdir, settings)
    gen_id = generator_identity(generator)
    names = rows or list(dict.fromkeys(n for t in TABLES.values() for n in t))
    records = {}
    for n in names:
        try:
            records[n] = run_row(generator, category, kit, ROWS[n], settings, workdir, gen_id)
        except (RuntimeError, ValueError, FloatingPointError) as exc:
            # One broken variant (e.g. an ablation hitting a bug) must not throw away the hours
            # the other rows took: it is reported, not cached, and retried on the next run.
            log(f"{n}: FAILED ({type(exc).__name__}: {exc})")
            records[n] = {**asdict(ROWS[n]), "error": f"{type(exc).__name__}: {exc}"}
    report = {"category": category, "generator": str(generator.spec), "generator_identity": gen_id, "quick": quick,
              "settings": asdict(settings), "conventions": CONVENTIONS, "tables": TABLES, "rows": records}
    atomic_write_text(out, json.dumps(report, indent=1, allow_nan=False) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown(report))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, choices=["car", "face"])
    parser.add_argument("--generator", default=None, help="generator spec [default: default:<category>]")
    parser.add_argument("--steps", type=int, default=None, help="semantic training steps per row [1500; quick 30]")
    parser.add_argument("--baseline-steps", type=int, default=None, help="Adam steps per baseline MLP")
    parser.add_argument("--individual", type=int, default=None, help="held-out subjects, one random pose each")
    parser.add_argument("--video", type=int, default=None, help="held-out subjects with an orbit video each")
    parser.add_argument("--frames", type=int, default=None, help="frames per orbit video")
    parser.add_argument("--kit-masks", choices=["image", "world"], default=None,
                        help="how the oracle fills the kit's masks [image] (dnerf annotate-kit --oracle-masks)")
    parser.add_argument("--out", type=Path, default=None, help="JSON [research/results/tables_<category>.json]; .md beside it")
    parser.add_argument("--workdir", type=Path, default=None, help="kit, checkpoints, cached rows [runs/tables_<cat>]")
    parser.add_argument("--quick", action="store_true", help="shrunken run (3 kit subjects, few steps, tiny eval)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [torch's default]")
    parser.add_argument("--rows", default=None, help=f"comma list of rows to run [all: {','.join(ROWS)}]")
    args = parser.parse_args(argv)
    retain_freed_memory()  # dnerf_core.allocator: big step temporaries reused, not faulted in again
    rows = args.rows.split(",") if args.rows else None
    unknown = [r for r in rows or [] if r not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; known: {', '.join(ROWS)}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from dnerf_core.lab import load_base_generator as load_generator

    spec = args.generator or f"default:{args.category}"
    settings = QUICK if args.quick else TableSettings()
    overrides = {"steps": args.steps, "baseline_steps": args.baseline_steps, "n_individual": args.individual,
                 "n_video": args.video, "n_frames": args.frames, "kit_masks": args.kit_masks}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    suffix = "_quick" if args.quick else ""
    out = args.out or RESULTS / f"tables_{args.category}{suffix}.json"
    workdir = args.workdir or Path("runs") / f"tables_{args.category}{suffix}"
    generator = load_generator(spec)
    if not hasattr(generator, "backbone"):
        raise SystemExit(f"{spec} is not a tri-plane generator: the semantic branch needs one")
    report = run_tables(generator, args.category, settings, workdir, out, quick=args.quick, rows=rows)
    log(f"wrote {out} and {out.with_suffix('.md')}")
    print(out.with_suffix(".md").read_text())
    failed = [n for n, r in report["rows"].items() if "error" in r]
    if failed:
        raise SystemExit(f"rows failed (rerun to retry them; finished rows are reused): {', '.join(failed)}")


if __name__ == "__main__":
    main()
