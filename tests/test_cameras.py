"""Camera conventions: EG3D label round trip, OpenGL conversion, rays, orbits."""
import math

import pytest
import torch

from dnerf_core.cameras import (OPENCV_TO_OPENGL, Cameras, OrbitSpec, focal_from_fov, intrinsics_matrix, look_at,
                                orbit_cameras, random_orbit_cameras, ray_bundle, spread_orbit_cameras,
                                video_orbit_cameras)
from dnerf_core.errors import DnerfError

FFHQ = OrbitSpec(radius=2.7, pivot=(0.0, 0.0, 0.2), focal=4.2647, yaw_range=(-0.6, 0.6), pitch_range=(-0.3, 0.3))


def _random_cameras(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return random_orbit_cameras(n, FFHQ, g, dtype=torch.float64)


def test_eg3d_label_round_trip():
    cams = _random_cameras()
    label = cams.to_eg3d_label()
    assert label.shape == (5, 25)
    # the first 16 numbers are the cam2world matrix, row-major
    assert torch.equal(label[0, :16], cams.cam2world[0].flatten())
    assert torch.equal(label[0, 16:], cams.intrinsics[0].flatten())
    back = Cameras.from_eg3d_label(label)
    assert torch.equal(back.cam2world, cams.cam2world) and torch.equal(back.intrinsics, cams.intrinsics)


def test_eg3d_label_errors():
    with pytest.raises(DnerfError, match="25"):
        Cameras.from_eg3d_label(torch.zeros(2, 24))


def test_opengl_round_trip_and_axes():
    cams = _random_cameras()
    gl = cams.cam2world_opengl()
    back = Cameras.from_opengl(gl, cams.intrinsics)
    assert torch.allclose(back.cam2world, cams.cam2world, atol=1e-12)
    # OpenGL cameras look down their -z and have y up: same position, flipped axes.
    assert torch.allclose(gl[:, :3, 2], -cams.cam2world[:, :3, 2])
    assert torch.allclose(gl[:, :3, 1], -cams.cam2world[:, :3, 1])
    assert torch.allclose(gl[:, :3, 3], cams.cam2world[:, :3, 3])
    assert torch.equal(OPENCV_TO_OPENGL @ OPENCV_TO_OPENGL, torch.eye(4, dtype=torch.float64))


def test_frontal_camera_convention():
    cam = orbit_cameras(0.0, 0.0, FFHQ, dtype=torch.float64)
    c2w = cam.cam2world[0]
    # yaw 0 / pitch 0: on +z of the pivot, x right = world +x, y down = world -y, looking along -z.
    assert torch.allclose(c2w[:3, 3], torch.tensor([0.0, 0.0, 2.9], dtype=torch.float64))
    assert torch.allclose(c2w[:3, :3], torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)))
    # positive yaw moves the camera towards +x, positive pitch moves it up
    assert orbit_cameras(0.3, 0.0, FFHQ).positions[0, 0] > 0
    assert orbit_cameras(0.0, 0.2, FFHQ).positions[0, 1] > 0


def test_look_at_is_rotation_and_looks_at_pivot():
    cams = _random_cameras(8)
    rot = cams.cam2world[:, :3, :3]
    assert torch.allclose(rot @ rot.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(8, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(8, dtype=torch.float64))
    to_pivot = torch.tensor(FFHQ.pivot, dtype=torch.float64) - cams.positions
    assert torch.allclose(cams.forward, to_pivot / to_pivot.norm(dim=-1, keepdim=True), atol=1e-12)
    assert torch.allclose(to_pivot.norm(dim=-1), torch.full((8,), 2.7, dtype=torch.float64))


def test_principal_ray_is_forward_axis():
    cams = _random_cameras(3)
    rays = ray_bundle(cams, 5)  # odd size: the middle pixel center is the principal point
    center = rays.directions[:, 12]
    assert torch.allclose(center, cams.forward, atol=1e-12)
    assert torch.allclose(rays.origins, cams.positions[:, None].expand(3, 25, 3))
    assert torch.allclose(rays.directions.norm(dim=-1), torch.ones(3, 25, dtype=torch.float64))


def test_rays_project_back_to_their_pixels():
    cams = _random_cameras(2)
    res = (6, 8)
    rays = ray_bundle(cams, res)
    pts = rays.origins + 2.5 * rays.directions
    uv, z = cams.project(pts)
    v, u = torch.meshgrid((torch.arange(6) + 0.5) / 6, (torch.arange(8) + 0.5) / 8, indexing="ij")
    expect = torch.stack([u.flatten(), v.flatten()], -1).to(torch.float64)
    assert torch.allclose(uv, expect.expand_as(uv), atol=1e-10)
    assert (z > 0).all()


def test_focal_from_fov_matches_eg3d():
    # EG3D's FFHQ cameras: an 18.837 degree field of view is a normalized focal length of ~4.2647
    assert focal_from_fov(18.837) == pytest.approx(4.2647, rel=2e-3)
    k = intrinsics_matrix(4.2647, batch=2)
    assert k.shape == (2, 3, 3) and k[0, 0, 2] == 0.5


def test_pose_samplers_are_repeatable_and_in_range():
    a = random_orbit_cameras(16, FFHQ, torch.Generator().manual_seed(3))
    b = random_orbit_cameras(16, FFHQ, torch.Generator().manual_seed(3))
    assert torch.equal(a.cam2world, b.cam2world)
    rel = a.positions.double() - torch.tensor(FFHQ.pivot, dtype=torch.float64)
    yaw = torch.atan2(rel[:, 0], rel[:, 2])
    pitch = torch.asin(rel[:, 1] / rel.norm(dim=-1))
    assert (yaw >= -0.6 - 1e-5).all() and (yaw <= 0.6 + 1e-5).all()
    assert (pitch >= -0.3 - 1e-5).all() and (pitch <= 0.3 + 1e-5).all()
    video = video_orbit_cameras(61, FFHQ)
    assert len(video) == 61
    assert len(spread_orbit_cameras(8, FFHQ)) == 8


def test_pose_sampler_errors():
    with pytest.raises(DnerfError):
        video_orbit_cameras(0, FFHQ)
    with pytest.raises(DnerfError):
        spread_orbit_cameras(0, FFHQ)
    with pytest.raises(DnerfError, match="pitch"):
        orbit_cameras(0.0, math.pi / 2, FFHQ)
    with pytest.raises(DnerfError):
        Cameras(torch.eye(4).expand(2, 4, 4), torch.eye(3).expand(3, 3, 3))


def test_world2cam_inverts():
    cams = _random_cameras(4)
    eye = cams.world2cam() @ cams.cam2world
    assert torch.allclose(eye, torch.eye(4, dtype=torch.float64).expand(4, 4, 4), atol=1e-12)


def test_look_at_handles_batch():
    pos = torch.tensor([[1.0, 0.5, 1.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    c2w = look_at(pos, torch.zeros_like(pos))
    assert c2w.shape == (2, 4, 4)
