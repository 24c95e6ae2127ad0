"""Write and verify one shard of a dataset: K subjects, views streamed to disk a chunk at a time.

A shard is built in DIR/shards/.NAME.partial-XXXX and renamed to DIR/shards/NAME only when every
file and its manifest are on disk, so a shard folder either is complete or does not exist; a killed
writer leaves only a .partial folder, which the next run deletes and redoes.

Shard layout (formats decide which parts exist):
  manifest.jsonl                       one JSON line per sample (view): seed, split, view, pose,
                                       files and their sha256; one per subject (view: null) for
                                       the subject's own files; one per shard for the tar files
  subjects/SEED/                       like a dnerf-export folder: labels.json, transforms.json,
                                       rgb/ mask/ depth/ NNN.png (folders), cloud.ply (ply),
                                       cloud.pts + cloud.seg (pts)
  wds/SPLIT.tar                        WebDataset samples of this shard's views, one tar per split
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import DnerfError
from ..labels import LabelSet
from .dataset_adapter import body_pose_record, render_chunk, sample_subject
from .dataset_plan import VIEW_CHUNK, DatasetPlan, Shard, split_of
from .types import LabeledPointCloud

MANIFEST = "manifest.jsonl"
SHARDS_DIR = "shards"
PARTIAL_MARK = ".partial-"


@dataclass(frozen=True)
class ShardResult:
    """What one shard cost: name, views rendered (0 when it was already complete), bytes on disk."""

    name: str
    views: int
    bytes: int
    skipped: bool = False


def shard_path(out: str | Path, shard: Shard) -> Path:
    return Path(out) / SHARDS_DIR / shard.name


def view_name(index: int, n_views: int) -> str:
    """NNN.png with enough digits for n_views (at least 3, like dnerf-export)."""
    return f"{index:0{max(3, len(str(n_views - 1)))}d}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_line(obj: dict) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"


@contextlib.contextmanager
def one_thread():
    """Shards are written with one torch thread: bytes then do not depend on the machine's core
    count, and worker processes do not fight over cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _TransformsStream:
    """A transforms.json written frame by frame (the same keys as dnerf-export's), so a subject's
    camera list is never held whole in memory."""

    def __init__(self, path: Path, extra: dict):
        self.path, self.extra, self._fh, self._first = path, extra, None, True

    def add(self, cameras, width: int, height: int, frames) -> None:
        from .export.depth import DEFAULT_DEPTH_SCALE
        from .export.transforms import transforms_dict

        data = transforms_dict(cameras, width, height, frames, depth_scale=DEFAULT_DEPTH_SCALE,
                               extra={"labels_file": "labels.json", **self.extra}, json_path=self.path)
        frame_dicts = data.pop("frames")
        if self._fh is None:
            self._fh = open(self.path, "x", encoding="utf-8")
            head = json.dumps(data, indent=2, allow_nan=False)
            self._fh.write(head[:-2] + ',\n  "frames": [')
        for frame in frame_dicts:
            self._fh.write(("\n    " if self._first else ",\n    ") + json.dumps(frame, allow_nan=False))
            self._first = False

    def close(self) -> None:
        if self._fh is not None:
            self._fh.write("\n  ]\n}\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def _png_files(view_dir: Path, name: str, rgb, labels, depth, opacity, label_set: LabelSet) -> dict[str, Path]:
    from .export.depth import DEFAULT_DEPTH_SCALE, write_depth_png
    from .export.frames import DEPTH_OPACITY_THRESHOLD
    from ..io.images import write_rgb_png
    from ..io.masks import write_mask_png

    files = {"rgb": view_dir / "rgb" / f"{name}.png", "mask": view_dir / "mask" / f"{name}.png",
             "depth": view_dir / "depth" / f"{name}.png"}
    write_rgb_png(files["rgb"], rgb)
    write_mask_png(files["mask"], labels, label_set)
    depth = depth.copy()
    depth[opacity < DEPTH_OPACITY_THRESHOLD] = 0.0
    write_depth_png(files["depth"], depth, DEFAULT_DEPTH_SCALE)
    return files


def _write_cloud(subject_dir: Path, cloud: LabeledPointCloud | None, plan: DatasetPlan, label_set: LabelSet) -> list[Path]:
    from ..io.atomic import atomic_write_text
    from .export.ply import write_point_cloud_ply
    from .export.shapenet_part import write_pts_seg

    formats = plan.config.formats
    if cloud is None:
        cloud = LabeledPointCloud(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
    written = []
    if "ply" in formats:
        write_point_cloud_ply(subject_dir / "cloud.ply", cloud, label_set)
        written.append(subject_dir / "cloud.ply")
    if "pts" in formats:
        if (cloud.labels > 0).any():
            write_pts_seg(subject_dir / "cloud", cloud)
        else:  # a subject nobody can see: an empty pair, not a failed run
            atomic_write_text(subject_dir / "cloud.pts", "")
            atomic_write_text(subject_dir / "cloud.seg", "")
        written += [subject_dir / "cloud.pts", subject_dir / "cloud.seg"]
    return written


def _write_subject(generator, plan: DatasetPlan, seed: int, stage: Path, manifest, tars: dict,
                   label_set: LabelSet, on_views: Callable[[int], None] | None) -> int:
    from .export.transforms import FrameFiles
    from .pointcloud import backproject, merge, voxel_downsample
    from .views import z_depth

    cfg, n_views = plan.config, plan.n_views
    split = split_of(seed, plan.split)
    rel = Path("subjects") / f"{seed:08d}"
    subject_dir = stage / rel
    keep_pngs = "folders" in cfg.formats
    want_cloud = "ply" in cfg.formats or "pts" in cfg.formats
    # Without the folders format the PNGs are still encoded by the same writers (so the tar holds
    # the very bytes a folder would), into a scratch folder emptied view by view.
    view_dir = subject_dir if keep_pngs else stage / ".scratch"
    subject_dir.mkdir(parents=True, exist_ok=True)
    subject_files: list[Path] = []
    if keep_pngs:
        label_set.save(subject_dir / "labels.json")
        subject_files.append(subject_dir / "labels.json")
    subject = sample_subject(generator, seed, cfg.truncation, cfg.pose)
    body = body_pose_record(generator, subject)  # {} for rigid generators: their bytes are unchanged
    header = {"generator": cfg.generator, "seed": seed, "split": split, **body}
    transforms = _TransformsStream(subject_dir / "transforms.json", header) if keep_pngs else None
    cloud = None
    for start in range(0, n_views, VIEW_CHUNK):
        stop = min(start + VIEW_CHUNK, n_views)
        cams = plan.cameras(seed, start, stop)
        views = render_chunk(generator, subject, cams, cfg.resolution, cfg.render)
        if views.labels is None:
            raise DnerfError(f"{cfg.generator} gives no part labels: pass --semantic or a procedural world")
        if not (torch.isfinite(views.rgb).all() and torch.isfinite(views.opacity).all()
                and not torch.isnan(views.depth).any()):
            raise DnerfError(f"{cfg.generator} rendered NaN for seed {seed}, views {start}..{stop - 1}")
        zdepth = z_depth(views)
        h, w = views.labels.shape[1:]
        frames = []
        for j in range(len(cams)):
            i = start + j
            name = view_name(i, n_views)
            files = _png_files(view_dir, name, views.rgb[j].numpy(), views.labels[j].numpy(), zdepth[j].numpy(),
                               views.opacity[j].numpy(), label_set)
            pose = {"cam2world": cams.cam2world[j].double().flatten().tolist(),
                    "intrinsics": cams.intrinsics[j].double().flatten().tolist()}
            line = {"seed": seed, "split": split, "view": i, "pose": pose, "files": {}}
            if keep_pngs:
                line["files"] = {f.relative_to(stage).as_posix(): _sha256(f) for f in files.values()}
                frames.append(FrameFiles(f"rgb/{name}.png", f"mask/{name}.png", f"depth/{name}.png"))
            if tars:
                from .export.depth import DEFAULT_DEPTH_SCALE

                camera = {"subject": seed, "seed": seed, "view": i, "split": split, "width": w, "height": h,
                          "cam2world_opencv": cams.cam2world[j].double().tolist(),
                          "intrinsics_normalized": cams.intrinsics[j].double().tolist(),
                          "depth_scale": DEFAULT_DEPTH_SCALE, "labels": json.loads(label_set.to_json()), **body}
                members = {"rgb.png": files["rgb"].read_bytes(), "mask.png": files["mask"].read_bytes(),
                           "depth.png": files["depth"].read_bytes(),
                           "json": json.dumps(camera, sort_keys=True, allow_nan=False).encode(),
                           "subject.txt": f"{seed}".encode()}
                tars[split].add_sample(f"{seed:08d}_{name}", members)
            if not keep_pngs:
                for f in files.values():
                    f.unlink()
            manifest.write(_json_line(line))
        if transforms is not None:
            transforms.add(cams, w, h, frames)
        if want_cloud:
            # merged chunk by chunk and re-voxelized: the cloud stays one point per voxel however many views
            part = backproject(views)
            cloud = voxel_downsample(part if cloud is None else merge([cloud, part]), plan.voxel_size)
        del views, zdepth
        if on_views is not None:
            on_views(len(cams))
    if transforms is not None:
        transforms.close()
        subject_files.append(subject_dir / "transforms.json")
    if want_cloud:
        subject_files += _write_cloud(subject_dir, cloud, plan, label_set)
    if subject_files or body:  # the subject's line: its own files, and its body pose
        manifest.write(_json_line({"seed": seed, "split": split, "view": None, **body,
                                   "files": {f.relative_to(stage).as_posix(): _sha256(f) for f in subject_files}}))
    return n_views


def write_shard(generator, plan: DatasetPlan, shard: Shard,
                on_views: Callable[[int], None] | None = None) -> ShardResult:
    """Write `shard` into a .partial folder, then rename it into place; a failure removes it."""
    root = Path(plan.config.out) / SHARDS_DIR
    final = root / shard.name
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{shard.name}{PARTIAL_MARK}", dir=root))
    label_set = LabelSet.from_json(plan.labels_json)
    views = 0
    try:
        with one_thread(), torch.no_grad():
            tars = {}
            if "webdataset" in plan.config.formats:
                from .export.webdataset import TarShardWriter

                (stage / "wds").mkdir()
                tars = {name: TarShardWriter(stage / "wds" / f"{name}.tar") for name, _ in plan.split}
            with open(stage / MANIFEST, "x", encoding="utf-8") as manifest:
                for seed in shard.seeds:
                    views += _write_subject(generator, plan, seed, stage, manifest, tars, label_set, on_views)
                for tar in tars.values():
                    tar.close()
                if tars:
                    manifest.write(_json_line({"shard": shard.name, "files": {
                        p.relative_to(stage).as_posix(): _sha256(p) for p in sorted((stage / "wds").glob("*.tar"))}}))
                manifest.flush()
                os.fsync(manifest.fileno())
            shutil.rmtree(stage / ".scratch", ignore_errors=True)
            os.chmod(stage, 0o755)
            os.rename(stage, final)
            _fsync_dir(root)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return ShardResult(shard.name, views, folder_bytes(final))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def verify_shard(path: Path) -> str | None:
    """None when every file the shard's manifest names has its recorded sha256, else why not."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return f"{path.name}: no manifest"
    try:
        with open(manifest, encoding="utf-8") as lines:  # streamed: one line per view, V may be huge
            for text in lines:
                line = json.loads(text)
                for rel, digest in (line.get("files") or {}).items():
                    f = path / rel
                    if not f.is_file() or _sha256(f) != digest:
                        return f"{path.name}: {rel} is missing or its checksum differs"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        return f"{path.name}: unreadable manifest ({exc})"
    return None


def remove_partials(out: str | Path) -> int:
    """Delete the .partial folders killed writers left behind; returns how many."""
    root = Path(out) / SHARDS_DIR
    if not root.is_dir():
        return 0
    torn = [p for p in root.iterdir() if p.name.startswith(".") and PARTIAL_MARK in p.name]
    for p in torn:
        shutil.rmtree(p, ignore_errors=True)
    return len(torn)
