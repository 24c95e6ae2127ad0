"""Orbit videos for a quick look at a labeled subject: RGB, part mask, and both side by side.

`--video N` renders N frames on the generator's video orbit (cameras.video_orbit_cameras: the
full yaw range and back, pitch tracing one cosine period; once around for full-circle orbits)
and writes, next to the other exports:

  video_rgb.EXT    the RGB frames
  video_mask.EXT   the part masks in the label colors of labels.json (ignore pixels in the
                   masks' IGNORE_COLOR)
  video.EXT        RGB left, mask right, one frame each

EXT is mp4 (H.264, yuv420p, through imageio + imageio-ffmpeg's bundled ffmpeg) or gif (through
imageio's Pillow plugin: exact colors, bigger files). The optional extra `dnerf[video]` holds
both packages; they are imported only here, lazily, and a missing one is a MissingExtraError
naming the extra before anything is rendered. Notes: H.264's 4:2:0 chroma blurs colors across
mask borders (use gif for exact label colors); yuv420p needs even sizes, so an odd frame size is
padded by one repeated row/column; a gif merges identical consecutive frames (Pillow does),
so a still subject seen from one unchanged pose gives fewer frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DnerfError, require
from ...labels import IGNORE_ID, LabelSet
from ...io.atomic import atomic_path
from ...io.images import to_uint8_rgb
from ...io.masks import IGNORE_COLOR

VIDEO_FORMATS = ("mp4", "gif")
DEFAULT_VIDEO_FORMAT = "mp4"
DEFAULT_VIDEO_FPS = 24
VIDEO_EXTRA = "video"
MAX_VIDEO_FRAMES = 10000
MP4_QUALITY = 8  # imageio-ffmpeg's 0..10 scale (10 = best); 8 keeps part colors readable
VIDEO_NAMES = ("video_rgb", "video_mask", "video")


@dataclass(frozen=True)
class VideoFiles:
    """What write_orbit_video wrote: the three files, frame count and frame size (width, height)."""

    rgb: Path
    mask: Path
    side_by_side: Path
    frames: int
    size: tuple[int, int]


def check_video_request(frames: int, fmt: str, fps: int) -> None:
    """Refuse a bad request, or a missing optional package, before anything is rendered."""
    if not 1 <= frames <= MAX_VIDEO_FRAMES:
        raise DnerfError(f"--video must be between 1 and {MAX_VIDEO_FRAMES} frames, got {frames}")
    if fmt not in VIDEO_FORMATS:
        raise DnerfError(f"--video-format must be one of {', '.join(VIDEO_FORMATS)}, got {fmt!r}")
    if not 1 <= fps <= 120:
        raise DnerfError(f"--video-fps must be between 1 and 120, got {fps}")
    require("imageio", VIDEO_EXTRA)
    if fmt == "mp4":
        require("imageio_ffmpeg", VIDEO_EXTRA)


def mask_colors(labels: np.ndarray, label_set: LabelSet) -> np.ndarray:
    """[..., H, W] label ids -> [..., H, W, 3] uint8 in the label colors (IGNORE_ID: IGNORE_COLOR)."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(label_set)] = label_set.palette()
    lut[IGNORE_ID] = IGNORE_COLOR
    ids = np.asarray(labels)
    if ids.min(initial=0) < 0 or ids.max(initial=0) > 255:
        raise DnerfError("label ids must lie in 0..255 to be colored")
    return lut[ids.astype(np.int64)]


def _even(frames: np.ndarray) -> np.ndarray:
    """[N,H,W,3] -> even H and W by repeating the last row / column (yuv420p needs even sizes)."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def _write_video(path: Path, frames: np.ndarray, fmt: str, fps: int) -> None:
    """[N,H,W,3] uint8 -> path, atomically (a temp file in the same folder, renamed when complete)."""
    imageio = require("imageio", VIDEO_EXTRA)
    with atomic_path(path, suffix=f".{fmt}") as tmp:
        if fmt == "mp4":
            require("imageio_ffmpeg", VIDEO_EXTRA)
            # bitexact: no encoder version string in the file, so one ffmpeg gives one set of bytes
            writer = imageio.v2.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                           quality=MP4_QUALITY, pixelformat="yuv420p", macro_block_size=1,
                                           ffmpeg_log_level="error",
                                           output_params=["-fflags", "+bitexact", "-map_metadata", "-1"])
            try:
                for frame in _even(frames):
                    writer.append_data(frame)
            finally:
                writer.close()
        else:
            imageio.v3.imwrite(tmp, list(frames), extension=".gif", duration=1000.0 / fps, loop=0)


def write_orbit_video(out: str | Path, rgb, labels, label_set: LabelSet, fmt: str = DEFAULT_VIDEO_FORMAT,
                      fps: int = DEFAULT_VIDEO_FPS) -> VideoFiles:
    """Write video_rgb / video_mask / video (side by side) into the folder `out`.

    rgb: [N,H,W,3] float in [0,1] or uint8; labels: [N,H,W] label ids (torch or numpy).
    """
    check_video_request(len(rgb), fmt, fps)
    rgb_u8 = np.stack([to_uint8_rgb(frame) for frame in rgb])  # [N,H,W,3]
    ids = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if ids.shape != rgb_u8.shape[:3]:
        raise DnerfError(f"video: {ids.shape} label frames for {rgb_u8.shape[:3]} RGB frames")
    colored = mask_colors(ids, label_set)
    both = np.concatenate([rgb_u8, colored], axis=2)
    out = Path(out)
    paths = [out / f"{name}.{fmt}" for name in VIDEO_NAMES]
    for path, frames in zip(paths, (rgb_u8, colored, both)):
        _write_video(path, frames, fmt, fps)
    h, w = rgb_u8.shape[1:3]
    return VideoFiles(*paths, frames=len(rgb_u8), size=(w, h))


def read_video_frames(path: str | Path) -> np.ndarray:
    """[N,H,W,3] uint8 frames of a video written here (mp4 or gif), for checks and tests."""
    imageio = require("imageio", VIDEO_EXTRA)
    path = Path(path)
    if path.suffix == ".mp4":
        require("imageio_ffmpeg", VIDEO_EXTRA)
        reader = imageio.v2.get_reader(str(path), format="FFMPEG")
        try:
            return np.stack([np.asarray(f)[..., :3] for f in reader])
        finally:
            reader.close()
    frames = imageio.v3.imread(path, index=None, extension=path.suffix)
    return np.asarray(frames)[..., :3]
