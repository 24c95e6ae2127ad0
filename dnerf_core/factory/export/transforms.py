"""transforms.json in the nerfstudio / instant-ngp schema (what NeRF and 3DGS trainers read).

Top level: camera_model "OPENCV", fl_x fl_y cx cy (pixels), w h, k1 k2 p1 p2 = 0; when frames
have depth: depth_unit_scale_factor (nerfstudio ignores this key and uses its own config value,
default 1e-3; we write it so the file says its unit) and integer_depth_scale (instant-ngp's key
for the same number); optional ply_file_path (nerfstudio: seeds splatfacto's Gaussians) and
train_filenames / val_filenames / test_filenames (nerfstudio's explicit split; see
nerf_splits.py); then frames with file_path, depth_file_path (nerfstudio) and depth_path
(instant-ngp) naming the same PNG, part_mask_path (dnerf's part ids; no other tool reads it),
an optional mask_path (nerfstudio's include mask: 0 = ignore the pixel), all relative to the
JSON's folder, '/'-separated, and transform_matrix: the OpenGL cam2world 4x4 (camera looks
down -z, y up), converted from our OpenCV cameras by Cameras.cam2world_opengl(). Frames get
their own fl_x fl_y cx cy only when the intrinsics differ between frames (nerfstudio lets
per-frame values override the top level).

Notes for users:
- depth PNGs hold camera z-depth (nerfstudio's convention, its `is_euclidean_depth` False
  default), not the distance along the ray; depth in world units = PNG value *
  depth_unit_scale_factor, and 0 means "no depth".
- part_mask_path points at the part-label palette PNG (index = label id, legend in labels.json).
  It is deliberately NOT mask_path: nerfstudio reads any mask_path as binary (0 = ignore the
  pixel), which would turn part ids into "train on the parts only" and drop part 0.
- Pixel coordinates follow nerfstudio: pixel (i, j) has its center at (i + 0.5, j + 0.5), so
  u_px = fl_x * x / z + cx for a camera-space point (OpenCV axes), exactly Cameras.project * w.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch

from ...cameras import Cameras
from ...errors import DnerfError
from ...pose_file import DISTORTION_KEYS, load_json, transforms_cameras
from ...io.atomic import atomic_write_text

CAMERA_MODEL = "OPENCV"
SPLIT_KEYS = ("train_filenames", "val_filenames", "test_filenames")  # nerfstudio's explicit split
INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy")
SKEW_TOLERANCE = 1e-9  # the schema has no skew: refuse cameras that have one


@dataclass(frozen=True)
class FrameFiles:
    """One frame's files, relative to the transforms.json folder (None: not written).

    mask_path: nerfstudio's include mask (binary, 0 = ignore); part_mask_path: part ids (palette).
    """

    file_path: str
    mask_path: str | None = None
    depth_file_path: str | None = None
    part_mask_path: str | None = None


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
                    ply_file_path: str | None = None, json_path: Path = Path("transforms.json"),
                    splits: dict[str, list[str]] | None = None) -> dict:
    """The transforms.json content as a dict (see the module docstring).

    splits: {"train_filenames": [...], "val_filenames": [...], "test_filenames": [...]}, file
    paths as the frames name them (nerf_splits.nerfstudio_splits makes one); None: no split keys.
    """
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
        out["integer_depth_scale"] = float(depth_scale)
    if ply_file_path is not None:
        out["ply_file_path"] = _relative(json_path, ply_file_path, "ply_file_path")
    if splits is not None:
        names = {_relative(json_path, f.file_path, "file_path") for f in frames}
        for key in SPLIT_KEYS:
            listed = [_relative(json_path, p, key) for p in splits.get(key, ())]
            if not listed or not set(listed) <= names:
                raise DnerfError(f"cannot write {json_path}: {key} must list some of the frames' file_path values")
            out[key] = listed
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
            frame["depth_path"] = frame["depth_file_path"]  # instant-ngp's key for the same file
        if files.part_mask_path is not None:
            frame["part_mask_path"] = _relative(json_path, files.part_mask_path, "part_mask_path")
        if per_frame:
            frame.update(_pixel_intrinsics(k[i], width, height))
        frame["transform_matrix"] = c2w_gl[i].tolist()
        out["frames"].append(frame)
    return out


def write_transforms_json(path: str | Path, cameras: Cameras, width: int, height: int, frames: list[FrameFiles],
                          depth_scale: float | None = None, extra: dict | None = None,
                          ply_file_path: str | None = None, splits: dict[str, list[str]] | None = None) -> None:
    """Write a nerfstudio / instant-ngp transforms.json for `cameras` (OpenCV, normalized intrinsics).

    frames: one FrameFiles per camera, paths relative to the JSON's folder. depth_scale: world
    units per depth PNG step (required when frames have depth files). extra: more top-level keys.
    Depth PNGs hold camera z-depth (nerfstudio convention), not ray distance.
    """
    path = Path(path)
    data = transforms_dict(cameras, width, height, frames, depth_scale, extra, ply_file_path, path, splits)
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise DnerfError(f"cannot write {path}: extra fields are not JSON-serializable ({exc})") from None
    atomic_write_text(path, text)


# --- reading ------------------------------------------------------------------------------------
def read_transforms_json(path: str | Path, dtype: torch.dtype = torch.float32
                         ) -> tuple[Cameras, list[FrameFiles], int, int]:
    """Read a transforms.json -> (OpenCV Cameras with normalized intrinsics, frames, width, height)."""
    path = Path(path)
    top = load_json(path, "transforms file")
    parsed = transforms_cameras(top, path)
    files = []
    for i, frame in enumerate(top["frames"]):
        if not isinstance(frame.get("file_path"), str):
            raise DnerfError(f"{path}: frame {i} has no file_path")
        files.append(FrameFiles(frame["file_path"], frame.get("mask_path"), frame.get("depth_file_path"),
                                frame.get("part_mask_path")))
    return parsed.cameras.to(dtype=dtype), files, parsed.width, parsed.height
