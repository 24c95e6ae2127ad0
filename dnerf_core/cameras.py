"""Batched cameras, pose samplers and rays.

Conventions (each pinned by a test):
- world is y-up; cameras are OpenCV (x right, y down, z forward); poses are 4x4 cam2world;
- intrinsics are normalized by image size (fx = focal_px / width, cx = 0.5 for a centered camera);
- EG3D's 25-number label is the 16 cam2world values (row-major) then the 9 intrinsics;
- exports convert to OpenGL (x right, y up, z backward) through OPENCV_TO_OPENGL only.
- Orbit angles: yaw 0 looks at the subject's front (camera on +z), positive yaw moves the camera
  towards +x; pitch 0 is level, positive pitch moves the camera up (it looks down).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import DnerfError

# Right-multiplying an OpenCV cam2world by this flips the camera's y and z axes: OpenGL cam2world.
OPENCV_TO_OPENGL = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))
WORLD_UP = (0.0, 1.0, 0.0)
# EG3D converts a field of view to a normalized focal length with an extra sqrt(2) factor
# (its "fov" is measured across the image diagonal of a square image): 18.837 deg -> 4.2647.
EG3D_FOV_DIAGONAL_FACTOR = 1.414
EG3D_LABEL_SIZE = 25


@dataclass(frozen=True)
class Cameras:
    """A batch of B pinhole cameras.

    cam2world:  [B,4,4] OpenCV camera-to-world transforms.
    intrinsics: [B,3,3] intrinsics normalized by image size (pixel units / width or height).
    """

    cam2world: Tensor
    intrinsics: Tensor

    def __post_init__(self) -> None:
        c2w, k = self.cam2world, self.intrinsics
        if c2w.ndim != 3 or tuple(c2w.shape[1:]) != (4, 4):
            raise DnerfError(f"cam2world must be [B,4,4], got {tuple(c2w.shape)}")
        if k.ndim != 3 or tuple(k.shape[1:]) != (3, 3) or k.shape[0] != c2w.shape[0]:
            raise DnerfError(f"intrinsics must be [B,3,3] with B={c2w.shape[0]}, got {tuple(k.shape)}")

    def __len__(self) -> int:
        return self.cam2world.shape[0]

    def __getitem__(self, index) -> "Cameras":
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Cameras(self.cam2world[index], self.intrinsics[index])

    def to(self, device=None, dtype=None) -> "Cameras":
        return Cameras(self.cam2world.to(device=device, dtype=dtype), self.intrinsics.to(device=device, dtype=dtype))

    @staticmethod
    def cat(cams: list["Cameras"]) -> "Cameras":
        return Cameras(torch.cat([c.cam2world for c in cams]), torch.cat([c.intrinsics for c in cams]))

    @property
    def positions(self) -> Tensor:
        """[B,3] camera centers in world space."""
        return self.cam2world[:, :3, 3]

    @property
    def forward(self) -> Tensor:
        """[B,3] viewing directions (the camera's +z axis) in world space."""
        return self.cam2world[:, :3, 2]

    def world2cam(self) -> Tensor:
        """[B,4,4] inverse of cam2world (rigid inverse, exact for rotations)."""
        rot = self.cam2world[:, :3, :3]
        trans = self.cam2world[:, :3, 3:]
        out = torch.zeros_like(self.cam2world)
        out[:, :3, :3] = rot.transpose(1, 2)
        out[:, :3, 3:] = -rot.transpose(1, 2) @ trans
        out[:, 3, 3] = 1
        return out

    # --- EG3D 25-number label -------------------------------------------------------------
    def to_eg3d_label(self) -> Tensor:
        """[B,25]: cam2world row-major (16) then normalized intrinsics row-major (9)."""
        b = len(self)
        return torch.cat([self.cam2world.reshape(b, 16), self.intrinsics.reshape(b, 9)], dim=1)

    @classmethod
    def from_eg3d_label(cls, label: Tensor) -> "Cameras":
        if label.ndim == 1:
            label = label[None]
        if label.ndim != 2 or label.shape[1] != EG3D_LABEL_SIZE:
            raise DnerfError(f"an EG3D camera label has {EG3D_LABEL_SIZE} numbers, got shape {tuple(label.shape)}")
        b = label.shape[0]
        return cls(label[:, :16].reshape(b, 4, 4), label[:, 16:].reshape(b, 3, 3))

    # --- OpenGL (exports, Blender, nerfstudio) ---------------------------------------------
    def cam2world_opengl(self) -> Tensor:
        """[B,4,4] OpenGL cam2world (camera looks down its -z, y up)."""
        return self.cam2world @ OPENCV_TO_OPENGL.to(self.cam2world)

    @classmethod
    def from_opengl(cls, cam2world_gl: Tensor, intrinsics: Tensor) -> "Cameras":
        # The flip is its own inverse.
        return cls(cam2world_gl @ OPENCV_TO_OPENGL.to(cam2world_gl), intrinsics)

    def pixel_intrinsics(self, width: int, height: int) -> Tensor:
        """[B,3,3] intrinsics in pixels for an image of the given size."""
        scale = torch.tensor([[width], [height], [1.0]], dtype=self.intrinsics.dtype, device=self.intrinsics.device)
        k = self.intrinsics * scale
        k[:, 2] = torch.tensor([0.0, 0.0, 1.0], dtype=k.dtype, device=k.device)
        return k

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Project world points [B,P,3] -> (uv [B,P,2] normalized to [0,1] image coords, z [B,P])."""
        w2c = self.world2cam().to(points)
        cam = points @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]
        z = cam[..., 2]
        k = self.intrinsics.to(points)
        u = k[:, None, 0, 0] * cam[..., 0] / z + k[:, None, 0, 1] * cam[..., 1] / z + k[:, None, 0, 2]
        v = k[:, None, 1, 1] * cam[..., 1] / z + k[:, None, 1, 2]
        return torch.stack([u, v], dim=-1), z


@dataclass(frozen=True)
class Rays:
    """origins, directions: [B,R,3] with R = H*W in row-major pixel order; directions unit length."""

    origins: Tensor
    directions: Tensor


def ray_bundle(cameras: Cameras, resolution: int | tuple[int, int]) -> Rays:
    """One ray per pixel center ((i + 0.5) / res) through the normalized intrinsics."""
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    c2w, k = cameras.cam2world, cameras.intrinsics
    dtype, device = c2w.dtype, c2w.device
    v, u = torch.meshgrid((torch.arange(h, dtype=dtype, device=device) + 0.5) / h,
                          (torch.arange(w, dtype=dtype, device=device) + 0.5) / w, indexing="ij")
    u, v = u.reshape(1, -1), v.reshape(1, -1)
    fx, fy = k[:, 0, 0:1], k[:, 1, 1:2]
    cx, cy, skew = k[:, 0, 2:3], k[:, 1, 2:3], k[:, 0, 1:2]
    y_cam = (v - cy) / fy
    x_cam = (u - cx - skew * y_cam) / fx
    dirs_cam = torch.stack([x_cam, y_cam, torch.ones_like(x_cam)], dim=-1)  # [B,R,3]
    dirs = dirs_cam @ c2w[:, :3, :3].transpose(1, 2)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    origins = c2w[:, None, :3, 3].expand_as(dirs)
    return Rays(origins, dirs)


# --- intrinsics -------------------------------------------------------------------------------
def focal_from_fov(fov_degrees: float) -> float:
    """EG3D's normalized focal length for a field of view (its diagonal convention)."""
    return 1.0 / (math.tan(math.radians(fov_degrees) / 2) * EG3D_FOV_DIAGONAL_FACTOR)


def intrinsics_matrix(focal: float, batch: int = 1, dtype=torch.float32) -> Tensor:
    """[B,3,3] normalized intrinsics of a centered square pinhole camera."""
    k = torch.tensor([[focal, 0.0, 0.5], [0.0, focal, 0.5], [0.0, 0.0, 1.0]], dtype=dtype)
    return k.expand(batch, 3, 3).clone()


# --- poses --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrbitSpec:
    """A generator's camera distribution: cameras on a sphere around a pivot, looking at it.

    radius: distance from the pivot; pivot: the point looked at (world units);
    focal: normalized focal length; yaw_range / pitch_range: radians, the training range.
    """

    radius: float
    pivot: tuple[float, float, float]
    focal: float
    yaw_range: tuple[float, float]
    pitch_range: tuple[float, float]


def look_at(positions: Tensor, targets: Tensor, up=WORLD_UP) -> Tensor:
    """[B,4,4] OpenCV cam2world for cameras at positions [B,3] looking at targets [B,3]."""
    forward = targets - positions
    forward = forward / forward.norm(dim=-1, keepdim=True)
    up_t = torch.tensor(up, dtype=positions.dtype, device=positions.device).expand_as(forward)
    right = torch.linalg.cross(forward, up_t, dim=-1)
    right = right / right.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    down = torch.linalg.cross(forward, right, dim=-1)
    c2w = torch.eye(4, dtype=positions.dtype, device=positions.device).repeat(len(positions), 1, 1)
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2], c2w[:, :3, 3] = right, down, forward, positions
    return c2w


def orbit_positions(yaw: Tensor, pitch: Tensor, radius: float, pivot) -> Tensor:
    """[B,3] positions on the orbit sphere for yaw/pitch [B] (radians)."""
    pivot_t = torch.as_tensor(pivot, dtype=yaw.dtype, device=yaw.device)
    offset = torch.stack([torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)], -1)
    return pivot_t + offset * radius


def orbit_cameras(yaw, pitch, spec: OrbitSpec, radius: float | None = None, dtype=torch.float32) -> Cameras:
    """Look-at cameras at the given yaw/pitch (scalars or [B] radians) on the spec's orbit."""
    yaw_t = torch.atleast_1d(torch.as_tensor(yaw, dtype=torch.float64))
    pitch_t = torch.atleast_1d(torch.as_tensor(pitch, dtype=torch.float64))
    yaw_t, pitch_t = torch.broadcast_tensors(yaw_t, pitch_t)
    if not (torch.isfinite(yaw_t).all() and torch.isfinite(pitch_t).all()):
        raise DnerfError("yaw and pitch must be finite numbers")
    if (pitch_t.abs() >= math.pi / 2).any():
        raise DnerfError("pitch must lie strictly between -90 and 90 degrees")
    pos = orbit_positions(yaw_t, pitch_t, radius if radius is not None else spec.radius, spec.pivot)
    pivot = torch.tensor(spec.pivot, dtype=torch.float64).expand_as(pos)
    c2w = look_at(pos, pivot)
    return Cameras(c2w.to(dtype), intrinsics_matrix(spec.focal, len(pos), dtype))


def random_orbit_cameras(n: int, spec: OrbitSpec, generator: torch.Generator, dtype=torch.float32) -> Cameras:
    """n cameras with yaw and pitch uniform in the spec's ranges (repeatable from the generator)."""
    if n < 1:
        raise DnerfError(f"need at least one camera, got {n}")
    r = torch.rand(2, n, generator=generator, dtype=torch.float64)
    yaw = spec.yaw_range[0] + r[0] * (spec.yaw_range[1] - spec.yaw_range[0])
    pitch = spec.pitch_range[0] + r[1] * (spec.pitch_range[1] - spec.pitch_range[0])
    return orbit_cameras(yaw, pitch, spec, dtype=dtype)


def video_orbit_cameras(n_frames: int, spec: OrbitSpec, dtype=torch.float32) -> Cameras:
    """An n-frame orbit sweeping the full yaw range and back while pitch traces one cosine period.

    For a spec whose yaw range covers the full circle the sweep goes once around instead.
    """
    if n_frames < 1:
        raise DnerfError(f"need at least one frame, got {n_frames}")
    t = torch.arange(n_frames, dtype=torch.float64) / n_frames
    y0, y1 = spec.yaw_range
    p0, p1 = spec.pitch_range
    if y1 - y0 >= 2 * math.pi - 1e-6:
        yaw = y0 + t * 2 * math.pi
    else:
        yaw = (y0 + y1) / 2 + (y1 - y0) / 2 * torch.sin(2 * math.pi * t)
    pitch = (p0 + p1) / 2 + (p1 - p0) / 2 * torch.cos(2 * math.pi * t) * 0.5
    return orbit_cameras(yaw, pitch, spec, dtype=dtype)


def spread_orbit_cameras(n: int, spec: OrbitSpec, dtype=torch.float32) -> Cameras:
    """n deterministic views spread over the spec's range (evenly in yaw, alternating pitch)."""
    if n < 1:
        raise DnerfError(f"need at least one view, got {n}")
    y0, y1 = spec.yaw_range
    full = y1 - y0 >= 2 * math.pi - 1e-6
    idx = torch.arange(n, dtype=torch.float64)
    yaw = y0 + (y1 - y0) * (idx / n if full else (idx + 0.5) / n)
    p0, p1 = spec.pitch_range
    frac = torch.where(idx % 2 == 0, torch.full_like(idx, 0.3), torch.full_like(idx, 0.7))
    pitch = p0 + (p1 - p0) * frac
    return orbit_cameras(yaw, pitch, spec, dtype=dtype)
