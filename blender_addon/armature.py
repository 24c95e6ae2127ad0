"""An armature for an articulated subject (the figure): pose it in Blender, the labeled mesh follows
rigidly part by part, its part ids untouched.

The mesh is extracted in the rest pose and skinned rigidly: one vertex group per joint, weight 1,
each vertex in the group of the bone dnerf_core's Skeleton.bind gives it (the part owning it in the
rest pose, the articulated generator's own rule), so the deformed mesh is the generator's posed
subject up to the seams where parts touch.

Each bone lies along a world axis and is rolled so that its local axes are world axes: then every
degree of freedom of a joint (a rotation about a rest-frame world axis) is one of the bone's local
Euler channels, and the bone's rotation fields in the N panel *are* the joint angles, in the joint's
own order (rotation_mode), with the other channels locked and the limits set on a Limit Rotation
constraint. A bone therefore does not always point exactly at its child (the rest pose spreads the
arms by 9 degrees); the deformation does not depend on that. Poses go both ways: `set_pose` puts a
dnerf pose on the armature, `read_pose` reads the armature's pose as dnerf joint angles (JSON for
`--pose`), clamped to the limits the constraint shows.
"""
from __future__ import annotations

import json
import math

import bpy
import numpy as np

ARMATURE_PROP = "dnerf_armature"  # on the armature object: the subject object's name
DOFS_PROP = "dnerf_dofs"  # on each pose bone: [[dof name, local axis 0-2, sign, lo deg, hi deg], ...]
MODIFIER_NAME = "dnerf armature"
AXES = "XYZ"
# Blender keeps Euler angles in float32 (~5e-6 degrees of noise at 90): read_pose rounds to this many
# decimals of a degree, so a named pose put on the armature reads back exactly.
ANGLE_DECIMALS = 4
# Bone direction (a world axis of the rest pose, dnerf coordinates, y up, +z forward) by joint
# family: the root and neck point up, limbs hang down, the ankle's bone is the foot (forward).
_UP, _DOWN, _FORWARD = (0.0, 1.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0)
BONE_DIRECTION = {"pelvis": _UP, "neck": _UP, "shoulder": _DOWN, "elbow": _DOWN, "wrist": _DOWN, "hip": _DOWN,
                  "knee": _DOWN, "ankle": _FORWARD}
# Length (world units; the figure is about 1.8 tall) of bones whose joint has no child to reach.
LEAF_LENGTH = {"neck": 0.3, "wrist": 0.12, "ankle": 0.15}


def _family(name: str) -> str:
    return name.rsplit("_", 1)[0] if name.endswith(("_l", "_r")) else name


def _bone_frame(direction) -> tuple[np.ndarray, np.ndarray]:
    """(Y axis = direction, Z axis): the roll that makes the bone's local axes world axes."""
    y = np.asarray(direction, np.float64)
    z = np.array([0.0, -1.0, 0.0]) if abs(y[2]) > 0.5 else np.array([0.0, 0.0, 1.0])
    return y, z


def _dof_channels(frame: np.ndarray, dofs) -> list[list]:
    """A joint's degrees of freedom as bone-local Euler channels: [name, axis index, sign, lo, hi]."""
    out = []
    for dof in dofs:
        local = frame.T @ np.asarray(dof.axis, np.float64)  # the dof axis in the bone's frame
        i = int(np.argmax(np.abs(local)))
        if abs(abs(local[i]) - 1.0) > 1e-9:
            raise RuntimeError(f"dof {dof.name} is not along a bone axis")  # BONE_DIRECTION broke the rule
        out.append([dof.name, i, 1.0 if local[i] > 0 else -1.0, float(dof.lo), float(dof.hi)])
    return out


def _rotation_order(channels: list[list]) -> str:
    """Blender's Euler order applies its first letter first; a joint's R = R(dof_0) @ R(dof_1) @ ...
    applies its last dof first."""
    used = [AXES[c[1]] for c in reversed(channels)]
    return "".join(used + [a for a in AXES if a not in used])


def _frames(skeleton) -> list[np.ndarray]:
    frames = []
    for name in skeleton.names:
        y, z = _bone_frame(BONE_DIRECTION[_family(name)])
        frames.append(np.stack([np.cross(y, z), y, z], axis=1))  # columns: the bone's X, Y, Z
    return frames


def build_armature(skeleton, name: str, collection) -> bpy.types.Object:
    """An armature object (data in dnerf coordinates) with one bone per joint of a dnerf_core
    Skeleton, channels, locks and limits set; in the rest pose."""
    arm = bpy.data.armatures.new(name)
    ob = bpy.data.objects.new(name, arm)
    collection.objects.link(ob)
    rest, frames = skeleton.rest_positions, _frames(skeleton)
    children = {i: [k for k, p in enumerate(skeleton.parents) if p == i] for i in range(len(skeleton.names))}
    with bpy.context.temp_override(active_object=ob, object=ob, selected_objects=[ob], selected_editable_objects=[ob]):
        bpy.context.view_layer.objects.active = ob
        bpy.ops.object.mode_set(mode="EDIT")
        try:
            bones = []
            for i, joint in enumerate(skeleton.names):
                y, z = frames[i][:, 1], frames[i][:, 2]
                reach = [float(np.dot(rest[k] - rest[i], y)) for k in children[i]]
                length = max(reach) if reach and max(reach) > 1e-3 else LEAF_LENGTH.get(_family(joint), 0.1)
                eb = arm.edit_bones.new(joint)
                eb.head = rest[i].tolist()
                eb.tail = (rest[i] + length * y).tolist()
                eb.align_roll(z.tolist())
                eb.use_connect = False
                if skeleton.parents[i] >= 0:
                    eb.parent = bones[skeleton.parents[i]]
                bones.append(eb)
        finally:
            bpy.ops.object.mode_set(mode="OBJECT")
    for joint, frame, dofs in zip(skeleton.names, frames, skeleton.dofs):
        pb = ob.pose.bones[joint]
        channels = _dof_channels(frame, dofs)
        pb[DOFS_PROP] = json.dumps(channels)
        pb.rotation_mode = _rotation_order(channels)
        pb.lock_location = pb.lock_scale = (True, True, True)
        pb.lock_rotation = tuple(i not in [c[1] for c in channels] for i in range(3))
        limit = pb.constraints.new("LIMIT_ROTATION")
        limit.owner_space = "LOCAL"
        limit.euler_order = pb.rotation_mode
        for axis in range(3):
            lo = hi = 0.0
            for _, i, sign, dlo, dhi in channels:
                if i == axis:
                    lo, hi = sorted((sign * math.radians(dlo), sign * math.radians(dhi)))
            letter = AXES[axis].lower()
            setattr(limit, f"use_limit_{letter}", True)
            setattr(limit, f"min_{letter}", lo)
            setattr(limit, f"max_{letter}", hi)
    return ob


def set_pose(ob: bpy.types.Object, angles: dict) -> None:
    """Put a dnerf pose ({joint: {dof: degrees}}, Pose.to_dict()["angles"]) on the armature;
    joints not named go to their rest angle."""
    for pb in ob.pose.bones:
        given = angles.get(pb.name, {})
        euler = [0.0, 0.0, 0.0]
        for dof, axis, sign, _, _ in json.loads(pb[DOFS_PROP]):
            euler[axis] = sign * math.radians(float(given.get(dof, 0.0)))
        pb.rotation_euler = euler


def read_pose(ob: bpy.types.Object) -> dict:
    """The armature's pose as dnerf joint angles {joint: {dof: degrees}}, each clamped to its
    limits (what the Limit Rotation constraint shows). A bone switched to another rotation mode
    is read from its matrix in the joint's order."""
    out = {}
    for pb in ob.pose.bones:
        channels = json.loads(pb.get(DOFS_PROP, "[]"))
        if not channels:
            continue
        order = _rotation_order(channels)
        euler = pb.rotation_euler if pb.rotation_mode == order else pb.matrix_basis.to_euler(order)
        out[pb.name] = {dof: round(min(max(math.degrees(sign * euler[axis]), lo), hi), ANGLE_DECIMALS)
                        for dof, axis, sign, lo, hi in channels}
    return out


def pose_json(ob: bpy.types.Object, name: str = "armature") -> str:
    """read_pose as a `--pose` JSON text (dnerf_core's Pose format)."""
    return json.dumps({"name": name, "angles": read_pose(ob)}, sort_keys=True)


def skin(mesh_ob: bpy.types.Object, armature_ob: bpy.types.Object, joint_names, vertex_joints: np.ndarray) -> None:
    """Bind a mesh object rigidly: a vertex group per joint (weight 1 on its vertices), an Armature
    modifier, parented to the armature with an identity local transform (the armature carries the
    dnerf -> Blender turn, so the mesh data stays in dnerf coordinates)."""
    assign_groups(mesh_ob, joint_names, vertex_joints)
    mod = mesh_ob.modifiers.new(MODIFIER_NAME, "ARMATURE")
    mod.object = armature_ob
    mod.use_vertex_groups, mod.use_bone_envelopes = True, False
    mesh_ob.parent = armature_ob
    mesh_ob.matrix_parent_inverse.identity()
    mesh_ob.matrix_basis.identity()
    armature_ob[ARMATURE_PROP] = mesh_ob.name


def assign_groups(mesh_ob: bpy.types.Object, joint_names, vertex_joints: np.ndarray) -> None:
    """One vertex group per joint, weight 1 on the vertices its bone moves (replacing any)."""
    mesh_ob.vertex_groups.clear()
    for j, joint in enumerate(joint_names):
        members = np.flatnonzero(vertex_joints == j).tolist()
        group = mesh_ob.vertex_groups.new(name=joint)
        if members:
            group.add(members, 1.0, "REPLACE")


def armature_of(ob) -> bpy.types.Object | None:
    """The armature that deforms a rigged subject, else None."""
    parent = ob.parent if ob is not None else None
    return parent if parent is not None and parent.type == "ARMATURE" and ARMATURE_PROP in parent else None


def deformed_vertices(ob: bpy.types.Object) -> np.ndarray:
    """[V,3] float32 vertex positions of a mesh as the scene shows it (modifiers applied), in the
    object's own (dnerf) coordinates; the vertex order is the mesh data's (an armature keeps it)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = ob.evaluated_get(depsgraph)
    me = evaluated.to_mesh()
    try:
        co = np.zeros(3 * len(me.vertices), np.float32)
        me.vertices.foreach_get("co", co)
    finally:
        evaluated.to_mesh_clear()
    return co.reshape(-1, 3)
