#!/usr/bin/env python
"""Run dnerf's main jobs on a GPU and on the CPU and compare what they write.

    .venv/bin/python scripts/gpu_check.py [--device cuda] [--against cpu] [--out gpu_check.json] [--keep DIR]

Stages (each run once per device, through the CLI, as a user would):
  export   default:car, 4 views at 64x64, PLY + GLB + masks
  eg3d     preset:ffhq512-128 (random weights), one 512x512 view (float32 super-resolution)
  kit      annotate-kit, 2 subjects x 3 views at 64x64, oracle masks
  train    train-semantic, 30 steps on the CPU kit, then one export labeled by each branch
  invert   invert a kit mask, 20 steps, fixed fit seed

Tolerances (float32 kernels differ between devices in summation order, so bit equality is not
expected; these bound what a user can see):
  RGB PNGs                   PSNR >= 40 dB
  part masks                 >= 99% of pixels the same label (>= 95% after training, where
                             30 steps of different rounding move the decision boundary)
  depth PNGs (1e-3 units)    mean absolute difference <= 2 steps
  labeled cloud              point count within 2%
  inversion                  final loss within 10% (relative)

On a machine without CUDA it says so and exits 0: there is nothing to compare. `--device cpu`
compares the CPU with itself, which checks the script (all stages identical).
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RGB_MIN_PSNR = 40.0
MASK_MIN_AGREEMENT = 0.99
TRAINED_MASK_MIN_AGREEMENT = 0.95
DEPTH_MAX_MEAN_STEPS = 2.0
CLOUD_MAX_COUNT_CHANGE = 0.02
INVERT_MAX_LOSS_CHANGE = 0.10
RES = 64


def dnerf(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "dnerf_core.cli", *args, "--quiet"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dnerf {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak ** 2 / mse)


def compare_folders(a: Path, b: Path, mask_min: float = MASK_MIN_AGREEMENT) -> dict:
    """Every rgb/, mask/ and depth/ PNG of two export (or kit) folders, and their clouds."""
    out: dict = {"ok": True}
    for sub, kind in (("rgb", "rgb"), ("images", "rgb"), ("mask", "mask"), ("masks", "mask"), ("depth", "depth")):
        files = sorted((a / sub).glob("*.png")) if (a / sub).is_dir() else []
        for fa in files:
            x, y = read_png(fa), read_png(b / sub / fa.name)
            key = f"{sub}/{fa.name}"
            if kind == "rgb":
                value, good = psnr(x, y), psnr(x, y) >= RGB_MIN_PSNR
            elif kind == "mask":
                value = float(np.mean(x == y))
                good = value >= mask_min
            else:
                value = float(np.mean(np.abs(x.astype(np.float64) - y.astype(np.float64))))
                good = value <= DEPTH_MAX_MEAN_STEPS
            out[key] = value
            out["ok"] &= bool(good)
    if (a / "cloud.ply").is_file():
        import trimesh

        na, nb = (len(trimesh.load(p / "cloud.ply").vertices) for p in (a, b))
        out["cloud_points"] = [na, nb]
        out["ok"] &= abs(na - nb) <= CLOUD_MAX_COUNT_CHANGE * max(na, 1)
    return out


def render_eg3d(device: str, folder: Path) -> None:
    """One 512x512 view of the EG3D-size preset (random weights: it has no labels to export)."""
    import torch
    from PIL import Image

    import dnerf_core as dn

    gen = dn.load_generator("preset:ffhq512-128", semantic=False, device=device)
    with torch.no_grad():
        rgb = gen.render(gen.sample([1]), dn.orbit_views(gen, 1)).rgb[0]
    folder.mkdir(parents=True, exist_ok=True)
    pixels = (rgb.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    Image.fromarray(pixels).save(folder / "000.png")


def run_stages(device: str, root: Path, cpu_kit: Path | None) -> None:
    d = root / device.replace(":", "_")
    d.mkdir(parents=True, exist_ok=True)
    dev = ("--device", device)
    dnerf("export", "-g", "default:car", "-s", "7", "-n", "4", "-r", str(RES), "--ply", "--glb", "--masks",
          "-o", str(d / "export"), *dev)
    render_eg3d(device, d / "eg3d" / "rgb")
    dnerf("annotate-kit", "-g", "default:car", "--subjects", "2", "-n", "3", "-r", str(RES), "--oracle",
          "-o", str(d / "kit"), *dev)
    kit = cpu_kit or d / "kit"  # both devices train on the same annotations
    dnerf("train-semantic", "-a", str(kit), "--steps", "30", "-o", str(d / "branch.pt"), *dev)
    dnerf("export", "-g", "default:car", "-s", "7", "-n", "2", "-r", str(RES), "--masks",
          "--semantic", str(d / "branch.pt"), "-o", str(d / "trained_export"), "--device", "cpu")
    mask = sorted((kit / "masks").glob("*.png"))[0]
    dnerf("invert", "--mask", str(mask), "--steps", "20", "--starts", "1", "--fit-seed", "0", "-n", "1",
          "-g", "default:car", "-o", str(d / "invert"), *dev)


def final_loss(report: Path) -> float:
    """The last objective value of an inversion (report.json of `dnerf invert`)."""
    return float(json.loads(report.read_text())["loss_last"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="device under test [default: cuda]")
    parser.add_argument("--against", default="cpu", help="reference device [default: cpu]")
    parser.add_argument("--out", type=Path, default=None, help="JSON report")
    parser.add_argument("--keep", type=Path, default=None, help="keep the outputs in this folder")
    args = parser.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device on this machine (torch {torch.__version__}); nothing to compare. "
              "Run it where a GPU exists.")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        run_stages(args.against, root / "ref", None)
        ref = root / "ref" / args.against.replace(":", "_")
        run_stages(args.device, root / "test", ref / "kit")
        test = root / "test" / args.device.replace(":", "_")
        report = {name: compare_folders(ref / name, test / name) for name in ("export", "eg3d", "kit")}
        report["trained_export"] = compare_folders(ref / "trained_export", test / "trained_export",
                                                   TRAINED_MASK_MIN_AGREEMENT)
        la, lb = final_loss(ref / "invert" / "report.json"), final_loss(test / "invert" / "report.json")
        report["invert"] = {"final_loss": [la, lb],
                            "ok": abs(la - lb) <= INVERT_MAX_LOSS_CHANGE * max(abs(la), 1e-12)}
    report["devices"] = [args.against, args.device]
    ok = all(v["ok"] for k, v in report.items() if isinstance(v, dict))
    text = json.dumps(report, indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(text)
    print(text)
    print(f"gpu_check: {'PASS' if ok else 'FAIL'} ({args.device} vs {args.against})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
