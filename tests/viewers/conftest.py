"""Fixtures for the viewer tests: one real export (procedural car, seed 7) made once per session."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dnerf_core.factory.export.ply import read_point_cloud_ply, write_point_cloud_ply
from dnerf_core.factory.types import LabeledPointCloud
from cli_helpers import BIN

# Max-channel distance for "this pixel shows that label color". Colors are drawn unlit, so the
# only changes are 8-bit rounding and the odd antialiased edge pixel.
COLOR_TOLERANCE = 6
FLIP_SHARE = 0.07  # share of points whose label the prediction fixture changes


@pytest.fixture(scope="session")
def car_export(tmp_path_factory) -> Path:
    """A dnerf export folder (cloud.ply, mesh.glb, labels.json, masks) written by the real exporter."""
    out = tmp_path_factory.mktemp("view") / "car-7"
    res = subprocess.run([str(BIN / "dnerf-export"), "--generator", "procedural:car", "--seed", "7", "--views", "4",
                          "--resolution", "64", "--mesh-resolution", "64", "--ply", "--glb", "--masks", "--quiet",
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return out


def _color_pixels(image: np.ndarray, color, tol: int = COLOR_TOLERANCE) -> int:
    diff = np.abs(image[..., :3].astype(np.int32) - np.asarray(color, np.int32)).max(axis=-1)
    return int((diff <= tol).sum())


@pytest.fixture(scope="session")
def color_pixels():
    """f(image [H,W,3] uint8, color) -> how many pixels lie within COLOR_TOLERANCE of `color`."""
    return _color_pixels


def _flipped_prediction(export, out_dir, seed: int = 0):
    """A copy of the export's cloud with a known random set of labels changed to another part.
    Returns (path of the prediction PLY, [N] bool mask of flipped points)."""
    cloud, label_set = read_point_cloud_ply(export / "cloud.ply")
    rng = np.random.default_rng(seed)
    flipped = rng.random(len(cloud)) < FLIP_SHARE
    n_parts = len(label_set) - 1
    labels = cloud.labels.copy()
    # Move each flipped point to a different part (1..K-1, never its own).
    labels[flipped] = (labels[flipped] - 1 + rng.integers(1, n_parts, flipped.sum())) % n_parts + 1
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(export / "labels.json", out_dir / "labels.json")
    path = out_dir / "pred.ply"
    write_point_cloud_ply(path, LabeledPointCloud(cloud.points, cloud.normals, cloud.colors, labels), label_set)
    return path, flipped


@pytest.fixture(scope="session")
def flipped_prediction():
    """f(export folder, out folder) -> (prediction PLY, [N] bool flipped mask); see _flipped_prediction."""
    return _flipped_prediction
