"""Training and test sets for the downstream study, written once per world under one folder.

Every generated subject s (seeds 0 .. N-1, below the held-out range) is seen from `views` random
poses drawn from TRAIN_POSE_SEED + s, so a subject's poses never depend on N and the sweep's
rows are prefixes of one another. At those seeds and poses one render of the learned generator
yields both the images of rows `baseline` and `dnerf` (identical RGB, only the labels differ):

  dnerf     labels of the shipped semantic branch (`default:<world>` with its checkpoint);
  baseline  labels of the DatasetGAN-style pixel classifier (research/dnerf_research/baseline.py)
            trained on the 90 kit views, applied to the generator's feature image and RGB;
  oracle    `dn.label_subject(procedural:<world>, seed, cameras)`: the oracle's own render and
            cloud at the same seed and poses, exact labels.

Why one render for two rows: a labeled 64x64 view costs ~2.6 s on one core here, and the
baseline reads the generator's own feature image, which the semantic render computes anyway
(`SemanticRender.generator_features`); rendering the generator a second time for the baseline
would cost half as much again for the same numbers (tests/research/test_downstream.py checks the
shortcut against `dn.label_subject` and the plain generator's render).

Clouds are made the way `dnerf-export` makes them: opaque labeled pixels of the subject's views
back-projected through the generator's depth and voxel-voted (dnerf_core.factory.pointcloud),
so every row's clouds are partial clouds from the same `views` poses, like the test clouds.

The `kit` row is `annotate-kit --oracle` (image masks: the oracle's parts on the generator's
surface, what an annotator of the generated image draws), 30 subjects x 3 views; its clouds are
its masks back-projected through the generator's depth at the kit cameras.

Test sets (all from the oracle, seeds >= 1 000 000 never trained on): `test_subjects` subjects x
`test_views` random poses (TEST_POSE_SEED) -> images with exact masks and one cloud per subject;
`video_subjects` orbit videos of `video_frames` frames with the oracle's depth, for temporal
consistency.

Every row is rendered by the plain volume march (`STUDY_RENDER`), the reference path: the
study's numbers must not move when the product's default render path changes.

Everything is written atomically; the generated subjects in chunks, so a killed run restarted
with the same arguments continues where it stopped, and `part=(i, k)` lets k processes share
the chunks of one world (process i writes chunks i, i+k, ...; data is a pure function of the seed).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

import dnerf_core as dn
from dnerf_core import Cameras, load_kit
from dnerf_core.lab import (backproject, default_voxel_size, heldout_seeds, random_orbit_cameras, RenderOutput,
                            to_resolution, video_orbit_cameras, ViewSet, voxel_downsample, write_kit as make_kit)

from ..baseline import BaselineConfig, load_baseline, pixel_features, save_baseline, train_baseline

WORLDS = ("car", "face")
STUDY_RENDER = "volume"
# Pose streams: training poses of subject s come from TRAIN_POSE_SEED + s, test poses from one
# stream; both differ from semantic_quality's EVAL_POSE_SEED so nothing here reuses its views.
TRAIN_POSE_SEED = 25_000_000
TEST_POSE_SEED = 25_500_000
# Test and video subjects: two separate stretches of the held-out range.
TEST_SEED_OFFSET = 200_000
VIDEO_SEED_OFFSET = 300_000
DATA_FILE = "data.json"


@dataclass(frozen=True)
class DataConfig:
    """world: 'car' or 'face'; resolution: view size in pixels (64 = the default generators'
    neural resolution); subjects: generated subjects (seeds 0 .. subjects-1; the sweep's rows use
    prefixes); views: random poses per generated subject; kit_subjects / kit_views: the annotation
    kit (the paper's 30 x 3); baseline_steps: Adam steps per MLP of the DatasetGAN-style baseline;
    test_subjects / test_views: held-out oracle test set; video_subjects / video_frames: oracle
    orbit videos; chunk: generated subjects per checkpoint file."""

    world: str
    resolution: int = 64
    subjects: int = 200
    views: int = 2
    kit_subjects: int = 30
    kit_views: int = 3
    baseline_steps: int = 1500
    test_subjects: int = 100
    test_views: int = 2
    video_subjects: int = 5
    video_frames: int = 61
    chunk: int = 10

    def validate(self) -> "DataConfig":
        if self.world not in WORLDS:
            raise dn.DnerfError(f"world must be one of {', '.join(WORLDS)}, got {self.world!r}")
        for name in ("resolution", "subjects", "views", "kit_subjects", "kit_views", "baseline_steps",
                     "test_subjects", "test_views", "video_subjects", "video_frames", "chunk"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise dn.DnerfError(f"{name} must be a positive integer, got {value!r}")
        if self.resolution < 16:
            raise dn.DnerfError(f"resolution must be at least 16, got {self.resolution}")
        return self


@dataclass
class Cloud:
    """One labeled cloud: points [P,3] float32 (world units), labels [P] int64 part ids."""

    points: Tensor
    labels: Tensor


@dataclass
class ImageSet:
    """Labeled images: rgb [N,H,W,3] uint8, labels [N,H,W] int64 (255 = ignore)."""

    rgb: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.rgb)


@dataclass
class TrainingSet:
    """What one row trains on: images and clouds, and how many subjects they come from."""

    name: str
    images: ImageSet
    clouds: list[Cloud]
    subjects: int

    @property
    def n_points(self) -> int:
        return int(sum(len(c.labels) for c in self.clouds))


@dataclass
class VideoSet:
    """Oracle orbit videos: rgb [M,F,H,W,3] uint8, labels [M,F,H,W], depth [M,F,H,W] along the
    unit ray, opacity [M,F,H,W], cam2world [M,F,4,4] (OpenCV), intrinsics [M,F,3,3] normalized."""

    rgb: Tensor
    labels: Tensor
    depth: Tensor
    opacity: Tensor
    cam2world: Tensor
    intrinsics: Tensor


@dataclass
class TestSet:
    images: ImageSet
    clouds: list[Cloud]
    video: VideoSet


def _save(obj, path: Path) -> None:
    """torch.save through a temporary file and one rename: the file is complete or absent."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load(path: Path):
    return torch.load(path, weights_only=True)


def _to_u8(rgb: Tensor) -> Tensor:
    """[...,3] float in [0,1] -> uint8, what a PNG of the dataset holds."""
    return (rgb.float().clamp(0, 1) * 255).round().to(torch.uint8)


def _cloud(views: ViewSet, voxel: float) -> Cloud:
    c = voxel_downsample(backproject(views), voxel)
    return Cloud(torch.from_numpy(np.ascontiguousarray(c.points, dtype=np.float32)),
                 torch.from_numpy(c.labels.astype(np.int64)))


def _pack_clouds(clouds: list[Cloud]) -> dict:
    return {"points": [c.points for c in clouds], "labels": [c.labels.to(torch.uint8) for c in clouds]}


def _unpack_clouds(d: dict) -> list[Cloud]:
    return [Cloud(p, lab.long()) for p, lab in zip(d["points"], d["labels"])]


def train_cameras(orbit, seed: int, views: int) -> Cameras:
    """The training poses of subject `seed`: a pure function of the seed (not of N)."""
    return random_orbit_cameras(views, orbit, torch.Generator().manual_seed(TRAIN_POSE_SEED + seed))


@dataclass
class GeneratedViews:
    """One render of the labeled generator giving both generated rows: views with the branch's
    labels (row dnerf) and with the baseline's (row baseline), same RGB and depth."""

    dnerf: ViewSet
    baseline: ViewSet


@torch.no_grad()
def render_generated(labeled, classifier, seed: int, cameras: Cameras, resolution: int) -> GeneratedViews:
    """Render `cameras` of subject `seed` once through the semantic branch (labeled: a
    LabeledGenerator); label the same pixels with the pixel classifier from the generator's own
    feature image and RGB (what the baseline sees when it renders the plain generator)."""
    subject = labeled.sample([seed])
    sem = labeled.branch.render(labeled.generator, subject, cameras, resolution)
    rgb = labeled.generator.super_resolve(subject, sem.generator_features)
    plain = RenderOutput(rgb=rgb, rgb_raw=sem.rgb_raw, depth=sem.depth, opacity=sem.opacity,
                         features=sem.generator_features)
    base_labels = classifier.classify_image(pixel_features(plain)).argmax(1)
    dnerf_labels = sem.logits.argmax(1)
    size = tuple(rgb.shape[-2:])
    depth, opacity = to_resolution(sem.depth, sem.opacity, size)
    rgb_hw = rgb.permute(0, 2, 3, 1).float().clamp(0, 1)
    make = lambda labels: ViewSet(cameras, rgb_hw, labels, depth[:, 0].float(), opacity[:, 0].float())  # noqa: E731
    return GeneratedViews(make(dnerf_labels), make(base_labels))


class _Replay:
    """The plain generator's renders of the kit views, rendered once and replayed to
    train_baseline (which asks for generator.render(generator.sample([seed]), cameras)): the
    same views also give the kit row's depth, so they are rendered once, not twice."""

    def __init__(self, outputs: dict[int, RenderOutput]):
        self.outputs = outputs

    def sample(self, seeds, truncation: float = 1.0):
        return seeds[0]

    def render(self, subject, cameras, resolution=None) -> RenderOutput:
        out = self.outputs[subject]
        if len(cameras) != len(out.rgb):
            raise RuntimeError("replayed kit render asked for other cameras")
        return out


def world_dir(root: str | Path, world: str) -> Path:
    return Path(root) / world


def build_kit_and_baseline(cfg: DataConfig, root: Path, log: Callable[[str], None] = print) -> None:
    """annotate-kit --oracle (image masks), the kit row (images, masks, clouds) and the baseline
    trained on the kit; each written once and kept."""
    wdir = world_dir(root, cfg.world)
    wdir.mkdir(parents=True, exist_ok=True)
    plain = dn.load_generator(f"default:{cfg.world}", semantic=False, device="cpu")
    kit_dir = wdir / "kit"
    if not kit_dir.is_dir():
        t = time.time()
        make_kit(plain, kit_dir, subjects=cfg.kit_subjects, views=cfg.kit_views, resolution=cfg.resolution,
                 oracle=True, oracle_masks="image")
        log(f"{cfg.world}: kit written in {time.time() - t:.0f} s")
    if (wdir / "kit_row.pt").is_file() and (wdir / "baseline.pt").is_file():
        return
    kit = load_kit(kit_dir)
    t = time.time()
    voxel = default_voxel_size(plain)
    outputs, images, clouds = {}, [], []
    with torch.no_grad():
        for seed, idx in kit.by_subject().items():
            cams = kit.cameras[idx]
            out = plain.render(plain.sample([seed]), cams, cfg.resolution)
            outputs[seed] = out
            depth, opacity = to_resolution(out.depth, out.opacity, tuple(out.rgb.shape[-2:]))
            views = ViewSet(cams, out.rgb.permute(0, 2, 3, 1).float().clamp(0, 1), kit.masks[idx],
                            depth[:, 0].float(), opacity[:, 0].float())
            clouds.append(_cloud(views, voxel))
            images.append((idx, _to_u8(views.rgb)))
    order = torch.cat([torch.as_tensor(i) for i, _ in images])
    rgb = torch.empty(len(kit), cfg.resolution, cfg.resolution, 3, dtype=torch.uint8)
    rgb[order] = torch.cat([r for _, r in images])
    log(f"{cfg.world}: kit views rendered in {time.time() - t:.0f} s")
    t = time.time()
    clf = train_baseline(_Replay(outputs), kit.label_set, kit.seeds, kit.cameras, kit.masks,
                         BaselineConfig(steps=cfg.baseline_steps))
    seconds = time.time() - t
    log(f"{cfg.world}: baseline trained in {seconds:.0f} s")
    save_baseline(wdir / "baseline.pt", clf, kit.label_set, {"kit": str(kit_dir), "seconds": seconds})
    _save({"rgb": rgb, "labels": kit.masks.to(torch.uint8), "clouds": _pack_clouds(clouds),
           "subjects": cfg.kit_subjects}, wdir / "kit_row.pt")


def build_generated(cfg: DataConfig, root: Path, log: Callable[[str], None] = print,
                    part: tuple[int, int] = (0, 1)) -> None:
    """Rows dnerf, baseline and oracle for subjects 0 .. cfg.subjects-1, chunk by chunk; with
    part=(i, k) only chunks i, i+k, i+2k, ... (k processes sharing one world)."""
    index, parts = part
    wdir = world_dir(root, cfg.world)
    gen_dir = wdir / "generated"
    gen_dir.mkdir(parents=True, exist_ok=True)
    labeled = dn.load_generator(f"default:{cfg.world}", device="cpu")  # with its shipped branch
    oracle = dn.load_generator(f"procedural:{cfg.world}", device="cpu")
    classifier, _, _ = load_baseline(wdir / "baseline.pt")
    voxel = default_voxel_size(oracle)
    for start in range(index * cfg.chunk, cfg.subjects, parts * cfg.chunk):
        path = gen_dir / f"{start:06d}.pt"
        if path.is_file():
            continue
        t = time.time()
        rows = {k: {"rgb": [], "labels": [], "clouds": []} for k in ("dnerf", "baseline", "oracle")}
        for seed in range(start, min(start + cfg.chunk, cfg.subjects)):
            cams = train_cameras(labeled.orbit, seed, cfg.views)
            got = render_generated(labeled, classifier, seed, cams, cfg.resolution)
            truth = dn.label_subject(oracle, seed, cameras=cams, resolution=cfg.resolution, mesh=False,
                                     voxel_size=voxel, render=STUDY_RENDER)
            for key, views in (("dnerf", got.dnerf), ("baseline", got.baseline)):
                rows[key]["rgb"].append(_to_u8(views.rgb))
                rows[key]["labels"].append(views.labels.to(torch.uint8))
                rows[key]["clouds"].append(_cloud(views, voxel))
            rows["oracle"]["rgb"].append(_to_u8(truth.views.rgb))
            rows["oracle"]["labels"].append(truth.views.labels.to(torch.uint8))
            rows["oracle"]["clouds"].append(Cloud(torch.from_numpy(np.ascontiguousarray(truth.cloud.points, dtype=np.float32)),
                                                  torch.from_numpy(truth.cloud.labels.astype(np.int64))))
        packed = {}
        for key, r in rows.items():
            packed[key] = {"rgb": torch.stack(r["rgb"]), "labels": torch.stack(r["labels"]),
                           "clouds": _pack_clouds(r["clouds"])}
        packed["seconds"] = time.time() - t
        _save(packed, path)
        log(f"{cfg.world}: subjects {start}..{start + cfg.chunk - 1} in {packed['seconds']:.0f} s")


def build_test(cfg: DataConfig, root: Path, log: Callable[[str], None] = print) -> None:
    """Held-out oracle test images + clouds, and the orbit videos."""
    wdir = world_dir(root, cfg.world)
    path = wdir / "test.pt"
    if path.is_file():
        return
    t = time.time()
    oracle = dn.load_generator(f"procedural:{cfg.world}", device="cpu")
    voxel = default_voxel_size(oracle)
    seeds = heldout_seeds(cfg.test_subjects, offset=TEST_SEED_OFFSET)
    cams = random_orbit_cameras(cfg.test_subjects * cfg.test_views, oracle.orbit,
                                torch.Generator().manual_seed(TEST_POSE_SEED))
    rgb, labels, clouds = [], [], []
    for i, seed in enumerate(seeds):
        got = dn.label_subject(oracle, seed, cameras=cams[i * cfg.test_views:(i + 1) * cfg.test_views],
                               resolution=cfg.resolution, mesh=False, voxel_size=voxel, render=STUDY_RENDER)
        rgb.append(_to_u8(got.views.rgb))
        labels.append(got.views.labels.to(torch.uint8))
        clouds.append(Cloud(torch.from_numpy(np.ascontiguousarray(got.cloud.points, dtype=np.float32)),
                            torch.from_numpy(got.cloud.labels.astype(np.int64))))
    vcams = video_orbit_cameras(cfg.video_frames, oracle.orbit)
    video = {k: [] for k in ("rgb", "labels", "depth", "opacity")}
    for seed in heldout_seeds(cfg.video_subjects, offset=VIDEO_SEED_OFFSET):
        got = dn.label_subject(oracle, seed, cameras=vcams, resolution=cfg.resolution, cloud=False, mesh=False,
                               render=STUDY_RENDER)
        video["rgb"].append(_to_u8(got.views.rgb))
        video["labels"].append(got.views.labels.to(torch.uint8))
        video["depth"].append(got.views.depth.float())
        video["opacity"].append(got.views.opacity.float())
    m = cfg.video_subjects
    _save({"rgb": torch.cat(rgb), "labels": torch.cat(labels), "clouds": _pack_clouds(clouds),
           "seeds": seeds,
           "video": {**{k: torch.stack(v) for k, v in video.items()},
                     "cam2world": vcams.cam2world.float().expand(m, -1, -1, -1).clone(),
                     "intrinsics": vcams.intrinsics.float().expand(m, -1, -1, -1).clone()}}, path)
    log(f"{cfg.world}: test sets in {time.time() - t:.0f} s")


def build_all(cfg: DataConfig, root: str | Path, log: Callable[[str], None] = print,
              part: tuple[int, int] = (0, 1)) -> Path:
    """Kit + baseline, test sets, generated rows (only the chunks of `part`, see build_generated);
    records the configuration and returns the world's folder."""
    cfg.validate()
    index, parts = part
    if not (isinstance(parts, int) and isinstance(index, int) and 0 <= index < parts):
        raise dn.DnerfError(f"part must be i/k with 0 <= i < k, got {index}/{parts}")
    root = Path(root)
    wdir = world_dir(root, cfg.world)
    wdir.mkdir(parents=True, exist_ok=True)
    recorded = wdir / DATA_FILE
    if recorded.is_file():
        before = json.loads(recorded.read_text())
        # a bigger N may extend a run (subjects are prefixes); anything else would mix two datasets
        differs = [k for k, v in asdict(cfg).items() if k not in ("subjects", "chunk") and before.get(k) != v]
        if differs:
            raise dn.DnerfError(f"{wdir} was made with other settings: {', '.join(differs)} differ; use a new folder")
    tmp = recorded.with_name(f".{DATA_FILE}.tmp")
    tmp.write_text(json.dumps(asdict(cfg), indent=1))
    os.replace(tmp, recorded)
    build_kit_and_baseline(cfg, root, log)
    build_test(cfg, root, log)
    build_generated(cfg, root, log, part)
    return wdir


# --- reading back ----------------------------------------------------------------------------------
def load_kit_row(root: str | Path, world: str) -> TrainingSet:
    d = _load(world_dir(root, world) / "kit_row.pt")
    return TrainingSet("kit", ImageSet(d["rgb"], d["labels"].long()), _unpack_clouds(d["clouds"]), d["subjects"])


def generated_subjects(root: str | Path, world: str) -> int:
    """How many generated subjects are on disk (complete chunks, counted from 0 without gaps)."""
    gen_dir = world_dir(root, world) / "generated"
    n = 0
    while True:
        path = gen_dir / f"{n:06d}.pt"
        if not path.is_file():
            return n
        n += len(_load(path)["oracle"]["rgb"])


def load_generated_row(root: str | Path, world: str, row: str, subjects: int) -> TrainingSet:
    """Row 'dnerf' / 'baseline' / 'oracle' over the first `subjects` generated subjects."""
    gen_dir = world_dir(root, world) / "generated"
    rgb, labels, clouds, n = [], [], [], 0
    while n < subjects:
        path = gen_dir / f"{n:06d}.pt"
        if not path.is_file():
            raise dn.DnerfError(f"only {n} generated subjects in {gen_dir}; asked for {subjects}")
        d = _load(path)[row]
        take = min(len(d["rgb"]), subjects - n)
        rgb.append(d["rgb"][:take].flatten(0, 1))
        labels.append(d["labels"][:take].flatten(0, 1).long())
        clouds += _unpack_clouds({k: v[:take] for k, v in d["clouds"].items()})
        n += take
    return TrainingSet(row, ImageSet(torch.cat(rgb), torch.cat(labels)), clouds, subjects)


def generation_seconds(root: str | Path, world: str, subjects: int) -> float:
    """Wall seconds spent generating the first `subjects` generated subjects (all three rows)."""
    gen_dir = world_dir(root, world) / "generated"
    total, n = 0.0, 0
    while n < subjects and (gen_dir / f"{n:06d}.pt").is_file():
        d = _load(gen_dir / f"{n:06d}.pt")
        total += float(d["seconds"]) * min(1.0, (subjects - n) / len(d["oracle"]["rgb"]))
        n += len(d["oracle"]["rgb"])
    return total


def load_test(root: str | Path, world: str) -> TestSet:
    d = _load(world_dir(root, world) / "test.pt")
    v = d["video"]
    video = VideoSet(v["rgb"], v["labels"].long(), v["depth"], v["opacity"], v["cam2world"], v["intrinsics"])
    return TestSet(ImageSet(d["rgb"], d["labels"].long()), _unpack_clouds(d["clouds"]), video)
