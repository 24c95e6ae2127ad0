"""A posable subject's skeleton as a rigging tool wants it (the Blender add-on's armature): joints,
parents, rest positions, degrees of freedom with their limits, the subject's pose, and which bone
moves each rest-pose point.

Binding rule: a rest-pose point moves rigidly with the part that owns it in the rest pose (the
figure's nearest part). That is the articulated generator's own rule (its warp keeps a canonical
sample only where the rest pose's owner is the posed owner, ArticulatedConfig.consistent_ownership),
so a rest-pose mesh skinned by `bind` and moved by `pose_points` puts every vertex where the posed
field has that surface; only where two parts touch in the pose do they differ (the posed field
there belongs to whichever part is nearer).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DnerfError
from .posing import base_generator, is_posable
from .spec import describe
from .procedural.skeleton import JOINTS, PARENT_INDEX, Dof, Pose, forward_kinematics, resolve_pose


@dataclass(frozen=True)
class Skeleton:
    """One subject's skeleton (dnerf world coordinates, y up, float64).

    names [J] and parents [J] (-1 for the root), rest_positions [J,3], dofs [J] (a joint's degrees
    of freedom in the order its rotation multiplies them: R = R(dof_0) @ R(dof_1) @ ..., axes in the
    rest frame, limits in degrees), pose: the subject's body pose. `figure` is the seed's rest
    figure (its parts and their bones), kept for binding points.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_positions: np.ndarray
    dofs: tuple[tuple[Dof, ...], ...]
    pose: Pose
    figure: object

    def bind(self, rest_points: np.ndarray) -> np.ndarray:
        """[P,3] rest-pose points -> [P] int64 index of the joint whose bone moves each one."""
        pts = torch.as_tensor(np.asarray(rest_points, np.float64).reshape(-1, 3))
        part = self.figure.rest.nearest_part(pts).numpy()
        part_joint = np.array([p.joint for p in self.figure.parts], np.int64)
        return part_joint[part]

    def pose_points(self, rest_points: np.ndarray, joints: np.ndarray, pose=None) -> np.ndarray:
        """[P,3] rest-pose points bound to joints [P] -> [P,3] float64 points in `pose` (a Pose or
        any spec resolve_pose takes; None: the subject's own pose): each point moved rigidly by its
        joint's bone (forward kinematics), the answer key for a rig built from this skeleton."""
        pose = self.pose if pose is None else self.resolve(pose)
        tf = forward_kinematics(torch.from_numpy(self.rest_positions), pose)
        pts = torch.as_tensor(np.asarray(rest_points, np.float64).reshape(-1, 3))
        joints = torch.as_tensor(np.asarray(joints, np.int64).reshape(-1))
        if len(joints) != len(pts):
            raise DnerfError(f"{len(pts)} points but {len(joints)} joint indices")
        out = pts.clone()
        for j in torch.unique(joints).tolist():
            sel = joints == j
            out[sel] = tf.to_posed(pts[sel], j)
        return out.numpy()

    def resolve(self, pose) -> Pose:
        """A pose spec for this subject (random poses are drawn for its own figure)."""
        from .procedural.figure import random_pose

        return resolve_pose(pose, sampler=lambda seed: random_pose(self.figure, seed))


def subject_skeleton(generator, subject) -> Skeleton:
    """The skeleton of a one-subject batch of a posable generator (procedural:figure,
    default:figure, or a labeled generator on one); DnerfError for a rigid generator."""
    if not is_posable(generator):
        raise DnerfError(f"{describe(generator)} is a rigid generator: only articulated subjects have a skeleton")
    posed = subject.params[0]
    figure = posed.figure
    return Skeleton(names=tuple(j.name for j in JOINTS), parents=tuple(PARENT_INDEX),
                    rest_positions=figure.rest_positions.double().numpy().copy(),
                    dofs=tuple(j.dofs for j in JOINTS), pose=base_generator(generator).poses(subject)[0],
                    figure=figure)
