"""transforms.json in the nerfstudio / instant-ngp schema (what NeRF and 3DGS trainers read).

Top level: camera_model "OPENCV", fl_x fl_y cx cy (pixels), w h, k1 k2 p1 p2 = 0,
depth_unit_scale_factor (when frames have depth), optional ply_file_path, then frames with
file_path, mask_path, depth_file_path (relative to the JSON's folder, '/'-separated) and
transform_matrix: the OpenGL cam2world 4x4 (camera looks down -z, y up), converted from our
OpenCV cameras by Cameras.cam2world_opengl(). Frames get their own fl_x fl_y cx cy only when
the intrinsics differ between frames (nerfstudio lets per-frame values override the top level).

Notes for users:
- depth PNGs hold camera z-depth (nerfstudio's convention), not the distance along the ray;
  depth in world units = PNG value * depth_unit_scale_factor, and 0 means "no depth".
- mask_path points at the part-label palette PNG (index = label id). nerfstudio reads any mask
  as binary (0 = ignore the pixel), so with these masks it trains on the labeled parts only and
  ignores the background (id 0).
- Pixel coordinates follow nerfstudio: pixel (i, j) has its center at (i + 0.5, j + 0.5), so
  u_px = fl_x * x / z + cx for a camera-space point (OpenCV axes), exactly Cameras.project * w.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch

from ...cameras import Cameras
from ...errors import DnerfError
from ...io.atomic import atomic_write_text

CAMERA_MODEL = "OPENCV"
READABLE_CAMERA_MODELS = ("OPENCV", "PINHOLE")
DISTORTION_KEYS = ("k1", "k2", "p1", "p2")
EXTRA_DISTORTION_KEYS = ("k3", "k4")  # other writers' keys we accept when zero
INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy")
SKEW_TOLERANCE = 1e-9  # the schema has no skew: refuse cameras that have one


@dataclass(frozen=True)
class FrameFiles:
    """One frame's files, relative to the transforms.json folder (None: not written)."""

    file_path: str
    mask_path: str | None = None
    depth_file_path: str | None = None


def _relative(json_path: Path, p: str | Path | None, what: str) -> str | None:
    if p is None:
        return None
    p = Path(p)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(json_path.parent.resolve())
        except ValueError:
            raise DnerfError(f"cannot write {json_path}: {what} {p} is not inside {json_path.parent}; "
                             "frame paths must be relative to the transforms.json folder") from None
    return PurePosixPath(*p.parts).as_posix()


def _pixel_intrinsics(k: torch.Tensor, width: int, height: int) -> dict:
    """Normalized [3,3] intrinsics -> fl_x, fl_y, cx, cy in pixels (float64, exact for float32 input)."""
    k = k.double()
    return {"fl_x": float(k[0, 0]) * width, "fl_y": float(k[1, 1]) * height,
            "cx": float(k[0, 2]) * width, "cy": float(k[1, 2]) * height}


def transforms_dict(cameras: Cameras, width: int, height: int, frames: list[FrameFiles],
                    depth_scale: float | None = None, extra: dict | None = None,
                    ply_file_path: str | None = None, json_path: Path = Path("transforms.json")) -> dict:
    """The transforms.json content as a dict (see the module docstring)."""
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise DnerfError(f"cannot write {json_path}: image size must be positive integers, got {width}x{height}")
    if len(frames) != len(cameras):
        raise DnerfError(f"cannot write {json_path}: {len(frames)} frames for {len(cameras)} cameras")
    if len(cameras) == 0:
        raise DnerfError(f"cannot write {json_path}: no cameras")
    k = cameras.intrinsics.detach().cpu().double()  # [B,3,3] normalized
    if (k[:, 0, 1].abs() > SKEW_TOLERANCE).any():
        raise DnerfError(f"cannot write {json_path}: the cameras have skew, which transforms.json cannot hold")
    c2w_gl = cameras.cam2world_opengl().detach().cpu().double()  # [B,4,4] OpenGL cam2world
    if not (torch.isfinite(c2w_gl).all() and torch.isfinite(k).all()):
        raise DnerfError(f"cannot write {json_path}: cameras have non-finite values")
    has_depth = any(f.depth_file_path is not None for f in frames)
    if has_depth and depth_scale is None:
        raise DnerfError(f"cannot write {json_path}: frames have depth files, so depth_scale is required")
    out: dict = {"camera_model": CAMERA_MODEL, **_pixel_intrinsics(k[0], width, height), "w": width, "h": height}
    out.update({key: 0.0 for key in DISTORTION_KEYS})
    if has_depth:
        out["depth_unit_scale_factor"] = float(depth_scale)
    if ply_file_path is not None:
        out["ply_file_path"] = _relative(json_path, ply_file_path, "ply_file_path")
    for key, value in (extra or {}).items():
        if key in out or key == "frames":
            raise DnerfError(f"cannot write {json_path}: extra key {key!r} would overwrite a standard field")
        out[key] = value
    per_frame = not bool((k == k[0]).all())
    out["frames"] = []
    for i, files in enumerate(frames):
        frame: dict = {"file_path": _relative(json_path, files.file_path, "file_path")}
        if files.mask_path is not None:
            frame["mask_path"] = _relative(json_path, files.mask_path, "mask_path")
        if files.depth_file_path is not None:
            frame["depth_file_path"] = _relative(json_path, files.depth_file_path, "depth_file_path")
        if per_frame:
            frame.update(_pixel_intrinsics(k[i], width, height))
        frame["transform_matrix"] = c2w_gl[i].tolist()
        out["frames"].append(frame)
    return out


def write_transforms_json(path: str | Path, cameras: Cameras, width: int, height: int, frames: list[FrameFiles],
                          depth_scale: float | None = None, extra: dict | None = None,
                          ply_file_path: str | None = None) -> None:
    """Write a nerfstudio / instant-ngp transforms.json for `cameras` (OpenCV, normalized intrinsics).

    frames: one FrameFiles per camera, paths relative to the JSON's folder. depth_scale: world
    units per depth PNG step (required when frames have depth files). extra: more top-level keys.
    Depth PNGs hold camera z-depth (nerfstudio convention), not ray distance.
    """
    path = Path(path)
    data = transforms_dict(cameras, width, height, frames, depth_scale, extra, ply_file_path, path)
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise DnerfError(f"cannot write {path}: extra fields are not JSON-serializable ({exc})") from None
    atomic_write_text(path, text)


# --- reading ------------------------------------------------------------------------------------
def _number(path: Path, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DnerfError(f"{path}: {where} must be a finite number, got {value!r}")
    return float(value)


def _frame_intrinsics(path: Path, top: dict, frame: dict, index: int, w: int, h: int) -> list[list[float]]:
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
    cx = _number(path, f"{where} cx", get("cx")) if get("cx") is not None else w / 2
    cy = _number(path, f"{where} cy", get("cy")) if get("cy") is not None else h / 2
    for key in DISTORTION_KEYS + EXTRA_DISTORTION_KEYS:
        if get(key) not in (None, 0, 0.0):
            raise DnerfError(f"{path}: {where} has lens distortion ({key}={get(key)}), which dnerf cameras "
                             "cannot represent; undistort the images first")
    return [[fl_x / w, 0.0, cx / w], [0.0, fl_y / h, cy / h], [0.0, 0.0, 1.0]]


def read_transforms_json(path: str | Path, dtype: torch.dtype = torch.float32
                         ) -> tuple[Cameras, list[FrameFiles], int, int]:
    """Read a transforms.json -> (OpenCV Cameras with normalized intrinsics, frames, width, height)."""
    path = Path(path)
    if not path.is_file():
        raise DnerfError(f"transforms file not found: {path}")
    try:
        top = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DnerfError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(top, dict) or not isinstance(top.get("frames"), list) or not top["frames"]:
        raise DnerfError(f"{path} is not a transforms.json: it needs a non-empty 'frames' list")
    model = top.get("camera_model", CAMERA_MODEL)
    if model not in READABLE_CAMERA_MODELS:
        raise DnerfError(f"{path}: camera_model {model!r} is not supported (only {', '.join(READABLE_CAMERA_MODELS)})")
    sizes = set()
    for i, frame in enumerate(top["frames"]):
        if not isinstance(frame, dict):
            raise DnerfError(f"{path}: frame {i} is not an object")
        w, h = frame.get("w", top.get("w")), frame.get("h", top.get("h"))
        if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
            raise DnerfError(f"{path}: frame {i} has no valid image size (w, h), got {w!r} x {h!r}")
        sizes.add((w, h))
    if len(sizes) > 1:
        raise DnerfError(f"{path}: frames have different image sizes {sorted(sizes)}; dnerf needs one size")
    (width, height), = sizes
    mats, ks, files = [], [], []
    for i, frame in enumerate(top["frames"]):
        m = frame.get("transform_matrix")
        try:
            t = torch.tensor(m, dtype=torch.float64)
        except (TypeError, ValueError):
            t = None
        if t is None or tuple(t.shape) != (4, 4) or not torch.isfinite(t).all():
            raise DnerfError(f"{path}: frame {i} transform_matrix must be a finite 4x4 matrix")
        if not isinstance(frame.get("file_path"), str):
            raise DnerfError(f"{path}: frame {i} has no file_path")
        mats.append(t)
        ks.append(_frame_intrinsics(path, top, frame, i, width, height))
        files.append(FrameFiles(frame["file_path"], frame.get("mask_path"), frame.get("depth_file_path")))
    cameras = Cameras.from_opengl(torch.stack(mats), torch.tensor(ks, dtype=torch.float64))
    return cameras.to(dtype=dtype), files, width, height
