"""`torch.utils.data` readers of a `dnerf dataset` folder.

FolderViews: a map-style Dataset over the per-subject folders (format `folders`), indexed through
DIR/manifest.jsonl. WebDatasetViews: an IterableDataset streaming the WebDataset tar shards (format
`webdataset`) with the standard library, split between DataLoader workers by shard.
Both yield the same sample: a dict with
  rgb [3,H,W] float32 in [0,1]; mask [H,W] int64 (label ids, 255 = ignore); depth [H,W] float32
  camera-z depth in world units (NaN where no surface); cam2world [4,4] OpenCV; intrinsics [3,3]
  normalized by image size; seed, view (ints); split (str).
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ..errors import DnerfError
from .export.depth import DEFAULT_DEPTH_SCALE, DEPTH_SCALE_KEY, NO_DEPTH


def decode_view(rgb_png: bytes, mask_png: bytes, depth_png: bytes, depth_scale: float) -> dict:
    """PNG bytes of one view -> rgb, mask, depth tensors (see the module docstring)."""
    from PIL import Image

    with Image.open(io.BytesIO(rgb_png)) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    with Image.open(io.BytesIO(mask_png)) as img:
        mask = np.asarray(img, dtype=np.int64)  # palette PNG: the index is the label id
    with Image.open(io.BytesIO(depth_png)) as img:
        stored = float((getattr(img, "text", {}) or {}).get(DEPTH_SCALE_KEY, depth_scale))
        raw = np.asarray(img).astype(np.float64)
    depth = np.where(raw == NO_DEPTH, np.nan, raw * stored).astype(np.float32)
    return {"rgb": torch.from_numpy(rgb).permute(2, 0, 1).contiguous(), "mask": torch.from_numpy(mask),
            "depth": torch.from_numpy(depth)}


def _pose(cam2world, intrinsics) -> dict:
    return {"cam2world": torch.tensor(cam2world, dtype=torch.float32).reshape(4, 4),
            "intrinsics": torch.tensor(intrinsics, dtype=torch.float32).reshape(3, 3)}


def _manifest_rows(root: Path) -> list[dict]:
    path = root / "manifest.jsonl"
    if not path.is_file():
        raise DnerfError(f"{root} has no manifest.jsonl: is it a finished dnerf dataset?")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class FolderViews(Dataset):
    """Every view of the dataset's per-subject folders (optionally one split), in manifest order."""

    def __init__(self, root: str | Path, split: str | None = None):
        self.root = Path(root)
        self.items = []
        for row in _manifest_rows(self.root):
            if row.get("view") is None or "pose" not in row or (split is not None and row["split"] != split):
                continue
            files = {Path(k).parent.name: k for k in row["files"]}  # rgb / mask / depth
            if set(files) != {"rgb", "mask", "depth"}:
                raise DnerfError(f"{self.root} was not written with the folders format")
            self.items.append((row, files))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        row, files = self.items[index]
        read = lambda kind: (self.root / files[kind]).read_bytes()  # noqa: E731
        sample = decode_view(read("rgb"), read("mask"), read("depth"), DEFAULT_DEPTH_SCALE)
        sample.update(_pose(row["pose"]["cam2world"], row["pose"]["intrinsics"]))
        sample.update(seed=row["seed"], view=row["view"], split=row["split"])
        return sample


class WebDatasetViews(IterableDataset):
    """Streams DIR/shards/*/wds/SPLIT.tar; with several DataLoader workers each reads every
    worker-count-th tar file, so no sample is seen twice."""

    def __init__(self, root: str | Path, split: str = "train"):
        self.root = Path(root)
        self.tars = sorted(self.root.glob(f"shards/*/wds/{split}.tar"))
        if not self.tars and not (self.root / "dataset.json").is_file():
            raise DnerfError(f"{self.root} is not a dnerf dataset")

    def __iter__(self):
        info = get_worker_info()
        tars = self.tars if info is None else self.tars[info.id::info.num_workers]
        for path in tars:
            yield from self._samples(path)

    @staticmethod
    def _samples(path: Path):
        members: dict[str, bytes] = {}
        key = None
        with tarfile.open(path, "r") as tar:
            for info in tar:
                k, _, ext = info.name.partition(".")
                if key is not None and k != key:
                    yield WebDatasetViews._sample(members)
                    members = {}
                key = k
                members[ext] = tar.extractfile(info).read()
        if members:
            yield WebDatasetViews._sample(members)

    @staticmethod
    def _sample(members: dict[str, bytes]) -> dict:
        camera = json.loads(members["json"])
        sample = decode_view(members["rgb.png"], members["mask.png"], members["depth.png"], camera["depth_scale"])
        sample.update(_pose(camera["cam2world_opencv"], camera["intrinsics_normalized"]))
        sample.update(seed=camera["seed"], view=camera["view"], split=camera["split"])
        return sample
