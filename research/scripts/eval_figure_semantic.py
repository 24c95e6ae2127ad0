#!/usr/bin/env python
"""The semantic branch of the articulated figure (default:figure) vs the procedural oracle, on held-out
seeds in held-out body poses (issue 26, item 3).

    .venv/bin/python research/scripts/eval_figure_semantic.py --semantic runs/semantic_figure.pt \
        --subjects 16 --out research/results/semantic_figure.json

Held-out: seeds from HELDOUT_SEED_START (never annotated), each in a random pose of pose seed
2**31 + k (kits and training draw pose seeds below 2**31, generators/posing.py), one random
orbit view each at the neural resolution. Scores:

- individual (2D): mIoU / accuracy of the labeled views against the "image" truth, the oracle's
  exact part at every surface point the generator's own image shows (what an annotator of that
  image draws; the kits' masks), pooled over all views; background counted as a class, and the
  foreground-only mIoU beside it;
- across_poses (3D): surface points of each held-out subject in pose A (back-projected from its
  view), carried to pose B = a second held-out random pose through the oracle's inverse map (the
  same canonical point), labeled by the branch in both poses: agreement = the fraction with the
  same part id in both. Points whose canonical point lies within BOUNDARY of another part are
  left out (there the generator's own surface decides which part it shows); accuracy_3d = the
  branch's labels of those points vs the oracle's part (pose A).

The branch reads the canonical tri-plane at the warped point, so across-pose agreement measures
whether the warp and the branch agree on the same canonical point; the 2D mIoU is limited by the
generator (a soft silhouette, limbs 2-3 pixels wide at 64x64: see dnerf_core/weights/README.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

HELDOUT_POSE_SEED = 2 ** 31
BOUNDARY = 0.03  # world units: the figure is ~1.8 tall, a 64x64 view's pixel ~0.04 at the subject


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="default:figure")
    parser.add_argument("--semantic", required=True, help="the branch's checkpoint (dnerf train-semantic)")
    parser.add_argument("--subjects", type=int, default=16, help="held-out subjects (one view and two poses each)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-warp", action="store_true",
                        help="ablation: the branch read at the POSED points (the generator's density still warped), "
                             "as if it were a rigid generator's branch")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    import dnerf_core as dn
    from dnerf_core import ray_bundle
    from dnerf_core.lab import (atomic_write_text, confusion_matrix, HELDOUT_SEED_START, make_figure,
                                oracle_labels_on_surface, random_orbit_cameras, random_pose, segmentation_scores,
                                SURFACE_OPACITY)

    torch.set_num_threads(args.threads)
    t0 = time.time()
    labeled = dn.load_generator(args.generator, args.semantic, device="cpu")
    oracle = dn.load_generator("procedural:figure")
    base = labeled.generator
    k = len(labeled.label_set)
    gen = torch.Generator().manual_seed(0)
    conf = torch.zeros(k, k, dtype=torch.int64)
    agree = total = correct = 0
    for i in range(args.subjects):
        seed = HELDOUT_SEED_START + i
        figure = make_figure(seed)
        pose_a = random_pose(figure, HELDOUT_POSE_SEED + 2 * i)
        pose_b = random_pose(figure, HELDOUT_POSE_SEED + 2 * i + 1)
        cam = random_orbit_cameras(1, labeled.orbit, gen)
        subject_a = labeled.sample([seed], pose=pose_a)
        with torch.no_grad():
            if args.no_warp:
                sem = labeled.branch.render(base, subject_a, cam, field=labeled.branch.field(labeled.branch.planes(subject_a)))
                out = type("View", (), {"labels": sem.labels, "depth": sem.depth, "opacity": sem.opacity})
            else:
                out = labeled.render(subject_a, cam)
        res = out.labels.shape[-1]
        truth = oracle_labels_on_surface(oracle, [seed], cam, out.depth, out.opacity,
                                         truth=oracle.sample([seed], pose=pose_a))
        conf += confusion_matrix(out.labels, truth, k)
        # 3D: the surface points this view shows, in pose A and carried to pose B
        rays = ray_bundle(cam, res)
        shown = (out.opacity[0, 0] >= SURFACE_OPACITY).flatten()
        pts = (rays.origins + out.depth.reshape(1, -1, 1) * rays.directions)[0][shown].double()
        posed_a, posed_b = figure.posed(pose_a), figure.posed(pose_b)
        canon = posed_a.to_canonical(pts)
        pts_b = posed_b.to_posed(canon.points, canon.part)
        clear = torch.ones(len(pts), dtype=torch.bool)
        for posed, at in ((posed_a, pts), (posed_b, pts_b)):
            d = posed.distances(at).sort(dim=0).values
            clear &= d[1] - d[0] > BOUNDARY
        pts, pts_b, label_true = pts[clear].float(), pts_b[clear].float(), canon.label[clear]
        if not len(pts):
            continue
        subject_b = base.repose(subject_a, pose_b)
        if args.no_warp:
            with torch.no_grad():
                planes = labeled.branch.planes(subject_a)
                lab_a = labeled.branch.logits_at(planes, pts[None])[0].argmax(-1)
                lab_b = labeled.branch.logits_at(planes, pts_b[None])[0].argmax(-1)
        else:
            lab_a = labeled.labels_at(subject_a, pts[None])[0]
            lab_b = labeled.labels_at(subject_b, pts_b[None])[0]
        agree += int((lab_a == lab_b).sum())
        correct += int((lab_a == label_true).sum())
        total += len(pts)
        print(f"[eval] subject {i + 1}/{args.subjects}: {len(pts)} surface points, {time.time() - t0:.0f} s",
              file=sys.stderr, flush=True)
    scores = segmentation_scores(conf)
    fg = segmentation_scores(conf, include_background=False)
    report = {
        "generator": args.generator, "semantic": args.semantic, "subjects": args.subjects, "no_warp": args.no_warp,
        "held_out": {"seeds_from": HELDOUT_SEED_START, "pose_seeds_from": HELDOUT_POSE_SEED},
        "individual": {"miou": scores.miou, "miou_foreground": fg.miou, "accuracy": scores.accuracy,
                       "iou": {name: (None if v != v else round(float(v), 4))
                               for name, v in zip(labeled.label_set.names, scores.iou.tolist())}},
        "across_poses": {"points": total, "agreement": agree / max(total, 1), "accuracy_3d": correct / max(total, 1),
                         "boundary": BOUNDARY},
        "seconds": round(time.time() - t0, 1),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
