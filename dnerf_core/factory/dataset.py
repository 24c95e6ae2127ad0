"""`dnerf dataset`: thousands of labeled subjects, sharded, resumable, on local workers or Ray.

Flow of make_dataset(config):
1. prepare: validate the arguments, load the generator (+ semantic branch), read a poses file,
   check the output folder and the free disk -- all before anything is written, so bad input
   leaves nothing behind;
2. DIR/dataset.json (software version, checkpoint sha256s, the arguments, the shard list) is
   written first; on a re-run it must match the arguments, else the run is refused naming what
   differs;
3. torn shards (.partial folders of killed writers) are deleted, finished shards verified against
   their manifests (a damaged one is redone), the rest are written by the executor;
4. DIR/manifest.jsonl (all shards' manifests, in shard order) and DIR/run.json (timings and
   throughput: the only file whose bytes differ between runs) close the run.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..io.sizes import human_bytes
from ..errors import DnerfError
from .dataset_plan import (DATASET_FORMAT_VERSION, DatasetConfig, DatasetPlan, PoseFile, identity, make_shards,
                           parse_split, read_pose_file)
from .dataset_shards import MANIFEST, SHARDS_DIR, ShardResult, remove_partials, shard_path, verify_shard

DATASET_JSON = "dataset.json"
RUN_JSON = "run.json"
LABELS_JSON = "labels.json"
# Lower bound of a view's bytes on disk per image format, per pixel (rgb + mask + depth PNGs of
# rendered subjects compress to about 1.5-3 bytes a pixel), plus its manifest/camera text. The
# disk check refuses only runs that cannot fit even at this size.
MIN_BYTES_PER_PIXEL = 1.0
META_BYTES_PER_VIEW = 300


@dataclass(frozen=True)
class DatasetResult:
    """out: the dataset folder; shards: total; written / skipped: shards done now / found complete;
    views: views rendered now; bytes: bytes written now; seconds: wall time of the run."""

    out: Path
    shards: int
    written: int
    skipped: int
    views: int
    bytes: int
    seconds: float

    @property
    def views_per_second(self) -> float:
        return self.views / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Prepared:
    """A validated run: the plan, the generator loaded in this process and dataset.json's content."""

    plan: DatasetPlan
    generator: object
    header: dict


def software_version() -> str:
    try:
        from importlib.metadata import version

        return version("dnerf")
    except Exception:  # noqa: BLE001 - an uninstalled checkout still makes datasets
        return "unknown"


def _check_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DnerfError(f"--out {out} exists and is not a folder")
    if out.is_dir():
        if not (out / DATASET_JSON).is_file() and any(out.iterdir()):
            raise DnerfError(f"--out {out} is not empty and holds no {DATASET_JSON}: choose an empty or new folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise DnerfError(f"output folder is not writable: {out}")
        return
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise DnerfError(f"cannot create output folder {out}: {parent} is not writable")


def _existing_disk_parent(out: Path) -> Path:
    p = out
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def estimate_bytes(config: DatasetConfig, n_views: int, subjects: int) -> int:
    image_formats = ("folders" in config.formats) + ("webdataset" in config.formats)
    per_view = image_formats * MIN_BYTES_PER_PIXEL * config.resolution ** 2 + META_BYTES_PER_VIEW
    return int(subjects * n_views * per_view)


def _differences(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in keys if old.get(k) != new.get(k)]


def prepare(config: DatasetConfig) -> Prepared:
    """Validate everything and build the plan; writes nothing."""
    from .dataset_adapter import checkpoint_files, file_sha256, load_dataset_generator
    from .dataset_plan import POSE_MODES
    from .pointcloud import default_voxel_size

    config.validate()
    out = Path(config.out)
    _check_output(out)
    generator = load_dataset_generator(config.generator, config.semantic, config.device)
    if generator.label_set is None:
        raise DnerfError(f"{config.generator} has no part labels: pass a semantic checkpoint (--semantic) "
                         "or a procedural world")
    from ..generators.posing import require_posable

    require_posable(generator, config.pose)
    pose_file: PoseFile | None = None
    if config.poses not in POSE_MODES:
        pose_file = read_pose_file(config.poses, generator.orbit)
        if config.views is not None and config.views > len(pose_file):
            raise DnerfError(f"--views {config.views} but {config.poses} holds {len(pose_file)} poses")
    n_views = config.views if config.views is not None else len(pose_file)
    if pose_file is not None and n_views < len(pose_file):
        pose_file = PoseFile(pose_file.sha256, pose_file.cam2world[:n_views], pose_file.intrinsics[:n_views])
    gen_file, sem_file = checkpoint_files(config.generator, config.semantic)
    args = identity(config, n_views, file_sha256(gen_file), file_sha256(sem_file),
                    pose_file.sha256 if pose_file else None)
    shards = make_shards(config.subjects, config.shard_size, config.seed_start)
    header = {"format": "dnerf-dataset", "format_version": DATASET_FORMAT_VERSION,
              "software": {"dnerf": software_version()}, "arguments": args,
              "shards": [{"name": s.name, "seeds": [s.first, s.first + s.count - 1]} for s in shards],
              "labels": generator.label_set.to_dict()}
    existing = out / DATASET_JSON
    todo_subjects = config.subjects
    if existing.is_file():
        try:
            old = json.loads(existing.read_text(encoding="utf-8"))
            old_args = old["arguments"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
            raise DnerfError(f"{existing} is not a dnerf dataset.json: choose another --out") from None
        diff = _differences(old_args, args)
        if diff:
            raise DnerfError(f"{out} was made with other arguments; differs: {'; '.join(diff)}")
        todo_subjects = sum(s.count for s in shards if not shard_path(out, s).is_dir())
    need = estimate_bytes(config, n_views, todo_subjects)
    free = shutil.disk_usage(_existing_disk_parent(out)).free
    if need > free:
        raise DnerfError(f"this dataset needs at least {human_bytes(need)} but {human_bytes(free)} is free on "
                         f"{_existing_disk_parent(out)}: lower --subjects, --views or --resolution")
    plan = DatasetPlan(config=config, n_views=n_views, split=parse_split(config.split), orbit=generator.orbit,
                       voxel_size=default_voxel_size(generator), labels_json=generator.label_set.to_json(),
                       pose_file=pose_file, shards=shards)
    return Prepared(plan, generator, header)


def _write_header(out: Path, header: dict, labels_json: str) -> None:
    from ..io.atomic import atomic_write_text, ensure_dir

    ensure_dir(out)
    if not (out / DATASET_JSON).is_file():
        atomic_write_text(out / DATASET_JSON, json.dumps(header, indent=2, sort_keys=True) + "\n")
    if not (out / LABELS_JSON).is_file():
        atomic_write_text(out / LABELS_JSON, labels_json)


def _join_manifests(out: Path, plan: DatasetPlan) -> None:
    """DIR/manifest.jsonl: every shard's lines in shard order, paths relative to DIR."""
    from ..io.atomic import atomic_open

    with atomic_open(out / MANIFEST, "w") as fh:
        for shard in plan.shards:
            prefix = f"{SHARDS_DIR}/{shard.name}/"
            with open(shard_path(out, shard) / MANIFEST, encoding="utf-8") as lines:  # streamed: V may be huge
                for line in lines:
                    row = json.loads(line)
                    row["files"] = {prefix + k: v for k, v in (row.get("files") or {}).items()}
                    row["shard"] = shard.name
                    fh.write(json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n")


def make_dataset(config: DatasetConfig, echo: Callable[[str], None] | None = None) -> DatasetResult:
    """Write (or finish) the dataset `config` describes; see the module docstring."""
    from tqdm import tqdm

    from ..io.atomic import atomic_write_text

    start = time.perf_counter()
    prepared = prepare(config)
    plan, out = prepared.plan, Path(config.out)
    _write_header(out, prepared.header, plan.labels_json)
    remove_partials(out)
    todo, skipped = [], 0
    for shard in plan.shards:
        path = shard_path(out, shard)
        if path.is_dir():
            problem = verify_shard(path)
            if problem is None:
                skipped += 1
                continue
            if echo:
                echo(f"redoing shard {problem}")
            shutil.rmtree(path)
        todo.append(shard)
    total_views = sum(s.count for s in todo) * plan.n_views
    results: list[ShardResult] = []
    with tqdm(total=total_views, unit="view", disable=not config.progress, dynamic_ncols=True,
              desc=f"shards {skipped}/{len(plan.shards)}") as bar:
        def on_views(n: int) -> None:
            bar.update(n)

        def on_shard(result: ShardResult) -> None:
            results.append(result)
            bar.set_description(f"shards {skipped + len(results)}/{len(plan.shards)}")

        if todo:
            if config.executor == "ray":
                from .distributed import run_ray

                run_ray(plan, todo, config.ray_address, on_views, on_shard)
            else:
                from .dataset_local import run_local

                run_local(plan, todo, config.workers, prepared.generator, on_views, on_shard)
    # every writer is done: what is left in .partial folders are attempts of workers that died
    # and were retried (Ray), torn for good
    remove_partials(out)
    _join_manifests(out, plan)
    seconds = time.perf_counter() - start
    result = DatasetResult(out, len(plan.shards), len(results), skipped, sum(r.views for r in results),
                           sum(r.bytes for r in results), seconds)
    run = {"executor": config.executor, "workers": config.workers, "ray_address": config.ray_address,
           "shards_written": result.written, "shards_skipped": result.skipped, "views": result.views,
           "bytes": result.bytes, "seconds": round(seconds, 3), "views_per_second": round(result.views_per_second, 3),
           "subjects_per_second": round(sum(s.count for s in todo) / seconds, 4) if seconds > 0 else 0.0,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_text(out / RUN_JSON, json.dumps(run, indent=2, sort_keys=True) + "\n")
    return result
