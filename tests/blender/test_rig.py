"""Camera rig: Blender cameras reproduce dnerf_core's poses and focal exactly."""
from __future__ import annotations

import json
import math

import bpy
import numpy as np
import pytest
import torch
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from blender_addon import rig
from blender_addon.coords import DNERF_TO_BLENDER, to_numpy
from dnerf_core.cameras import spread_orbit_cameras
from dnerf_core.generators import load_generator

pytestmark = pytest.mark.e2e

# Blender keeps object matrices in float32.
MATRIX_TOL = 2e-6


@pytest.mark.parametrize("spec, n", [("procedural:car", 5), ("procedural:face", 4)])
def test_rig_matches_dnerf_poses_and_focal(scene, spec, n):
    rig_ob = rig.build_camera_rig(spec, n)
    want = spread_orbit_cameras(n, load_generator(spec).orbit)
    cams = rig.rig_cameras(rig_ob)
    assert len(cams) == n and all(c.parent is rig_ob for c in cams)
    gl = want.cam2world_opengl().double().numpy()
    cv = want.cam2world.double().numpy()
    rig_inv = rig_ob.matrix_world.inverted()
    for i, cam in enumerate(cams):
        local = to_numpy(rig_inv @ cam.matrix_world)
        np.testing.assert_allclose(local, gl[i], atol=MATRIX_TOL)
        # the OpenCV pose is the OpenGL one with y and z flipped: Blender's camera looks down its -z
        np.testing.assert_allclose(local[:3, 2], -cv[i, :3, 2], atol=MATRIX_TOL)
        np.testing.assert_allclose(local[:3, 1], -cv[i, :3, 1], atol=MATRIX_TOL)
        # in Blender's world the rig's rotation makes dnerf's up (+y) Blender's up (+z)
        np.testing.assert_allclose(to_numpy(cam.matrix_world), to_numpy(DNERF_TO_BLENDER) @ gl[i], atol=MATRIX_TOL)
        fx = float(want.intrinsics[i, 0, 0])
        assert cam.data.sensor_fit == "HORIZONTAL"
        assert rig.focal_of_camera(cam.data) == pytest.approx(fx, rel=1e-6)
        assert json.loads(cam[rig.INTRINSICS_PROP])[0][0] == pytest.approx(fx, rel=1e-12)
        # Blender's own field of view agrees with dnerf's focal: tan(fov/2) = 0.5 / fx
        assert math.tan(cam.data.angle_x / 2) == pytest.approx(0.5 / fx, rel=1e-5)


def test_blender_projection_equals_dnerf_projection(scene):
    """Project the same world points with Blender's camera and with dnerf's Cameras.project."""
    spec, res = "procedural:car", 64
    rig_ob = rig.build_camera_rig(spec, 3)
    cameras = spread_orbit_cameras(3, load_generator(spec).orbit)
    scene.render.resolution_x = scene.render.resolution_y = res
    gen = torch.Generator().manual_seed(0)
    points = (torch.rand(50, 3, generator=gen) - 0.5) * 0.8  # near the subject, in dnerf coordinates
    for i, cam in enumerate(rig.rig_cameras(rig_ob)):
        uv, z = cameras[i].project(points[None].double())
        for p, (u, v), depth in zip(points, uv[0].tolist(), z[0].tolist()):
            ndc = world_to_camera_view(scene, cam, DNERF_TO_BLENDER @ Vector(p.tolist()))
            # Blender: x right, y UP from the bottom-left corner; dnerf/OpenCV: v down from the top
            assert ndc.x == pytest.approx(u, abs=1e-5)
            assert ndc.y == pytest.approx(1 - v, abs=1e-5)
            assert ndc.z == pytest.approx(depth, abs=1e-5)


def test_cameras_read_back_from_rig(scene):
    spec = "procedural:face"
    rig_ob = rig.build_camera_rig(spec, 4)
    want = spread_orbit_cameras(4, load_generator(spec).orbit)
    got = rig.cameras_from_rig(rig_ob)
    np.testing.assert_allclose(got.cam2world.numpy(), want.cam2world.numpy(), atol=MATRIX_TOL)
    np.testing.assert_allclose(got.intrinsics.numpy(), want.intrinsics.numpy(), rtol=1e-6)
    # a moved camera is read where it is now
    cam = rig.rig_cameras(rig_ob)[0]
    cam.location.x += 0.25
    bpy.context.view_layer.update()
    moved = rig.cameras_from_rig(rig_ob)
    assert moved.cam2world[0, 0, 3] == pytest.approx(float(want.cam2world[0, 0, 3]) + 0.25, abs=1e-5)
