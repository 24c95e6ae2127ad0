"""Camera poses as optimizable parameters: yaw / pitch (and optionally the orbit radius) of a
look-at camera on the generator's orbit, differentiable all the way to the rays."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..cameras import Cameras, OrbitSpec, intrinsics_matrix, look_at, orbit_positions

# Keeps the look-at frame defined: at +-90 degrees of pitch the camera's up vector degenerates.
MAX_ABS_PITCH = math.radians(85.0)
# Coarse pose search: yaw candidates per full turn of the orbit (spread over the range otherwise).
SEARCH_YAWS_FULL_ORBIT = 12
SEARCH_YAWS_PARTIAL = 7


@dataclass(frozen=True)
class Pose:
    """An orbit camera: yaw / pitch in radians, radius in world units (from the pivot)."""

    yaw: float
    pitch: float
    radius: float

    @property
    def degrees(self) -> tuple[float, float]:
        return math.degrees(self.yaw), math.degrees(self.pitch)

    def cameras(self, orbit: OrbitSpec) -> Cameras:
        return pose_cameras(torch.tensor([self.yaw]), torch.tensor([self.pitch]), torch.tensor([self.radius]), orbit)


def pose_cameras(yaw: Tensor, pitch: Tensor, radius: Tensor, orbit: OrbitSpec) -> Cameras:
    """[B] yaw, pitch, radius tensors (may require grad) -> look-at Cameras on the orbit's pivot."""
    pitch = pitch.clamp(-MAX_ABS_PITCH, MAX_ABS_PITCH)
    pos = orbit_positions(yaw, pitch, 1.0, orbit.pivot)
    pivot = torch.tensor(orbit.pivot, dtype=yaw.dtype).expand_as(pos)
    pos = pivot + (pos - pivot) * radius[:, None]
    return Cameras(look_at(pos, pivot), intrinsics_matrix(orbit.focal, len(yaw), yaw.dtype))


def is_full_orbit(orbit: OrbitSpec) -> bool:
    return orbit.yaw_range[1] - orbit.yaw_range[0] >= 2 * math.pi - 1e-6


def search_poses(orbit: OrbitSpec) -> list[Pose]:
    """Yaw candidates spread over the orbit's range at its middle pitch and radius."""
    y0, y1 = orbit.yaw_range
    pitch = (orbit.pitch_range[0] + orbit.pitch_range[1]) / 2
    if is_full_orbit(orbit):
        yaws = [y0 + 2 * math.pi * k / SEARCH_YAWS_FULL_ORBIT for k in range(SEARCH_YAWS_FULL_ORBIT)]
    else:
        yaws = [y0 + (y1 - y0) * k / (SEARCH_YAWS_PARTIAL - 1) for k in range(SEARCH_YAWS_PARTIAL)]
    return [Pose(y, pitch, orbit.radius) for y in yaws]


# Pose starts must differ by this share of the orbit's yaw range (60 degrees on a full orbit), so
# the refined starts are different hypotheses (a car seen from the front or the back), not
# neighbors of the same one.
START_SEPARATION_FRACTION = 1 / 6


def distinct_starts(ranked: list[Pose], n: int, orbit: OrbitSpec) -> list[Pose]:
    """The first n of the ranked poses that are mutually START_SEPARATION_FRACTION of the yaw
    range apart (fewer when the range holds fewer)."""
    span = 2 * math.pi if is_full_orbit(orbit) else orbit.yaw_range[1] - orbit.yaw_range[0]
    min_gap = math.degrees(span * START_SEPARATION_FRACTION) - 1e-6
    picked: list[Pose] = []
    for pose in ranked:
        if len(picked) == n:
            break
        if all(yaw_error_degrees(pose.yaw, p.yaw) >= min_gap for p in picked):
            picked.append(pose)
    return picked


def wrap_angle(a: float) -> float:
    """Angle in (-pi, pi]."""
    return math.atan2(math.sin(a), math.cos(a))


def yaw_error_degrees(a: float, b: float) -> float:
    return abs(math.degrees(wrap_angle(a - b)))
