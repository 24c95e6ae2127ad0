"""Optimizable poses: the same cameras as the orbit helpers, differentiable in yaw/pitch/radius."""
import math

import torch

from dnerf_core.cameras import OrbitSpec, orbit_cameras
from dnerf_core.inversion.pose import Pose, pose_cameras, search_poses, yaw_error_degrees

ORBIT = OrbitSpec(2.7, (0.0, 0.0, 0.2), 4.26, (-0.6, 0.6), (-0.3, 0.3))
FULL = OrbitSpec(1.7, (0.0, 0.0, 0.0), 1.02, (0.0, 2 * math.pi), (0.05, 0.6))


def test_pose_cameras_equal_orbit_cameras():
    yaw, pitch = torch.tensor([0.3, -0.5]), torch.tensor([0.1, -0.2])
    got = pose_cameras(yaw.double(), pitch.double(), torch.full((2,), ORBIT.radius, dtype=torch.float64), ORBIT)
    want = orbit_cameras(yaw, pitch, ORBIT, dtype=torch.float64)
    assert torch.allclose(got.cam2world, want.cam2world, atol=1e-12)
    assert torch.allclose(got.intrinsics, want.intrinsics)


def test_pose_cameras_radius_moves_along_the_view_ray():
    near = Pose(0.2, 0.1, 2.0).cameras(ORBIT).positions
    far = Pose(0.2, 0.1, 4.0).cameras(ORBIT).positions
    pivot = torch.tensor(ORBIT.pivot)
    assert torch.allclose((far - pivot), 2 * (near - pivot), atol=1e-5)


def test_pose_cameras_gradcheck():
    args = tuple(torch.tensor([v], dtype=torch.float64, requires_grad=True) for v in (0.4, 0.15, 2.5))
    assert torch.autograd.gradcheck(lambda y, p, r: pose_cameras(y, p, r, ORBIT).cam2world, args)


def test_search_poses_cover_the_range():
    partial = search_poses(ORBIT)
    assert min(p.yaw for p in partial) == ORBIT.yaw_range[0] and max(p.yaw for p in partial) == ORBIT.yaw_range[1]
    full = search_poses(FULL)
    gaps = sorted(p.yaw for p in full)
    assert len(full) == 12 and max(b - a for a, b in zip(gaps, gaps[1:])) < math.radians(31)
    assert all(p.pitch == (FULL.pitch_range[0] + FULL.pitch_range[1]) / 2 for p in full)


def test_yaw_error_wraps():
    assert abs(yaw_error_degrees(math.radians(359), math.radians(1)) - 2) < 1e-9
    assert abs(yaw_error_degrees(0.0, math.pi) - 180) < 1e-9


def test_distinct_starts_skip_neighbors_of_a_picked_pose():
    from dnerf_core.inversion.pose import distinct_starts

    ranked = [Pose(math.radians(d), 0.3, 1.7) for d in (30, 40, 210, 60, 100)]
    # on a full orbit starts must be 60 degrees apart: 40 is a neighbor of 30, 60 is too
    assert [round(math.degrees(p.yaw)) for p in distinct_starts(ranked, 3, FULL)] == [30, 210, 100]
    assert len(distinct_starts(ranked, 2, FULL)) == 2
