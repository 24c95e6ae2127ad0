"""The camera rig from a pose file (--poses): an export's transforms.json, or yaw/pitch/radius triples."""
from __future__ import annotations

import json

import numpy as np
import pytest

from blender_addon import rig
from dnerf_core.cameras import orbit_cameras
from dnerf_core.errors import DnerfError
from dnerf_core.factory.export.transforms import read_transforms_json
from dnerf_core.generators import load_generator

pytestmark = pytest.mark.e2e  # the rig is built from a dnerf-export run in a subprocess

MATRIX_TOL = 2e-6  # Blender keeps object matrices in float32


def test_rig_from_an_exports_transforms_json(scene, car_export):
    want, frames, _, _ = read_transforms_json(car_export / "transforms.json")
    rig_ob = rig.build_camera_rig("procedural:car", 0, poses_file=str(car_export / "transforms.json"))
    assert len(rig.rig_cameras(rig_ob)) == len(frames)
    got = rig.cameras_from_rig(rig_ob)
    np.testing.assert_allclose(got.cam2world.numpy(), want.cam2world.numpy(), atol=MATRIX_TOL)
    np.testing.assert_allclose(got.intrinsics.numpy(), want.intrinsics.numpy(), rtol=1e-6)


def test_rig_from_triples_and_the_panel_property(scene, tmp_path):
    poses = tmp_path / "poses.json"
    poses.write_text(json.dumps([[0.3, 0.1], [-1.0, -0.2, 2.5]]))
    orbit = load_generator("procedural:car").orbit
    want = [orbit_cameras(0.3, 0.1, orbit), orbit_cameras(-1.0, -0.2, orbit, radius=2.5)]
    scene.dnerf.rig_poses_file = str(poses)
    rig_ob = rig.build_camera_rig("procedural:car", 8, poses_file=scene.dnerf.rig_poses_file)
    got = rig.cameras_from_rig(rig_ob)
    assert len(got) == 2
    for i, w in enumerate(want):
        np.testing.assert_allclose(got.cam2world[i].numpy(), w.cam2world[0].numpy(), atol=MATRIX_TOL)
    poses.write_text("[[0, 40]]")
    with pytest.raises(DnerfError, match="radians, not degrees"):
        rig.build_camera_rig("procedural:car", 8, poses_file=str(poses))
