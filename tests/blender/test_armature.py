"""The armature of an articulated subject (issue 26: "pose sliders or an armature for the spawned
subject, labels kept"): Generate labeled subject with rig=True spawns the figure's mesh in the rest
pose, skinned to an armature standing in the asked pose.

What must hold: the deformed mesh is the rest mesh moved by dnerf_core's forward kinematics (the
answer key, Skeleton.pose_points), so posing in Blender and posing in dnerf agree; the part ids are
the spawned ones in every pose; the bones' rotation channels are the joint angles (set_pose and
read_pose are inverses, limits clamp); a pose made in Blender renders the same labels in dnerf
(request_of carries the armature's pose); the deformed subject's faces carry the parts the oracle
has at those posed points."""
from __future__ import annotations

import json

import bpy
import numpy as np
import pytest
import torch

import dnerf_core as dn
from blender_addon import armature, subject
from conftest import one_error
from dnerf_core.generators.procedural.figure import make_figure
from dnerf_core.generators.procedural.skeleton import JOINTS, Pose, named_pose

pytestmark = pytest.mark.e2e  # Blender (bpy) like the rest of the folder

SEED = 4
MESH_RESOLUTION = 48
# Face ids are the generator's; the oracle's label at a face's posed centroid may differ only near
# a part border (marching cubes is a grid step off it).
MIN_AGREEMENT = 0.97
BOUNDARY = 0.03


def _request(**kw):
    return subject.SubjectRequest("procedural:figure", seed=SEED, mesh_resolution=MESH_RESOLUTION, **kw)


@pytest.fixture
def rigged(scene):
    return subject.generate_subject(_request(pose="walk", rig=True))


def _faces(ob) -> np.ndarray:
    loops = np.zeros(3 * len(ob.data.polygons), np.int64)
    ob.data.polygons.foreach_get("vertices", loops)
    return loops.reshape(-1, 3)


def _rest_vertices(ob) -> np.ndarray:
    co = np.zeros(3 * len(ob.data.vertices), np.float64)
    ob.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def _skeleton(pose="rest"):
    gen = dn.load_generator("procedural:figure", semantic=None)
    return dn.subject_skeleton(gen, dn.sample_subject(gen, SEED, pose=pose))


def test_spawns_a_rest_mesh_deformed_by_an_armature_in_the_pose(rigged):
    arm = armature.armature_of(rigged)
    assert arm is not None and arm.type == "ARMATURE" and arm[armature.ARMATURE_PROP] == rigged.name
    assert sorted(b.name for b in arm.data.bones) == sorted(j.name for j in JOINTS)
    assert Pose.from_dict(json.loads(rigged[subject.PROP_BODY_POSE])) == named_pose("walk")
    assert rigged[subject.PROP_RIG] and rigged[subject.PROP_POSE] == "walk"
    # the mesh data is the rest pose: the same vertices as a subject extracted in the rest pose
    rest = subject.generate_subject(_request(pose="rest"))
    np.testing.assert_array_equal(_rest_vertices(rigged), _rest_vertices(rest))
    # the world transform is still dnerf -> Blender (the armature carries it)
    np.testing.assert_allclose(np.array(rigged.matrix_world), np.array(rest.matrix_world), atol=1e-6)


@pytest.mark.parametrize("pose", ["walk", "sit", "t", "wave", "random:5"])
def test_armature_moves_vertices_like_dnerf_kinematics(rigged, pose):
    """Blender's deformation == dnerf_core's forward kinematics of the bound vertices."""
    arm = armature.armature_of(rigged)
    sk = _skeleton()
    want_pose = sk.resolve(pose)
    armature.set_pose(arm, want_pose.to_dict()["angles"])
    rest = _rest_vertices(rigged)
    want = sk.pose_points(rest, sk.bind(rest), want_pose)
    got = armature.deformed_vertices(rigged)
    assert np.abs(got - want).max() < 1e-4, f"{pose}: {np.abs(got - want).max()}"
    # what Blender shows is that pose: the Limit Rotation constraints leave in-limit angles alone
    for pb in arm.pose.bones:
        j = [j.name for j in JOINTS].index(pb.name)
        np.testing.assert_allclose(np.array(pb.matrix.to_3x3()) @ np.linalg.inv(np.array(arm.data.bones[pb.name].matrix_local.to_3x3())),
                                   _world_rotation(sk, want_pose, j), atol=1e-5)


def _world_rotation(sk, pose, j):
    from dnerf_core.generators.procedural.skeleton import forward_kinematics

    return forward_kinematics(torch.from_numpy(sk.rest_positions), pose).rotation[j].numpy()


def test_part_ids_are_kept_and_match_the_oracle_in_the_armature_pose(rigged):
    """Posed in Blender, every face keeps its spawned part id, and that id is the oracle's part at
    the face's deformed centroid in that pose (away from part borders)."""
    arm = armature.armature_of(rigged)
    spawned = subject.part_values(rigged).copy()
    figure = make_figure(SEED)
    for pose in ("sit", "random:9"):
        p = _skeleton().resolve(pose)
        armature.set_pose(arm, p.to_dict()["angles"])
        centroids = armature.deformed_vertices(rigged).astype(np.float64)[_faces(rigged)].mean(axis=1)
        np.testing.assert_array_equal(subject.part_values(rigged), spawned)
        posed = figure.posed(p)
        pts = torch.from_numpy(centroids)
        d = posed.distances(pts).sort(dim=0).values
        clear = (d[1] - d[0] > BOUNDARY).numpy()
        oracle = posed.to_canonical(pts).label.numpy()
        agree = (oracle[clear] == spawned[clear]).mean()
        print(f"{pose}: {clear.sum()} of {len(clear)} faces clear of borders, agree {agree:.4f}")
        assert clear.mean() > 0.5 and agree >= MIN_AGREEMENT


def test_bone_channels_are_the_joint_angles(rigged):
    arm = armature.armature_of(rigged)
    for pose in ("t", "random:2"):
        p = _skeleton().resolve(pose)
        armature.set_pose(arm, p.to_dict()["angles"])
        got = Pose.from_dict({"angles": armature.read_pose(arm)})
        flat = lambda q: np.array([v for vals in q.angles for v in vals])  # noqa: E731
        np.testing.assert_allclose(flat(got), flat(p), atol=1e-4)
        if pose == "t":  # named poses read back exactly
            assert got.angles == p.angles
    # one slider: the left knee's bend is one unlocked rotation channel; beyond its limit it clamps
    knee = arm.pose.bones["knee_l"]
    (dof, axis, sign, lo, hi), = json.loads(knee[armature.DOFS_PROP])
    assert dof == "flex" and list(knee.lock_rotation) == [i != axis for i in range(3)]
    knee.rotation_euler[axis] = sign * np.radians(45.0)
    assert armature.read_pose(arm)["knee_l"]["flex"] == pytest.approx(45.0)
    knee.rotation_euler[axis] = sign * np.radians(hi + 30.0)
    assert armature.read_pose(arm)["knee_l"]["flex"] == pytest.approx(hi)
    limit = knee.constraints[0]
    assert limit.type == "LIMIT_ROTATION" and limit.owner_space == "LOCAL"


def test_a_pose_made_in_blender_is_what_dnerf_renders(rigged):
    """request_of carries the armature's pose: the rebuilt request is that pose, and a dnerf
    subject from it has exactly those joint angles."""
    arm = armature.armature_of(rigged)
    arm.pose.bones["shoulder_r"].rotation_euler = (0.0, 0.0, 0.0)
    armature.set_pose(arm, {"elbow_l": {"flex": 60.0}, "hip_r": {"flex": 45.0, "abduct": 10.0}})
    req = subject.request_of(rigged)
    assert req.rig
    gen = dn.load_generator("procedural:figure", semantic=None)
    got = dn.subject_skeleton(gen, subject.sample_subject(gen, req)).pose
    assert got.angle("elbow_l", "flex") == pytest.approx(60.0)
    assert got.angle("hip_r", "flex") == pytest.approx(45.0) and got.angle("hip_r", "abduct") == pytest.approx(10.0)
    assert got.angle("knee_l", "flex") == 0.0


def test_errors(scene):
    with pytest.raises(dn.DnerfError, match="rigid generator"):
        subject.generate_subject(subject.SubjectRequest("procedural:car", seed=1, mesh_resolution=32, rig=True))
    with pytest.raises(dn.DnerfError, match="meshes only"):
        subject.generate_subject(_request(rig=True, representation="POINTCLOUD"))
    assert not [o for o in bpy.data.objects]  # nothing half-made left in the scene


def test_the_panel_spawns_a_posed_armature_by_default(scene):
    """Generate labeled subject from the panel: figure, Body pose Sit -> an armature in that pose
    (Armature on by default); Armature off -> the mesh extracted in the pose, no armature."""
    s = scene.dnerf
    s.category, s.seed, s.body_pose, s.mesh_resolution = "figure", SEED, "sit", 32
    assert s.body_armature
    bpy.ops.dnerf.generate_subject()
    ob = s.subject
    arm = armature.armature_of(ob)
    assert arm is not None and ob[subject.PROP_POSE] == "sit"
    assert Pose.from_dict({"angles": armature.read_pose(arm)}).angles == named_pose("sit").angles
    s.body_armature = False
    bpy.ops.dnerf.generate_subject()
    assert armature.armature_of(s.subject) is None and not s.subject.vertex_groups


def test_generate_in_armature_pose_builds_the_generators_posed_subject(scene):
    """Pose the armature by hand, then Generate in armature pose: a new, unrigged subject whose
    mesh is the one dnerf extracts in that pose (the same vertices as a subject asked for in the
    pose directly), recording the pose."""
    s = scene.dnerf
    s.category, s.seed, s.mesh_resolution = "figure", SEED, MESH_RESOLUTION
    assert one_error(bpy.ops.dnerf.generate_in_armature_pose).startswith("select a subject with an armature")
    bpy.ops.dnerf.generate_subject()
    rigged = s.subject
    angles = {"elbow_l": {"flex": 60.0}, "hip_r": {"flex": 45.0}}
    armature.set_pose(armature.armature_of(rigged), angles)
    assert bpy.ops.dnerf.generate_in_armature_pose() == {"FINISHED"}
    posed = s.subject
    assert posed is not rigged and armature.armature_of(posed) is None
    direct = subject.generate_subject(_request(pose=json.dumps({"angles": angles})))
    np.testing.assert_array_equal(_rest_vertices(posed), _rest_vertices(direct))
    got = Pose.from_dict(json.loads(posed[subject.PROP_BODY_POSE]))
    assert got.angle("elbow_l", "flex") == 60.0 and got.angle("hip_r", "flex") == 45.0

