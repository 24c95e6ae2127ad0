"""Pose files (--poses): transforms.json cameras and [yaw, pitch, radius] triples, and bad files."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dnerf_core.cameras import OrbitSpec, orbit_cameras, spread_orbit_cameras
from dnerf_core.errors import DnerfError
from dnerf_core.factory.export.transforms import FrameFiles, write_transforms_json
from dnerf_core.pose_file import KIND_ORBIT, KIND_TRANSFORMS, orbit_angles, read_pose_file
from checks import raises_naming_file

ORBIT = OrbitSpec(radius=2.7, pivot=(0.0, 0.0, 0.2), focal=4.2647, yaw_range=(-0.6, 0.6), pitch_range=(-0.3, 0.3))


def test_triples_are_orbit_cameras_in_radians(tmp_path):
    path = tmp_path / "poses.json"
    path.write_text(json.dumps([[0.1, -0.2], [0.5, 0.25, 3.5], [-0.4, 0.0, None], [0.3, 0.1, 2.0]]))
    poses = read_pose_file(path)
    assert poses.kind == KIND_ORBIT and len(poses) == 4 and poses.resolution is None
    cams = poses.cameras(ORBIT)
    want = [orbit_cameras(0.1, -0.2, ORBIT), orbit_cameras(0.5, 0.25, ORBIT, radius=3.5),
            orbit_cameras(-0.4, 0.0, ORBIT), orbit_cameras(0.3, 0.1, ORBIT, radius=2.0)]
    for i, w in enumerate(want):  # in file order, whatever the radii
        assert torch.equal(cams.cam2world[i], w.cam2world[0]) and torch.equal(cams.intrinsics[i], w.intrinsics[0])
    where = orbit_angles(cams, ORBIT)
    np.testing.assert_allclose(where.yaw.numpy(), [0.1, 0.5, -0.4, 0.3], atol=1e-6)
    np.testing.assert_allclose(where.pitch.numpy(), [-0.2, 0.25, 0.0, 0.1], atol=1e-6)
    np.testing.assert_allclose(where.radius.numpy(), [2.7, 3.5, 2.7, 2.0], atol=1e-5)


def test_transforms_file_gives_its_cameras_bit_exact(tmp_path):
    cams = spread_orbit_cameras(5, ORBIT)
    path = tmp_path / "transforms.json"
    write_transforms_json(path, cams, 40, 40, [FrameFiles(f"rgb/{i}.png") for i in range(5)])
    poses = read_pose_file(path)
    assert poses.kind == KIND_TRANSFORMS and poses.resolution == 40
    back = poses.cameras(ORBIT)
    assert torch.equal(back.cam2world, cams.cam2world) and torch.equal(back.intrinsics, cams.intrinsics)
    # a pose list needs no file_path; instant-ngp's camera_angle_x is a focal too
    data = {"camera_angle_x": 2 * math.atan(0.5), "w": 32, "h": 32,
            "frames": [{"transform_matrix": np.eye(4).tolist()}]}
    path.write_text(json.dumps(data))
    k = read_pose_file(path).cameras(None).intrinsics[0]
    assert k[0, 0].item() == pytest.approx(1.0) and k[1, 1].item() == pytest.approx(1.0)


def _frame(m=None):
    return {"transform_matrix": (np.eye(4) if m is None else m).tolist()}


BAD = [
    ("[]", "pose list is empty"),
    ("{not json", "is not valid JSON"),
    ('"poses"', "is not a poses file"),
    ("[[0.1]]", r"pose 0 must be \[yaw, pitch\]"),
    ("[[0.1, 0.2, 3, 4]]", r"pose 0 must be \[yaw, pitch\]"),
    ('[[0, 0], ["a", 0]]', "pose 1 yaw must be a finite number"),
    ("[[0, 30]]", "radians, not degrees"),
    ("[[0, 0, -1]]", "radius must be positive"),
    ("[[0, 0, 1e999]]", "radius must be a finite number"),
    (json.dumps({"frames": []}), "non-empty 'frames'"),
    (json.dumps({"fl_x": 30, "w": 40, "h": 30, "frames": [_frame()]}), "square views"),
    (json.dumps({"fl_x": 30, "w": 40, "h": 40, "frames": [_frame(np.diag([2.0, 1, 1, 1]))]}), "must be a rotation"),
    (json.dumps({"fl_x": 30, "w": 40, "h": 40, "frames": [_frame(np.diag([1.0, 1, -1, 1]))]}), "must be a rotation"),
    (json.dumps({"fl_x": 30, "w": 40, "h": 40, "frames": [{"transform_matrix": [[1, 0], [0, 1]]}]}), "finite 4x4"),
    (json.dumps({"w": 40, "h": 40, "frames": [_frame()]}), "no focal length"),
    (json.dumps({"fl_x": 30, "w": 40, "h": 40, "k1": 0.2, "frames": [_frame()]}), "lens distortion"),
    (json.dumps({"fl_x": -30, "w": 40, "h": 40, "frames": [_frame()]}), "must be positive"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_pose_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    raises_naming_file(read_pose_file, path, message)


def test_missing_pose_file(tmp_path):
    with pytest.raises(DnerfError, match="poses file not found"):
        read_pose_file(tmp_path / "nope.json")
