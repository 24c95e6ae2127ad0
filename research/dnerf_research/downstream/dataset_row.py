"""A training row read from a `dnerf dataset` folder: the study's networks trained on exactly what
the product writes (issue 25: "driven by datasets written by `dnerf dataset`").

The folder must hold the `folders` format (per-subject rgb/ and mask/ PNGs) and the `pts` format
(each subject's ShapeNet-part cloud.pts + cloud.seg, background left out, ids = label ids), use
the world's label set, and have the test set's view size, so its row is scored on the same oracle
test set as the study's own rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

import dnerf_core as dn
from dnerf_core.lab import FolderViews, read_pts_seg

from .data import Cloud, ImageSet, TrainingSet, _to_u8


def dataset_labels(folder: Path) -> list[str]:
    """The label names of a `dnerf dataset` folder, by id (background first)."""
    path = folder / "labels.json"
    if not (folder / "dataset.json").is_file() or not path.is_file():
        raise dn.DnerfError(f"{folder} is not a dnerf dataset (no dataset.json / labels.json): write one with "
                            "`dnerf dataset --formats folders,pts`")
    labels = sorted(json.loads(path.read_text())["labels"], key=lambda x: x["id"])
    return [x["name"] for x in labels]


def load_dataset_row(folder: str | Path, names: list[str], resolution: int, split: str | None = "train") -> TrainingSet:
    """Every view of `split` (None: all) of a `dnerf dataset` folder as images, and every subject of
    that split's cloud; the row's `subjects` counts the subjects that have views in the split."""
    folder = Path(folder)
    found = dataset_labels(folder)
    if found != list(names):
        raise dn.DnerfError(f"{folder} labels {found}, the world's test set {list(names)}: use the same world")
    views = FolderViews(folder, split=split)
    if len(views) == 0:
        raise dn.DnerfError(f"{folder} has no views in split {split!r}")
    rgb, labels, seeds = [], [], []
    for i in range(len(views)):
        v = views[i]
        if tuple(v["mask"].shape) != (resolution, resolution):
            raise dn.DnerfError(f"{folder} has {v['mask'].shape[1]}x{v['mask'].shape[0]} views, the test set "
                                f"{resolution}x{resolution}: write the dataset with --resolution {resolution}")
        rgb.append(_to_u8(v["rgb"].permute(1, 2, 0)))
        labels.append(v["mask"])
        seeds.append(v["seed"])
    clouds = []
    for seed in dict.fromkeys(seeds):  # each subject once, in manifest order
        stems = sorted(folder.glob(f"shards/*/subjects/{seed:08d}/cloud.pts"))
        if not stems:
            raise dn.DnerfError(f"{folder}: subject {seed} has no cloud.pts: "
                                "write the dataset with --formats folders,pts")
        pts, seg = read_pts_seg(stems[0].with_suffix(""))
        clouds.append(Cloud(torch.from_numpy(pts), torch.from_numpy(seg).long()))
    return TrainingSet(f"dataset:{folder.name}", ImageSet(torch.stack(rgb), torch.stack(labels).long()), clouds,
                       len(clouds))
