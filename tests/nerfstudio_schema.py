"""A reader of transforms.json folders as nerfstudio 1.1.5's `nerfstudio-data` dataparser reads
them, with its defaults. nerfstudio itself does not install here (it wants a CUDA torch and
torchvision), so this is written from its documented schema and dataparser semantics, not from
its code:

- intrinsics fl_x fl_y cx cy w h (top level, per-frame values win), camera_model, k1 k2 p1 p2;
- frames: file_path, optional mask_path (include mask: 0 = ignore the pixel, anything else =
  train; a 1-channel image, else "The mask image should have 1 channel"), optional
  depth_file_path; mask/depth files must be given for every frame or for none;
  transform_matrix: OpenGL cam2world;
- depth PNG value * the reader's OWN config depth_unit_scale_factor (default 1e-3) * the
  dataparser scale; no key of the file is read for it; depth is camera z-depth unless the
  model's is_euclidean_depth is set (default False), so along a ray it is depth * |direction|
  where direction = ((u - cx) / fx, -(v - cy) / fy, -1) in the camera;
- splits: train_filenames / val_filenames / test_filenames when any is given (then all three
  are required, every name must be a frame's file_path), else eval_mode "fraction" with
  train_split_fraction 0.9: ceil(0.9 n) training frames spread by linspace, the rest eval
  (val and test alike);
- poses: orientation_method "up" (rotate the mean camera up to +z), center_method "poses"
  (subtract the mean camera position), auto_scale_poses (divide by the largest |coordinate| of
  the camera positions) times scale_factor 1.0;
- ply_file_path: read with Open3D, moved by the same transform and scale (seeds splatfacto);
- rays through pixel centers (pixel offset 0.5).

`check_trainable` adds what a training run needs on top of parsing: non-empty train and eval
splits (an empty eval split crashes the first eval step) and, with masks, enough unmasked
pixels for the masked pixel sampler, which draws `num_rays_per_batch` distinct pixels without
replacement (4096 by default, for training and for eval).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


class SchemaError(Exception):
    """What nerfstudio would fail with (parse error, assertion or crash in the training loop)."""


@dataclass(frozen=True)
class NerfstudioConfig:
    depth_unit_scale_factor: float = 1e-3
    train_split_fraction: float = 0.9
    auto_scale_poses: bool = True
    scale_factor: float = 1.0
    center_method: str = "poses"  # "poses" or "none"
    orientation_method: str = "up"  # "up" or "none"
    load_3D_points: bool = True
    train_num_rays_per_batch: int = 4096
    eval_num_rays_per_batch: int = 4096


@dataclass
class DataparserOutputs:
    """One split as nerfstudio's dataparser hands it over (cameras already transformed)."""

    data_dir: Path
    image_filenames: list[Path]
    mask_filenames: list[Path] | None
    depth_filenames: list[Path] | None
    c2w: np.ndarray  # [N,3,4] OpenGL cam2world after the dataparser transform and scale
    fx: np.ndarray
    fy: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    width: int
    height: int
    transform: np.ndarray  # [3,4] applied to world points (before the scale)
    scale: float
    config: NerfstudioConfig
    points3d: np.ndarray | None = None  # [P,3] in dataparser coordinates
    points3d_rgb: np.ndarray | None = None
    indices: list[int] = field(default_factory=list)  # frame indices of this split

    def __len__(self) -> int:
        return len(self.image_filenames)

    # --- loading, as nerfstudio's datasets do ---------------------------------------------
    def image(self, i: int) -> np.ndarray:
        img = np.array(Image.open(self.image_filenames[i]), dtype="uint8")
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise SchemaError(f"{self.image_filenames[i]}: image must be RGB or RGBA, got shape {img.shape}")
        if img.shape[:2] != (self.height, self.width):
            raise SchemaError(f"{self.image_filenames[i]}: image is {img.shape[1]}x{img.shape[0]}, "
                              f"cameras say {self.width}x{self.height}")
        return img

    def mask(self, i: int) -> np.ndarray:
        """[H,W] bool include mask."""
        m = np.array(Image.open(self.mask_filenames[i]))
        if m.ndim != 2:
            raise SchemaError("The mask image should have 1 channel")
        if m.shape != (self.height, self.width):
            raise SchemaError(f"{self.mask_filenames[i]}: mask size differs from the image")
        return m.astype(bool)

    def depth(self, i: int) -> np.ndarray:
        """[H,W] camera z-depth in dataparser units: PNG value * config unit * dataparser scale."""
        raw = np.array(Image.open(self.depth_filenames[i])).astype(np.float64)
        if raw.ndim != 2:
            raise SchemaError(f"{self.depth_filenames[i]}: depth must be a 1-channel image")
        return raw * self.config.depth_unit_scale_factor * self.scale

    def rays(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """origins [H*W,3], unit directions [H*W,3], directions_norm [H*W] (row-major pixels)."""
        v, u = np.meshgrid(np.arange(self.height) + 0.5, np.arange(self.width) + 0.5, indexing="ij")
        d_cam = np.stack([(u - self.cx[i]) / self.fx[i], -(v - self.cy[i]) / self.fy[i],
                          -np.ones_like(u)], -1).reshape(-1, 3)
        d = d_cam @ self.c2w[i, :3, :3].T
        norm = np.linalg.norm(d, axis=-1)
        return np.broadcast_to(self.c2w[i, :3, 3], d.shape), d / norm[:, None], norm

    def ray_depth(self, i: int) -> np.ndarray:
        """[H,W] distance along each pixel's ray (is_euclidean_depth False: z-depth * |direction|)."""
        _, _, norm = self.rays(i)
        return self.depth(i) * norm.reshape(self.height, self.width)

    def project(self, i: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dataparser-space points [P,3] -> (pixel coords [P,2] (u right, v down), z-depth [P])."""
        rot, t = self.c2w[i, :3, :3], self.c2w[i, :3, 3]
        cam = (points - t) @ rot  # OpenGL camera coordinates
        z = -cam[:, 2]
        return np.stack([self.fx[i] * cam[:, 0] / z + self.cx[i], -self.fy[i] * cam[:, 1] / z + self.cy[i]], -1), z


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation turning unit vector a onto unit vector b (Rodrigues)."""
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1 + 1e-8:  # opposite: turn half way around any axis perpendicular to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _fraction_split(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    n_train = math.ceil(n * fraction)
    i_all = np.arange(n)
    i_train = np.linspace(0, n - 1, n_train, dtype=int)
    return i_train, np.setdiff1d(i_all, i_train)


def _get(meta: dict, frame: dict, key: str):
    if key in frame:
        return frame[key]
    if key in meta:
        return meta[key]
    raise SchemaError(f"no {key!r} in the frame or at the top level")


def parse(data_dir: str | Path, split: str = "train", config: NerfstudioConfig = NerfstudioConfig()
          ) -> DataparserOutputs:
    """The dataparser outputs of one split ("train", "val" or "test")."""
    data_dir = Path(data_dir)
    meta = json.loads((data_dir / "transforms.json").read_text())
    frames = meta["frames"]
    names, masks, depths, poses, ks = [], [], [], [], []
    sizes = set()
    for frame in frames:
        names.append(data_dir / frame["file_path"])
        if "mask_path" in frame:
            masks.append(data_dir / frame["mask_path"])
        if "depth_file_path" in frame:
            depths.append(data_dir / frame["depth_file_path"])
        poses.append(np.array(frame["transform_matrix"], dtype=np.float64))
        ks.append([float(_get(meta, frame, k)) for k in ("fl_x", "fl_y", "cx", "cy")])
        sizes.add((int(_get(meta, frame, "w")), int(_get(meta, frame, "h"))))
        for k in ("k1", "k2", "k3", "k4", "p1", "p2"):
            if float(frame.get(k, meta.get(k, 0.0))) != 0.0:
                raise SchemaError("this reader handles undistorted cameras only")
    if meta.get("camera_model", "OPENCV") not in ("OPENCV", "PINHOLE", "OPENCV_FISHEYE"):
        raise SchemaError(f"unknown camera_model {meta.get('camera_model')!r}")
    if masks and len(masks) != len(names):
        raise SchemaError("Different number of image and mask filenames. You should check that mask_path is "
                          "specified for every frame (or zero frames) in transforms.json.")
    if depths and len(depths) != len(names):
        raise SchemaError("Different number of image and depth filenames. You should check that "
                          "depth_file_path is specified for every frame (or zero frames) in transforms.json.")
    if len(sizes) != 1:
        raise SchemaError(f"this reader expects one image size, got {sorted(sizes)}")
    (width, height), = sizes

    has_split_files = any(f"{s}_filenames" in meta for s in ("train", "val", "test"))
    if f"{split}_filenames" in meta:
        wanted = {data_dir / p for p in meta[f"{split}_filenames"]}
        missing = wanted.difference(names)
        if missing:
            raise SchemaError(f"Some filenames for split {split} were not found: {sorted(map(str, missing))}.")
        indices = [i for i, p in enumerate(names) if p in wanted]
    elif has_split_files:
        raise SchemaError(f"The dataset's list of filenames for split {split} is missing.")
    else:
        i_train, i_eval = _fraction_split(len(names), config.train_split_fraction)
        indices = list(i_train if split == "train" else i_eval)

    all_poses = np.stack(poses)  # [N,4,4]
    positions = all_poses[:, :3, 3]
    translation = positions.mean(0) if config.center_method == "poses" else np.zeros(3)
    if config.orientation_method == "up":
        up = all_poses[:, :3, 1].mean(0)
        rotation = _rotation_between(up / np.linalg.norm(up), np.array([0.0, 0.0, 1.0]))
    else:
        rotation = np.eye(3)
    transform = np.concatenate([rotation, (rotation @ -translation)[:, None]], 1)  # [3,4]
    oriented = transform @ all_poses  # [N,3,4]
    scale = config.scale_factor
    if config.auto_scale_poses:
        largest = float(np.abs(oriented[:, :3, 3]).max())
        if largest == 0:  # one camera, centered onto the origin: nerfstudio divides by zero here
            raise SchemaError("auto_scale_poses: float division by zero (all cameras at the center)")
        scale /= largest
    oriented[:, :3, 3] *= scale

    points = colors = None
    if config.load_3D_points and "ply_file_path" in meta:
        import open3d as o3d

        pcd = o3d.io.read_point_cloud(str(data_dir / meta["ply_file_path"]))
        pts = np.asarray(pcd.points, dtype=np.float64)
        if len(pts) == 0:
            raise SchemaError(f"{meta['ply_file_path']}: no points")
        points = (pts @ transform[:, :3].T + transform[:, 3]) * scale
        colors = (np.asarray(pcd.colors) * 255).astype(np.uint8)

    k = np.array(ks)[indices]
    return DataparserOutputs(
        data_dir, [names[i] for i in indices], [masks[i] for i in indices] if masks else None,
        [depths[i] for i in indices] if depths else None, oriented[indices], k[:, 0], k[:, 1], k[:, 2], k[:, 3],
        width, height, transform, scale, config, points, colors, indices)


def check_trainable(data_dir: str | Path, config: NerfstudioConfig = NerfstudioConfig()) -> dict[str, DataparserOutputs]:
    """Parse every split and check what `ns-train` would trip over; returns the three splits."""
    splits = {s: parse(data_dir, s, config) for s in ("train", "val", "test")}
    for name, out in splits.items():
        if len(out) == 0:
            raise SchemaError(f"the {name} split is empty (nerfstudio's eval loop crashes on an empty eval split)")
        for i in range(len(out)):
            out.image(i)
            if out.mask_filenames:
                out.mask(i)
            if out.depth_filenames:
                out.depth(i)
        if out.mask_filenames:
            rays = config.train_num_rays_per_batch if name == "train" else config.eval_num_rays_per_batch
            pixels = sum(int(out.mask(i).sum()) for i in range(len(out)))
            if pixels < rays:
                raise SchemaError(f"the {name} split has {pixels} unmasked pixels, fewer than the {rays} rays its "
                                  "masked pixel sampler draws without replacement")
    return splits
