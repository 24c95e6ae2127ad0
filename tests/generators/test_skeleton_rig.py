"""dn.subject_skeleton: the skeleton a rigging tool (the Blender armature) is built from. Its binding
and forward kinematics must put a rest-pose point where the oracle's posed figure has it, so a rig
built from it keeps labels exactly."""
import numpy as np
import pytest
import torch

import dnerf_core as dn
from dnerf_core.generators.procedural.figure import make_figure
from dnerf_core.generators.procedural.skeleton import JOINTS, Pose
from checks import figure_interior_points

SEED = 4


@pytest.fixture(scope="module")
def figure_gen():
    return dn.load_generator("procedural:figure", semantic=None)


def test_smoke_and_shapes(figure_gen):
    sk = dn.subject_skeleton(figure_gen, dn.sample_subject(figure_gen, SEED, pose="walk"))
    assert sk.names == tuple(j.name for j in JOINTS) and sk.parents[0] == -1
    assert sk.rest_positions.shape == (len(JOINTS), 3) and sk.rest_positions.dtype == np.float64
    assert sk.pose.name == "walk" and [len(d) for d in sk.dofs] == [len(j.dofs) for j in JOINTS]
    np.testing.assert_array_equal(sk.rest_positions, make_figure(SEED).rest_positions.numpy())


def test_rigid_generator_has_no_skeleton():
    car = dn.load_generator("procedural:car", semantic=None)
    with pytest.raises(dn.DnerfError, match="rigid generator"):
        dn.subject_skeleton(car, dn.sample_subject(car, 1))


def test_bound_points_land_on_their_part_in_any_pose(figure_gen):
    """Interior points of each part, bound and posed, are inside the same labeled part of the
    oracle's posed figure, for named and random poses; the zero pose moves nothing."""
    sk = dn.subject_skeleton(figure_gen, dn.sample_subject(figure_gen, SEED))
    figure = make_figure(SEED)
    points, part = figure_interior_points(figure, n_per_part=200, seed=0)
    pts, part = points.numpy(), part.numpy()
    joints = sk.bind(pts)
    np.testing.assert_array_equal(sk.pose_points(pts, joints, "rest"), pts)
    for spec in ("walk", "sit", "random:3", "random:11"):
        posed_pts = sk.pose_points(pts, joints, spec)
        posed = figure.posed(sk.resolve(spec))
        owner = posed.to_canonical(torch.from_numpy(posed_pts))
        assert (owner.part.numpy() == part).all(), spec
        np.testing.assert_allclose(owner.points.numpy(), pts, atol=1e-9)


def test_errors(figure_gen):
    sk = dn.subject_skeleton(figure_gen, dn.sample_subject(figure_gen, SEED))
    with pytest.raises(dn.DnerfError, match="joint indices"):
        sk.pose_points(np.zeros((3, 3)), np.zeros(2, np.int64))
    with pytest.raises(dn.DnerfError, match="outside its limits"):
        sk.resolve('{"knee_l": 170}')
