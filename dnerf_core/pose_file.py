"""Pose files: the cameras `--poses FILE` renders (dnerf-export, annotate-kit, the Blender rig).

Two forms, told apart by the JSON's top level:

1. An object with a "frames" list: a transforms.json (nerfstudio / instant-ngp schema). Each
   frame's `transform_matrix` is an OpenGL cam2world 4x4 (the camera looks down its -z, y up)
   in dnerf's world (y-up, the generator's own units). Intrinsics are `fl_x fl_y cx cy` in
   pixels with the image size `w h`, at the top level or per frame (per-frame values win, as in
   nerfstudio), or instant-ngp's `camera_angle_x` / `camera_angle_y` (radians). `file_path` and
   the other frame keys are not needed (a pose list names no images). The transforms.json that
   `dnerf-export --masks` writes is such a file: passed back as `--poses`, it reproduces that
   export's frames exactly (same cameras to the bit, same image size).
2. A list of `[yaw, pitch]` or `[yaw, pitch, radius]` triples: look-at cameras on the
   generator's orbit (`cameras.orbit_cameras`), with the generator's focal length. Angles are in
   RADIANS, the convention of `cameras.py`: yaw 0 puts the camera in front of the subject (on
   +z of the orbit pivot) and positive yaw moves it towards +x; pitch 0 is level and positive
   pitch moves the camera up (it looks down); |pitch| < pi/2. `radius` is the distance from the
   pivot in world units; omitted or null means the generator's orbit radius.

dnerf renders square views: every frame of a transforms.json must have one size with w == h;
that size is the render size unless the caller asks for another (normalized intrinsics keep
the same field of view at any size). Anything else is refused with one DnerfError naming the
file and the frame.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .cameras import Cameras, OrbitSpec, orbit_cameras
from .errors import DnerfError

READABLE_CAMERA_MODELS = ("OPENCV", "PINHOLE")
DISTORTION_KEYS = ("k1", "k2", "p1", "p2")
EXTRA_DISTORTION_KEYS = ("k3", "k4")  # other writers' keys we accept when zero
# A transform_matrix whose 3x3 part is this far from a rotation (max |R^T R - I|, or det <= 0)
# is refused: a scaled or mirrored "camera" renders a distorted or inside-out view without error.
ROTATION_TOLERANCE = 1e-4
KIND_TRANSFORMS = "transforms"
KIND_ORBIT = "orbit"


def _number(path: Path, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DnerfError(f"{path}: {where} must be a finite number, got {value!r}")
    return float(value)


def frame_intrinsics(path: Path, top: dict, frame: dict, index: int, w: int, h: int) -> list[list[float]]:
    """One frame's normalized [3,3] intrinsics (float64 values) from transforms.json keys."""
    where = f"frame {index}"
    get = lambda key: frame.get(key, top.get(key))  # noqa: E731 - per-frame values override the top level
    if get("fl_x") is not None:
        fl_x = _number(path, f"{where} fl_x", get("fl_x"))
    elif get("camera_angle_x") is not None:  # instant-ngp's older field-of-view form
        fl_x = 0.5 * w / math.tan(0.5 * _number(path, f"{where} camera_angle_x", get("camera_angle_x")))
    else:
        raise DnerfError(f"{path}: {where} has no focal length (fl_x or camera_angle_x)")
    if get("fl_y") is not None:
        fl_y = _number(path, f"{where} fl_y", get("fl_y"))
    elif get("camera_angle_y") is not None:
        fl_y = 0.5 * h / math.tan(0.5 * _number(path, f"{where} camera_angle_y", get("camera_angle_y")))
    else:
        fl_y = fl_x
    if not (fl_x > 0 and fl_y > 0):
        raise DnerfError(f"{path}: {where} focal lengths must be positive, got fl_x={fl_x}, fl_y={fl_y}")
    cx = _number(path, f"{where} cx", get("cx")) if get("cx") is not None else w / 2
    cy = _number(path, f"{where} cy", get("cy")) if get("cy") is not None else h / 2
    for key in DISTORTION_KEYS + EXTRA_DISTORTION_KEYS:
        if get(key) not in (None, 0, 0.0):
            raise DnerfError(f"{path}: {where} has lens distortion ({key}={get(key)}), which dnerf cameras "
                             "cannot represent; undistort the images first")
    return [[fl_x / w, 0.0, cx / w], [0.0, fl_y / h, cy / h], [0.0, 0.0, 1.0]]


@dataclass(frozen=True)
class TransformsCameras:
    """The cameras of a transforms.json: OpenCV cam2world, normalized intrinsics (float64), image size."""

    cameras: Cameras
    width: int
    height: int


def load_json(path: str | Path, what: str) -> object:
    """A JSON file's content, with one clear error for a missing, unreadable or invalid file."""
    path = Path(path)
    if not path.is_file():
        raise DnerfError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DnerfError(f"{path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise DnerfError(f"cannot read {path}: {exc.strerror or exc}") from None


def _matrix(path: Path, frame: dict, index: int) -> Tensor:
    m = frame.get("transform_matrix")
    try:
        t = torch.tensor(m, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        t = None
    if t is None or tuple(t.shape) != (4, 4) or not torch.isfinite(t).all():
        raise DnerfError(f"{path}: frame {index} transform_matrix must be a finite 4x4 matrix")
    return t


def transforms_cameras(top, path: Path, require_rotation: bool = False) -> TransformsCameras:
    """Cameras of a parsed transforms.json `top` (read from `path`, named in errors).

    require_rotation: also refuse matrices that are not a rotation plus a translation (pose
    files; readers of other tools' folders stay lenient).
    """
    if not isinstance(top, dict) or not isinstance(top.get("frames"), list) or not top["frames"]:
        raise DnerfError(f"{path} is not a transforms.json: it needs a non-empty 'frames' list")
    model = top.get("camera_model", "OPENCV")
    if model not in READABLE_CAMERA_MODELS:
        raise DnerfError(f"{path}: camera_model {model!r} is not supported (only {', '.join(READABLE_CAMERA_MODELS)})")
    sizes = set()
    for i, frame in enumerate(top["frames"]):
        if not isinstance(frame, dict):
            raise DnerfError(f"{path}: frame {i} is not an object")
        w, h = frame.get("w", top.get("w")), frame.get("h", top.get("h"))
        if not (isinstance(w, int) and isinstance(h, int) and not isinstance(w, bool) and not isinstance(h, bool)
                and w > 0 and h > 0):
            raise DnerfError(f"{path}: frame {i} has no valid image size (w, h), got {w!r} x {h!r}")
        sizes.add((w, h))
    if len(sizes) > 1:
        raise DnerfError(f"{path}: frames have different image sizes {sorted(sizes)}; dnerf needs one size")
    (width, height), = sizes
    mats, ks = [], []
    for i, frame in enumerate(top["frames"]):
        t = _matrix(path, frame, i)
        if require_rotation:
            rot = t[:3, :3]
            off = (rot.T @ rot - torch.eye(3, dtype=torch.float64)).abs().max().item()
            if off > ROTATION_TOLERANCE or torch.linalg.det(rot).item() <= 0:
                raise DnerfError(f"{path}: frame {i} transform_matrix is not a camera pose (its 3x3 part must be "
                                 f"a rotation: orthonormal, determinant +1)")
            if (t[3] - torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)).abs().max().item() > 1e-9:
                raise DnerfError(f"{path}: frame {i} transform_matrix must end with the row [0, 0, 0, 1]")
        mats.append(t)
        ks.append(frame_intrinsics(path, top, frame, i, width, height))
    cameras = Cameras.from_opengl(torch.stack(mats), torch.tensor(ks, dtype=torch.float64))
    return TransformsCameras(cameras, width, height)


@dataclass(frozen=True)
class PoseFile:
    """A validated pose file (see the module docstring).

    kind: "transforms" (cameras set) or "orbit" (angles set). cameras: OpenCV float64 cameras
    of a transforms file. angles: [N,3] float64 yaw, pitch (radians), radius (NaN: the
    generator's orbit radius) of a triple list. resolution: the square image size a
    transforms file names (None for triples).
    """

    path: Path
    kind: str
    cameras_gl: TransformsCameras | None = None
    angles: Tensor | None = None

    def __len__(self) -> int:
        return len(self.cameras_gl.cameras) if self.kind == KIND_TRANSFORMS else len(self.angles)

    @property
    def needs_orbit(self) -> bool:
        """Angles on an orbit: cameras() needs the generator's orbit (a transforms file does not)."""
        return self.kind == KIND_ORBIT

    @property
    def resolution(self) -> int | None:
        return self.cameras_gl.width if self.kind == KIND_TRANSFORMS else None

    def cameras(self, orbit: OrbitSpec, dtype: torch.dtype = torch.float32) -> Cameras:
        """The file's cameras (OpenCV, normalized intrinsics); `orbit` places the triples."""
        if self.kind == KIND_TRANSFORMS:
            return self.cameras_gl.cameras.to(dtype=dtype)
        yaw, pitch, radius = self.angles.unbind(1)
        default = torch.isnan(radius)
        parts, order = [], []
        # orbit_cameras takes one radius per call: one call per distinct radius, then back in order.
        for r in sorted(set(radius[~default].tolist())) + ([None] if default.any() else []):
            sel = default if r is None else (radius == r) & ~default
            idx = torch.nonzero(sel)[:, 0]
            parts.append(orbit_cameras(yaw[idx], pitch[idx], orbit, radius=r, dtype=dtype))
            order.append(idx)
        cams = Cameras.cat(parts)
        inverse = torch.empty(len(self), dtype=torch.long)
        inverse[torch.cat(order)] = torch.arange(len(self))
        return cams[inverse] if len(parts) > 1 else cams


def _orbit_triples(data: list, path: Path) -> Tensor:
    rows = []
    for i, entry in enumerate(data):
        if not isinstance(entry, (list, tuple)) or len(entry) not in (2, 3):
            raise DnerfError(f"{path}: pose {i} must be [yaw, pitch] or [yaw, pitch, radius] in radians, got {entry!r}")
        yaw = _number(path, f"pose {i} yaw", entry[0])
        pitch = _number(path, f"pose {i} pitch", entry[1])
        if not abs(pitch) < math.pi / 2:
            raise DnerfError(f"{path}: pose {i} pitch must lie strictly between -pi/2 and pi/2 radians, got {pitch} "
                             "(angles are radians, not degrees)")
        radius = math.nan
        if len(entry) == 3 and entry[2] is not None:
            radius = _number(path, f"pose {i} radius", entry[2])
            if not radius > 0:
                raise DnerfError(f"{path}: pose {i} radius must be positive, got {radius}")
        rows.append([yaw, pitch, radius])
    return torch.tensor(rows, dtype=torch.float64)


def read_pose_file(path: str | Path) -> PoseFile:
    """Read and validate a pose file (either form); one DnerfError naming the file on any problem."""
    path = Path(path)
    data = load_json(path, "poses file")
    if isinstance(data, dict):
        tc = transforms_cameras(data, path, require_rotation=True)
        if tc.width != tc.height:
            raise DnerfError(f"{path}: frames are {tc.width}x{tc.height} pixels; dnerf renders square views "
                             "(w == h) only")
        return PoseFile(path, KIND_TRANSFORMS, cameras_gl=tc)
    if isinstance(data, list):
        if not data:
            raise DnerfError(f"{path}: the pose list is empty")
        return PoseFile(path, KIND_ORBIT, angles=_orbit_triples(data, path))
    raise DnerfError(f"{path} is not a poses file: expected a transforms.json object with 'frames' or a list of "
                     "[yaw, pitch, radius] triples (radians)")


@dataclass(frozen=True)
class OrbitAngles:
    """Where cameras sit on an orbit: yaw, pitch (radians) and distance from the pivot, each [B]."""

    yaw: Tensor
    pitch: Tensor
    radius: Tensor


def orbit_angles(cameras: Cameras, orbit: OrbitSpec) -> OrbitAngles:
    """The yaw/pitch/radius of each camera's position around the orbit pivot (inverse of
    cameras.orbit_positions; a camera need not look at the pivot)."""
    offset = cameras.positions.double() - torch.tensor(orbit.pivot, dtype=torch.float64)
    radius = offset.norm(dim=-1)
    pitch = torch.asin((offset[:, 1] / radius.clamp_min(1e-12)).clamp(-1, 1))
    yaw = torch.atan2(offset[:, 0], offset[:, 2])
    return OrbitAngles(yaw, pitch, radius)
