#!/usr/bin/env python
"""Inversion and editing on a default generator, every target from held-out seeds at random poses.

    .venv/bin/python research/scripts/eval_inversion.py --category face --cases 5 --out research/results/inversion_face.json

Per case (dnerf_research.inversion_quality): RGB inversion (PSNR vs the target, yaw error), mask
inversion (mIoU vs the target mask, per case and pooled over the cases), editing (mIoU inside the
edited region, RGB PSNR outside it, share of changed pixels in other views that involve the edited
part) and the seconds each case took. Targets of the issue: 25 dB / 5 degrees, mIoU 0.8, region
mIoU 0.8 / 28 dB outside, under a minute per case on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# research/ (dnerf_research) and, for a source checkout, the repository root (dnerf_core)
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from dnerf_core.lab import retain_freed_memory  # noqa: E402

KINDS = ("rgb", "mask", "edit")


def evaluate(category: str, cases: int, kinds=KINDS, progress=print) -> dict:
    import torch

    from dnerf_research import inversion_quality as iq
    import dnerf_core as dn

    labeled = dn.load_generator(f"default:{category}")
    out = {"generator": f"default:{category}", "threads": torch.get_num_threads()}
    for kind in kinds:
        rows = []
        for i in range(cases):
            row = (iq.rgb_case(labeled, i) if kind == "rgb" else iq.mask_case(labeled, i) if kind == "mask"
                   else iq.edit_case(labeled, category, i))
            progress(f"[inversion] {category} {kind} {i}: {row}")
            rows.append(row)
        out[kind] = iq.summarize(rows)
    if "mask" in kinds:
        out["mask"]["pooled_miou"] = iq.pooled_mask_miou(out["mask"]["cases"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, choices=["car", "face"])
    parser.add_argument("--cases", type=int, default=5, help="targets per kind")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma list of rgb,mask,edit")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    retain_freed_memory()  # dnerf_core.allocator: big step temporaries reused, not faulted in again
    from dnerf_core.lab import emit_json

    report = evaluate(args.category, args.cases, args.kinds.split(","), lambda m: print(m, file=sys.stderr))
    if args.out and args.out.is_file():  # re-running some kinds keeps the others' results
        report = {**json.loads(args.out.read_text()), **report}
    emit_json(report, args.out)


if __name__ == "__main__":
    main()
