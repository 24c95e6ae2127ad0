#!/usr/bin/env python
"""The README's picture: one exported subject's RGB view, its part mask and its labeled cloud.

    .venv/bin/python scripts/readme_picture.py                    # writes docs/images/subject.png
    .venv/bin/python scripts/readme_picture.py --out pic.png --export-dir out/car-7

Runs the README's own export (`dnerf-export --generator default:car --seed 7 --views 8 --ply
--masks`), reads what it wrote (rgb/, mask/, cloud.ply, labels.json, transforms.json) and composes
three panels side by side with a legend, using Pillow and numpy only: the cloud is drawn as an
orthographic point splat seen from one of the export's own cameras, each point in its label color.
Same export, same bytes: the picture repeats exactly.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "images" / "subject.png"
EXPORT_ARGS = ("--generator", "default:car", "--seed", "7", "--views", "8", "--ply", "--masks")
PANEL = 256           # pixels per panel side
MARGIN = 12           # pixels around and between panels
CAPTION_H = 22        # caption band under each panel
LEGEND_H = 26         # legend band at the bottom
IMAGE_VIEW = 1        # the export's frame shown as RGB and mask: a three-quarter front view
CLOUD_VIEW = 3        # the frame whose camera looks at the cloud: from behind, so it reads as 3D
SPLAT_RADIUS = 2      # splat disk radius in panel pixels
CLOUD_FILL = 0.85     # share of the panel the cloud's larger extent fills
DEPTH_SHADE = 0.45    # far points are darkened by up to this share (a depth cue on flat colors)
BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class LabeledCloud:
    """Points [N,3] (world units) with their integer part ids [N]."""
    points: np.ndarray
    labels: np.ndarray


def run_export(out: Path) -> None:
    """The README's export command into `out` (the console script beside this Python)."""
    exe = Path(sys.executable).parent / "dnerf-export"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from dnerf_core.cli import export_main; export_main()"]
    proc = subprocess.run([*cmd, *EXPORT_ARGS, "--out", str(out), "--quiet"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"readme_picture: the export failed (exit {proc.returncode}): {proc.stderr.strip()}")


_PLY_TYPES = {"char": "i1", "uchar": "u1", "short": "i2", "ushort": "u2", "int": "i4", "uint": "u4",
              "float": "f4", "double": "f8", "int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2",
              "int32": "i4", "uint32": "u4", "float32": "f4", "float64": "f8"}


def read_labeled_cloud(path: Path) -> LabeledCloud:
    """x, y, z and label of a binary little-endian PLY cloud (the export's cloud.ply)."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    fields, count, fmt = [], 0, None
    for line in data[:end].decode("ascii").splitlines():
        tokens = line.split()
        if tokens[:1] == ["format"]:
            fmt = tokens[1]
        elif tokens[:1] == ["element"]:
            if tokens[1] != "vertex":
                break  # the cloud is the first element; nothing after it is needed
            count = int(tokens[2])
        elif tokens[:1] == ["property"] and count:
            fields.append((tokens[-1], "<" + _PLY_TYPES[tokens[1]]))
    if fmt != "binary_little_endian":
        sys.exit(f"readme_picture: {path} is not a binary little-endian PLY")
    vertex = np.frombuffer(data, dtype=np.dtype(fields), count=count, offset=end)
    points = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float64)
    return LabeledCloud(points, vertex["label"].astype(np.int64))


def label_palette(labels_json: Path) -> tuple[np.ndarray, list[tuple[int, str, tuple[int, int, int]]]]:
    """A 256-entry RGB lookup by label id, and the (id, name, color) rows of the parts (no background)."""
    raw = json.loads(labels_json.read_text())
    entries = raw["labels"] if isinstance(raw, dict) else raw
    lut = np.zeros((256, 3), np.uint8)
    rows = []
    for e in entries:
        color = tuple(int(c) for c in e["color"])
        lut[int(e["id"])] = color
        if int(e["id"]) != 0:
            rows.append((int(e["id"]), str(e["name"]), color))
    return lut, sorted(rows)


def splat(cloud: LabeledCloud, cam2world_gl: np.ndarray, lut: np.ndarray) -> Image.Image:
    """Orthographic splat of the cloud seen by an OpenGL camera (looks down -z, y up), nearest wins."""
    rot, eye = cam2world_gl[:3, :3], cam2world_gl[:3, 3]
    local = (cloud.points - eye) @ rot          # world -> camera axes (rows of R^T)
    xy, depth = local[:, :2], -local[:, 2]      # depth grows away from the camera
    center = (xy.min(0) + xy.max(0)) / 2
    scale = CLOUD_FILL * PANEL / max(float((xy.max(0) - xy.min(0)).max()), 1e-9)
    px = np.round((xy[:, 0] - center[0]) * scale + PANEL / 2).astype(np.int64)
    py = np.round(-(xy[:, 1] - center[1]) * scale + PANEL / 2).astype(np.int64)
    near, far = float(depth.min()), float(depth.max())
    shade = 1.0 - DEPTH_SHADE * (depth - near) / max(far - near, 1e-9)
    colors = np.clip(lut[cloud.labels].astype(np.float64) * shade[:, None], 0, 255).astype(np.uint8)

    r = SPLAT_RADIUS
    offsets = [(dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dx * dx + dy * dy <= r * r]
    xs = np.concatenate([px + dx for dx, _ in offsets])
    ys = np.concatenate([py + dy for _, dy in offsets])
    ds = np.tile(depth, len(offsets))
    cs = np.tile(colors, (len(offsets), 1))
    inside = (xs >= 0) & (xs < PANEL) & (ys >= 0) & (ys < PANEL)
    flat, ds, cs = (ys * PANEL + xs)[inside], ds[inside], cs[inside]
    order = np.lexsort((ds, flat))                          # by pixel, nearest first
    first = np.unique(flat[order], return_index=True)[1]    # the nearest splat of each pixel
    img = np.full((PANEL * PANEL, 3), BACKGROUND, np.uint8)
    img[flat[order][first]] = cs[order][first]
    return Image.fromarray(img.reshape(PANEL, PANEL, 3), "RGB")


def compose(export_dir: Path) -> Image.Image:
    """RGB | mask | labeled cloud, captions under each, the part legend at the bottom."""
    lut, parts = label_palette(export_dir / "labels.json")
    frames = json.loads((export_dir / "transforms.json").read_text())["frames"]
    rgb = Image.open(export_dir / frames[IMAGE_VIEW]["file_path"]).convert("RGB")
    mask_ids = np.asarray(Image.open(export_dir / frames[IMAGE_VIEW]["part_mask_path"]))
    mask = Image.fromarray(lut[mask_ids], "RGB")
    cloud = read_labeled_cloud(export_dir / "cloud.ply")
    cloud_img = splat(cloud, np.asarray(frames[CLOUD_VIEW]["transform_matrix"], np.float64), lut)

    panels = [(rgb.resize((PANEL, PANEL), Image.NEAREST), "RGB view"),
              (mask.resize((PANEL, PANEL), Image.NEAREST), "part mask"),
              (cloud_img, f"labeled cloud ({len(cloud.points)} points)")]
    width = MARGIN + len(panels) * (PANEL + MARGIN)
    height = MARGIN + PANEL + CAPTION_H + LEGEND_H + MARGIN
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for i, (img, caption) in enumerate(panels):
        x = MARGIN + i * (PANEL + MARGIN)
        canvas.paste(img, (x, MARGIN))
        draw.rectangle([x - 1, MARGIN - 1, x + PANEL, MARGIN + PANEL], outline=(200, 200, 200))
        draw.text((x, MARGIN + PANEL + 6), caption, fill=(40, 40, 40), font=font)
    x, y = MARGIN, MARGIN + PANEL + CAPTION_H + 6
    for _, name, color in parts:
        draw.rectangle([x, y, x + 12, y + 12], fill=color, outline=(90, 90, 90))
        draw.text((x + 17, y), name, fill=(40, 40, 40), font=font)
        x += 17 + int(draw.textlength(name, font=font)) + 16
    return canvas


def write_png(img: Image.Image, out: Path) -> None:
    """Atomic: a temporary file beside `out`, then a rename."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    img.save(tmp, format="PNG", optimize=True)
    tmp.replace(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG to write [{DEFAULT_OUT.relative_to(REPO)}]")
    parser.add_argument("--export-dir", type=Path, default=None,
                        help="an existing export of the README's command to draw (default: export into a temp folder)")
    args = parser.parse_args(argv)
    if args.export_dir is not None:
        write_png(compose(args.export_dir), args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            export_dir = Path(tmp) / "car-7"
            run_export(export_dir)
            write_png(compose(export_dir), args.out)
    print(args.out)


if __name__ == "__main__":
    main()
