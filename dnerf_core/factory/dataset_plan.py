"""What a dataset is, as a pure function of its arguments: seeds, shards, splits and poses.

Nothing here renders or writes images: the plan is computed (and validated) before anything is
written, so bad input is refused with nothing left behind, and every process that writes a shard
(local workers, Ray tasks on other machines) derives the very same seeds, splits and poses from it.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..cameras import Cameras, OrbitSpec, orbit_cameras
from ..errors import DnerfError
from .export_options import DEFAULT_RENDER_PATH, check_pose_request, check_render_request

FORMATS = ("folders", "webdataset", "ply", "pts")
POSE_MODES = ("orbit", "random")
EXECUTORS = ("local", "ray")
DEFAULT_SPLIT = "train=0.9,val=0.05,test=0.05"
# Views of one subject are rendered, written and forgotten this many at a time: memory does not
# grow with --views. A constant (recorded in dataset.json), because the incremental point-cloud
# merge depends on it and bytes must not depend on the machine.
VIEW_CHUNK = 8
DATASET_FORMAT_VERSION = 1
MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class DatasetConfig:
    """The arguments of `dnerf dataset` (everything that decides the dataset's bytes, plus how to run).

    generator: generator spec (see generators/registry.py); semantic: semantic checkpoint path or
    None (default:<category> then uses the shipped branch); subjects: N >= 1 subjects with seeds
    seed_start .. seed_start+N-1; views: V >= 1 views per subject (with a poses FILE: at most the
    file's count, None = all of it); resolution: view size in pixels; poses: 'orbit' (spread evenly
    over the generator's camera range, like dnerf-export), 'random' (uniform in the range, a pure
    function of seed and view index) or a pose FILE (a transforms.json or a JSON list of
    [yaw, pitch] degree pairs) used for every subject; split: NAME=FRACTION,... summing to 1,
    subjects assigned by a hash of their seed; formats: subset of FORMATS; shard_size: K subjects
    per shard; truncation: latent truncation psi; render: how views are rendered (volume, fast or
    surface: render/config.RENDER_PATHS; part of the identity, so a resume cannot switch it);
    pose: the body pose of every subject of an articulated generator (None: the rest pose), any
    --pose spec (export_options.POSE_HELP); "random" gives each subject its own pose seed, derived
    from its seed, so the poses are a pure function of the arguments; part of the identity;
    out: the dataset folder.
    Run-only fields (not part of the dataset's identity): executor, workers, ray_address, progress,
    device ('cpu', 'cuda[:N]' or 'auto': where every worker computes).
    """

    generator: str
    subjects: int
    out: str
    views: int | None = 8
    semantic: str | None = None
    resolution: int = 128
    poses: str = "orbit"
    split: str = DEFAULT_SPLIT
    formats: tuple[str, ...] = ("folders",)
    shard_size: int = 100
    seed_start: int = 0
    truncation: float = 1.0
    render: str = DEFAULT_RENDER_PATH
    pose: str | None = None
    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    progress: bool = True
    device: str = "auto"

    def validate(self) -> None:
        if self.subjects < 1:
            raise DnerfError(f"--subjects must be at least 1, got {self.subjects}")
        if self.views is not None and self.views < 1:
            raise DnerfError(f"--views must be at least 1, got {self.views}")
        if not 8 <= self.resolution <= 4096:
            raise DnerfError(f"--resolution must be between 8 and 4096, got {self.resolution}")
        if self.shard_size < 1:
            raise DnerfError(f"--shard-size must be at least 1, got {self.shard_size}")
        if self.seed_start < 0:
            raise DnerfError(f"--seed-start must be a non-negative integer, got {self.seed_start}")
        if not math.isfinite(self.truncation):
            raise DnerfError(f"--truncation must be a finite number, got {self.truncation}")
        if not self.formats:
            raise DnerfError(f"--formats needs at least one of {', '.join(FORMATS)}")
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise DnerfError(f"unknown format {unknown[0]!r}; known formats: {', '.join(FORMATS)}")
        if self.executor not in EXECUTORS:
            raise DnerfError(f"unknown executor {self.executor!r}; use one of {', '.join(EXECUTORS)}")
        if self.workers < 1:
            raise DnerfError(f"--workers must be at least 1, got {self.workers}")
        parse_split(self.split)
        check_render_request(self.render)
        check_pose_request(self.pose)
        if self.views is None and self.poses in POSE_MODES:
            raise DnerfError("--views is required with --poses orbit|random")


def parse_formats(text: str) -> tuple[str, ...]:
    """'folders,webdataset' -> ('folders', 'webdataset') in FORMATS order, duplicates dropped."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise DnerfError(f"unknown format {unknown[0]!r}; known formats: {', '.join(FORMATS)}")
    if not names:
        raise DnerfError(f"--formats needs at least one of {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in names)


def parse_split(text: str) -> tuple[tuple[str, float], ...]:
    """'train=0.9,val=0.05,test=0.05' -> (('train', 0.9), ...); fractions finite, >= 0, sum 1."""
    parts = []
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            frac = float(value)
        except ValueError:
            frac = float("nan")
        if not sep or not name or not name.isidentifier() or not math.isfinite(frac) or frac < 0:
            raise DnerfError(f"--split: {item.strip()!r} is not NAME=FRACTION with a finite fraction >= 0")
        if name in dict(parts):
            raise DnerfError(f"--split names {name!r} twice")
        parts.append((name, frac))
    total = sum(f for _, f in parts)
    if abs(total - 1.0) > 1e-6:
        raise DnerfError(f"--split fractions must sum to 1, got {total:g}")
    return tuple(parts)


def seed_unit(seed: int, salt: str) -> float:
    """A number in [0,1) fixed by (seed, salt): sha256, so it is the same on every machine."""
    digest = hashlib.sha256(f"dnerf-dataset:{salt}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split_of(seed: int, split: tuple[tuple[str, float], ...]) -> str:
    """The split a subject belongs to: by a hash of its seed, so adding subjects never moves one."""
    u, edge = seed_unit(seed, "split"), 0.0
    for name, frac in split:
        edge += frac
        if u < edge:
            return name
    return next(name for name, frac in reversed(split) if frac > 0)


# --- poses ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoseFile:
    """Poses read from a user file: cam2world [P,4,4] and intrinsics [P,3,3] as float64 lists."""

    sha256: str
    cam2world: list
    intrinsics: list

    def __len__(self) -> int:
        return len(self.cam2world)


def read_pose_file(path: str, orbit: OrbitSpec) -> PoseFile:
    """A transforms.json (nerfstudio schema) or a JSON list of [yaw, pitch] degrees on the orbit."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DnerfError(f"--poses: cannot read {path}: {exc.strerror or exc}") from None
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DnerfError(f"--poses: {path} is not JSON ({exc})") from None
    if isinstance(parsed, dict) and "frames" in parsed:
        from .export.transforms import read_transforms_json

        try:
            cams = read_transforms_json(p, dtype=torch.float64)[0]
        except DnerfError as exc:
            raise DnerfError(f"--poses: {exc}") from None
    elif isinstance(parsed, list) and parsed and all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) for v in parsed):
        angles = np.array(parsed, dtype=np.float64)
        if not np.isfinite(angles).all():
            raise DnerfError(f"--poses: {path} holds a non-finite angle")
        cams = orbit_cameras(torch.from_numpy(np.radians(angles[:, 0])), torch.from_numpy(np.radians(angles[:, 1])),
                             orbit, dtype=torch.float64)
    else:
        raise DnerfError(f"--poses: {path} is neither a transforms.json nor a list of [yaw, pitch] degrees")
    if not isinstance(cams, Cameras) or len(cams) == 0:
        raise DnerfError(f"--poses: {path} holds no cameras")
    c2w, k = cams.cam2world.double(), cams.intrinsics.double()
    if not (torch.isfinite(c2w).all() and torch.isfinite(k).all()):
        raise DnerfError(f"--poses: {path} holds a non-finite camera value")
    return PoseFile(hashlib.sha256(data).hexdigest(), c2w.tolist(), k.tolist())


def _unit_hash(seed: int, index: np.ndarray, stream: int) -> np.ndarray:
    """splitmix64 of (seed, view index, stream) -> [0,1): random poses that do not depend on how
    views are chunked, and that view i of a subject is the same whatever V is."""
    with np.errstate(over="ignore"):
        x = (np.uint64(seed & MASK64) * np.uint64(0x9E3779B97F4A7C15)) ^ (index.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03)) \
            ^ np.uint64((stream * 0x94D049BB133111EB) & MASK64)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def chunk_cameras(mode: str, orbit: OrbitSpec, seed: int, start: int, stop: int, n_views: int,
                  pose_file: PoseFile | None = None) -> Cameras:
    """Cameras of views start..stop-1 (of n_views) of the subject with `seed`, float32.

    'orbit' is dnerf-export's spread_orbit_cameras(n_views) sliced (computed for the slice only, so
    --views 100000000 never builds 10^8 matrices); 'random' hashes (seed, view index).
    """
    idx = np.arange(start, stop, dtype=np.int64)
    y0, y1 = orbit.yaw_range
    p0, p1 = orbit.pitch_range
    if pose_file is not None:
        return Cameras(torch.tensor(pose_file.cam2world[start:stop], dtype=torch.float64),
                       torch.tensor(pose_file.intrinsics[start:stop], dtype=torch.float64)).to(dtype=torch.float32)
    if mode == "orbit":
        # the same formula as cameras.spread_orbit_cameras (a test pins that the two agree)
        full = y1 - y0 >= 2 * math.pi - 1e-6
        t = torch.from_numpy(idx.astype(np.float64))
        yaw = y0 + (y1 - y0) * (t / n_views if full else (t + 0.5) / n_views)
        pitch = p0 + (p1 - p0) * torch.where(t % 2 == 0, torch.full_like(t, 0.3), torch.full_like(t, 0.7))
    elif mode == "random":
        yaw = torch.from_numpy(y0 + (y1 - y0) * _unit_hash(seed, idx, 1))
        pitch = torch.from_numpy(p0 + (p1 - p0) * _unit_hash(seed, idx, 2))
    else:
        raise DnerfError(f"unknown pose mode {mode!r}")
    return orbit_cameras(yaw, pitch, orbit, dtype=torch.float32)


# --- the plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shard:
    """Shard `index`: subjects with seeds first .. first+count-1; `name` is its folder name."""

    index: int
    first: int
    count: int

    @property
    def name(self) -> str:
        return f"{self.index:05d}"

    @property
    def seeds(self) -> range:
        return range(self.first, self.first + self.count)


@dataclass(frozen=True)
class DatasetPlan:
    """Everything a shard writer needs, picklable (sent to worker processes and Ray tasks).

    config: the arguments; n_views: views per subject; split: parsed fractions; pose_file: the
    poses when --poses is a FILE; orbit: the generator's camera range; voxel_size: point-cloud
    voxel; labels_json: the label set written beside the data.
    """

    config: DatasetConfig
    n_views: int
    split: tuple[tuple[str, float], ...]
    orbit: OrbitSpec
    voxel_size: float
    labels_json: str
    pose_file: PoseFile | None = None
    shards: tuple[Shard, ...] = field(default=())

    def cameras(self, seed: int, start: int, stop: int) -> Cameras:
        return chunk_cameras(self.config.poses, self.orbit, seed, start, stop, self.n_views, self.pose_file)


def make_shards(subjects: int, shard_size: int, seed_start: int) -> tuple[Shard, ...]:
    return tuple(Shard(i, seed_start + i * shard_size, min(shard_size, subjects - i * shard_size))
                 for i in range((subjects + shard_size - 1) // shard_size))


def identity(config: DatasetConfig, n_views: int, generator_sha: str | None, semantic_sha: str | None,
             pose_sha: str | None) -> dict:
    """The arguments that decide the bytes (compared on resume); run-only options are left out."""
    return {
        "generator": config.generator, "generator_sha256": generator_sha,
        "semantic": config.semantic, "semantic_sha256": semantic_sha,
        "subjects": config.subjects, "views": n_views, "resolution": config.resolution,
        "poses": config.poses, "poses_sha256": pose_sha, "split": config.split,
        "formats": list(config.formats), "shard_size": config.shard_size, "seed_start": config.seed_start,
        "truncation": config.truncation, "view_chunk": VIEW_CHUNK,
        # left out for "volume", what datasets written before --render existed rendered, so they resume
        **({"render": config.render} if config.render != "volume" else {}),
        **({"pose": config.pose} if config.pose is not None else {}),
    }
