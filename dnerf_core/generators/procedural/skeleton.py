"""The posable figure's skeleton: joints, their degrees of freedom and limits, poses, kinematics.

Every figure shares one joint topology (JOINTS); a seed only changes where the joints sit in the
rest pose (procedural/figure.py). So a Pose is a small, skeleton-independent, JSON-able value:
joint name -> angles in degrees, one per degree of freedom of that joint. The zero pose is the rest
pose (standing, arms hanging down, facing +z, y up; the figure's left is +x).

A joint's local rotation is the product of its degrees of freedom in their listed order,
R = R(axis_0, a_0) @ R(axis_1, a_1) @ ..., each a right-handed rotation about an axis given in the
rest frame. Axes of the right side are the mirror images (x -> -x) of the left side's, so the same
angles mean the same motion on both sides ("flex" forward, "abduct" away from the body).

Kinematics: a joint's world rotation is its parent's world rotation times its local rotation, and
its world position is its parent's plus the parent's world rotation applied to the rest offset.
A part bound to joint j moves rigidly: x_posed = R_j (x_rest - rest_j) + pos_j, and the inverse
map of a posed point into the rest ("canonical") frame is x_rest = R_j^T (x_posed - pos_j) + rest_j.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from ...errors import DnerfError


class PoseError(DnerfError, ValueError):
    """A pose that names unknown joints, has the wrong number of angles or breaks a joint limit."""


@dataclass(frozen=True)
class Dof:
    """One rotational degree of freedom: name, unit axis (rest frame), limits in degrees."""

    name: str
    axis: tuple[float, float, float]
    lo: float
    hi: float


@dataclass(frozen=True)
class JointSpec:
    """A joint: its parent (None for the root) and its degrees of freedom (none: fixed root,
    one: a hinge, three: a ball joint)."""

    name: str
    parent: str | None
    dofs: tuple[Dof, ...]

    @property
    def kind(self) -> str:
        return {0: "fixed", 1: "hinge"}.get(len(self.dofs), "ball")


def _mirror(axis: tuple[float, float, float]) -> tuple[float, float, float]:
    """The right side's axis for a left side's: a mirror in x maps a rotation about (x, y, z) to
    one about (x, -y, -z) (axial vectors flip the components parallel to the mirror plane)."""
    return (axis[0], -axis[1], -axis[2])


def _sided(name: str, parent: str | None, dofs: tuple[Dof, ...]) -> tuple[JointSpec, JointSpec]:
    left = JointSpec(f"{name}_l", f"{parent}_l" if parent and parent != "pelvis" else parent, dofs)
    right_dofs = tuple(Dof(d.name, _mirror(d.axis), d.lo, d.hi) for d in dofs)
    right = JointSpec(f"{name}_r", f"{parent}_r" if parent and parent != "pelvis" else parent, right_dofs)
    return left, right


# Flexion of arms, hips and wrists rotates about -x (a limb hanging down swings forward, +z); the
# knee bends backwards (+x); abduction about +z swings the left limb out to +x; twist is about the
# limb's own (vertical) axis. Hinge limits stay within +-90 degrees of straight so that a child
# limb, cut by its parent's joint ball, can never reach back into its parent (figure.py).
_FLEX = (-1.0, 0.0, 0.0)
_ABDUCT = (0.0, 0.0, 1.0)
_TWIST = (0.0, 1.0, 0.0)
JOINTS: tuple[JointSpec, ...] = (
    JointSpec("pelvis", None, ()),
    JointSpec("neck", "pelvis", (Dof("nod", (1.0, 0.0, 0.0), -35.0, 40.0), Dof("turn", _TWIST, -70.0, 70.0),
                                 Dof("tilt", _ABDUCT, -30.0, 30.0))),
    *_sided("shoulder", "pelvis", (Dof("flex", _FLEX, -50.0, 110.0), Dof("abduct", _ABDUCT, -5.0, 110.0),
                                   Dof("twist", _TWIST, -60.0, 60.0))),
    *_sided("elbow", "shoulder", (Dof("flex", _FLEX, 0.0, 90.0),)),
    *_sided("wrist", "elbow", (Dof("flex", _FLEX, -60.0, 60.0),)),
    *_sided("hip", "pelvis", (Dof("flex", _FLEX, -30.0, 100.0), Dof("abduct", _ABDUCT, -8.0, 50.0),
                              Dof("twist", _TWIST, -40.0, 40.0))),
    *_sided("knee", "hip", (Dof("flex", (1.0, 0.0, 0.0), 0.0, 90.0),)),
    *_sided("ankle", "knee", (Dof("flex", _FLEX, -25.0, 30.0),)),
)
JOINT_NAMES = tuple(j.name for j in JOINTS)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
PARENT_INDEX = tuple(-1 if j.parent is None else JOINT_INDEX[j.parent] for j in JOINTS)
# Limits are checked with this slack (degrees) so that a pose read back from JSON text, or a
# sampled angle at its bound, is not refused for a rounding error.
LIMIT_SLACK_DEG = 1e-6


@dataclass(frozen=True)
class Pose:
    """A body pose: joint angles in degrees, one tuple per joint in JOINTS order (the root's is
    empty); `name` says where it came from ("rest", "walk", "random:7", "custom", ...).

    Small and JSON-able on purpose: exports record it, and `--pose` (named, random seed, or a JSON
    of joint angles) parses to it with resolve_pose.
    """

    angles: tuple[tuple[float, ...], ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        if len(self.angles) != len(JOINTS):
            raise PoseError(f"a pose has {len(JOINTS)} joints, got {len(self.angles)}")
        for joint, values in zip(JOINTS, self.angles):
            if len(values) != len(joint.dofs):
                raise PoseError(f"joint {joint.name!r} ({joint.kind}) takes {len(joint.dofs)} angle(s) "
                                f"({', '.join(d.name for d in joint.dofs) or 'none'}), got {len(values)}")
            for dof, value in zip(joint.dofs, values):
                if not math.isfinite(value):
                    raise PoseError(f"{joint.name}.{dof.name}: angle must be finite, got {value}")
                if not dof.lo - LIMIT_SLACK_DEG <= value <= dof.hi + LIMIT_SLACK_DEG:
                    raise PoseError(f"{joint.name}.{dof.name} = {value:g} degrees is outside its limits "
                                    f"[{dof.lo:g}, {dof.hi:g}]")

    @classmethod
    def zero(cls, name: str = "rest") -> "Pose":
        return cls(tuple(tuple(0.0 for _ in j.dofs) for j in JOINTS), name)

    @classmethod
    def from_angles(cls, angles: Mapping[str, Any], name: str = "custom") -> "Pose":
        """From {joint: angle or [angles...]} in degrees; joints not named stay at 0. A joint may
        also be given per degree of freedom as {"shoulder_l": {"flex": 30, "abduct": 10}}."""
        if not isinstance(angles, Mapping):
            raise PoseError(f"joint angles must be a mapping joint -> degrees, got {type(angles).__name__}")
        unknown = sorted(set(angles) - set(JOINT_NAMES))
        if unknown:
            raise PoseError(f"unknown joint(s) {', '.join(map(repr, unknown))}; joints: {', '.join(JOINT_NAMES[1:])}")
        out = []
        for joint in JOINTS:
            value = angles.get(joint.name)
            if value is None:
                out.append(tuple(0.0 for _ in joint.dofs))
                continue
            if isinstance(value, Mapping):
                names = [d.name for d in joint.dofs]
                bad = sorted(set(value) - set(names))
                if bad:
                    raise PoseError(f"joint {joint.name!r} has no degree(s) of freedom {bad}; it has {names}")
                value = [value.get(n, 0.0) for n in names]
            elif isinstance(value, (int, float)):
                value = [value]
            try:
                out.append(tuple(float(v) for v in value))
            except (TypeError, ValueError) as exc:
                raise PoseError(f"joint {joint.name!r}: angles must be numbers, got {value!r}") from exc
        return cls(tuple(out), name)

    def to_dict(self) -> dict:
        """{"name": ..., "angles": {joint: {dof: degrees}}} (every joint with degrees of freedom)."""
        return {"name": self.name,
                "angles": {j.name: {d.name: float(v) for d, v in zip(j.dofs, vals)}
                           for j, vals in zip(JOINTS, self.angles) if j.dofs}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Pose":
        """Inverse of to_dict; a bare {joint: angles} mapping is accepted too."""
        if not isinstance(data, Mapping):
            raise PoseError(f"a pose must be a JSON object, got {type(data).__name__}")
        if "angles" in data:
            return cls.from_angles(data["angles"], str(data.get("name", "custom")))
        return cls.from_angles(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Pose":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PoseError(f"pose JSON does not parse: {exc}") from exc
        return cls.from_dict(data)

    @property
    def is_zero(self) -> bool:
        return all(v == 0.0 for vals in self.angles for v in vals)

    def angle(self, joint: str, dof: str) -> float:
        j = JOINTS[JOINT_INDEX[joint]]
        return self.angles[JOINT_INDEX[joint]][[d.name for d in j.dofs].index(dof)]


def _both(joint: str, **dofs: float) -> dict[str, dict[str, float]]:
    return {f"{joint}_l": dict(dofs), f"{joint}_r": dict(dofs)}


NAMED_POSES: dict[str, dict] = {
    "rest": {},
    "t": _both("shoulder", abduct=90.0),
    "walk": {"shoulder_l": {"flex": -25.0, "abduct": 4.0}, "shoulder_r": {"flex": 25.0, "abduct": 4.0},
             "elbow_l": 10.0, "elbow_r": 30.0,
             "hip_l": {"flex": 25.0}, "hip_r": {"flex": -15.0}, "knee_l": 10.0, "knee_r": 35.0,
             "ankle_l": 5.0, "ankle_r": -10.0},
    "sit": {**_both("hip", flex=90.0, abduct=6.0), **_both("knee", flex=90.0), **_both("shoulder", flex=20.0, abduct=8.0),
            **_both("elbow", flex=60.0)},
    "wave": {"shoulder_r": {"abduct": 100.0}, "elbow_r": 80.0, "wrist_r": 20.0, "shoulder_l": {"abduct": 5.0},
             "neck": {"turn": 20.0, "tilt": -10.0}},
}
POSE_NAMES = tuple(NAMED_POSES)


def named_pose(name: str) -> Pose:
    if name not in NAMED_POSES:
        raise PoseError(f"unknown pose {name!r}; named poses: {', '.join(POSE_NAMES)}")
    return Pose.from_angles(NAMED_POSES[name], name)


def resolve_pose(spec: "Pose | str | int | Mapping | None", sampler=None) -> Pose:
    """A Pose from what a user writes: None or "rest" (the zero pose), a named pose, an integer or
    "random:SEED" (sampler(seed) -> Pose: random poses need a figure to check self-intersections),
    a JSON text or a path to a .json file of joint angles, or a mapping {joint: angles}."""
    if spec is None:
        return Pose.zero()
    if isinstance(spec, Pose):
        return spec
    if isinstance(spec, Mapping):
        return Pose.from_dict(spec)
    if isinstance(spec, bool):
        raise PoseError(f"not a pose: {spec!r}")
    if isinstance(spec, int) or (isinstance(spec, str) and spec.startswith("random:")):
        text = str(spec).partition(":")[2] if isinstance(spec, str) else str(spec)
        try:
            seed = int(text)
        except ValueError as exc:
            raise PoseError(f"random pose seed must be an integer, got {text!r}") from exc
        if seed < 0:
            raise PoseError(f"random pose seed must be non-negative, got {seed}")
        if sampler is None:
            raise PoseError("a random pose needs a figure to sample it (self-intersections depend on its shape)")
        return sampler(seed)
    if not isinstance(spec, str):
        raise PoseError(f"not a pose: {spec!r}")
    text = spec.strip()
    if text.startswith("{"):
        return Pose.from_json(text)
    if text.endswith(".json"):
        path = Path(text)
        if not path.is_file():
            raise PoseError(f"pose file not found: {path}")
        return Pose.from_json(path.read_text())
    return named_pose(text)


# --- kinematics -------------------------------------------------------------------------------
def axis_angle_matrix(axis, degrees: float) -> Tensor:
    """[3,3] float64 right-handed rotation about a unit axis (Rodrigues)."""
    a = torch.tensor(axis, dtype=torch.float64)
    a = a / a.norm()
    t = math.radians(degrees)
    k = torch.tensor([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]], dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)


def local_rotation(joint: JointSpec, angles: tuple[float, ...]) -> Tensor:
    rot = torch.eye(3, dtype=torch.float64)
    for dof, value in zip(joint.dofs, angles):
        if value != 0.0:  # exact identity for zero angles: the zero pose maps points bit-exactly
            rot = rot @ axis_angle_matrix(dof.axis, value)
    return rot


@dataclass(frozen=True)
class BoneTransforms:
    """Posed rigid transforms of every joint's bone, float64.

    rotation [J,3,3] and position [J,3]: the joint's world rotation and posed position;
    inverse_rotation / inverse_offset: x_rest = x_posed @ inverse_rotation[j] + inverse_offset[j]
    (row vectors), the posed-to-canonical map of a part bound to joint j.
    """

    rotation: Tensor
    position: Tensor
    inverse_rotation: Tensor
    inverse_offset: Tensor

    def to_canonical(self, points: Tensor, joint: int) -> Tensor:
        """[P,3] posed points -> [P,3] rest-frame points of bone `joint` (in the points' dtype)."""
        return torch.addmm(self.inverse_offset[joint].to(points), points, self.inverse_rotation[joint].to(points))

    def to_posed(self, points: Tensor, joint: int) -> Tensor:
        """[P,3] rest-frame points of bone `joint` -> [P,3] posed points."""
        rot = self.inverse_rotation[joint].to(points)
        return (points - self.inverse_offset[joint].to(points)) @ rot.T


def forward_kinematics(rest_positions: Tensor, pose: Pose) -> BoneTransforms:
    """rest_positions [J,3] (world, rest pose; J = len(JOINTS)) and a pose -> BoneTransforms."""
    if rest_positions.shape != (len(JOINTS), 3):
        raise PoseError(f"rest positions must be [{len(JOINTS)},3], got {tuple(rest_positions.shape)}")
    rest = rest_positions.to(torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    rots, moves = [], []  # world rotation, and displacement posed - rest, of each joint
    for i, joint in enumerate(JOINTS):
        local = local_rotation(joint, pose.angles[i])
        p = PARENT_INDEX[i]
        if p < 0:
            rots.append(local)
            moves.append(torch.zeros(3, dtype=torch.float64))
        else:
            rots.append(rots[p] @ local)
            # tracked as a displacement so that an unrotated chain moves by exactly 0
            moves.append(moves[p] + (rots[p] - eye) @ (rest[i] - rest[p]))
    rotation, position = torch.stack(rots), rest + torch.stack(moves)
    # x_rest = R^T (x - pos) + rest, as row vectors: x @ R + (rest - pos @ R); zero pose: R = I and
    # pos = rest exactly, so the offset is exactly 0 and the map is the identity bit for bit.
    inv_off = rest - torch.einsum("jk,jkl->jl", position, rotation)
    return BoneTransforms(rotation, position, rotation, inv_off)
