#!/usr/bin/env python
"""The best per-point labels local attributes of a surface allow, across subjects (eval.label_bound).

    .venv/bin/python research/scripts/label_bound.py --category face --source generator --out research/results/label_bound_face_generator.json
    .venv/bin/python research/scripts/label_bound.py --category face --source oracle --out research/results/label_bound_face_oracle.json
    .venv/bin/python research/scripts/label_bound.py --category face --source fit --train-subjects 12 --test-subjects 8 \
        --out research/results/label_bound_face_fit.json

Training surfaces: subjects 0..N-1 (the annotation kit's seeds) in the kit's frontal + two side
views; test surfaces: held-out seeds at random evaluation poses. Sources: `oracle` (exact
geometry and color), `generator` (the default generator of the category), `fit` (free planes
fitted to each subject, eval.plane_fit: slow, ~1-3 minutes per subject at --fit-steps 1000).
One classifier per attribute set; the JSON has parts mIoU, mIoU with exact background (image
truth, comparable to a branch's) and per-class IoU of each.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# research/ (dnerf_research) and, for a source checkout, the repository root (dnerf_core)
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from dnerf_core.lab import retain_freed_memory  # noqa: E402

DEFAULT_ATTRIBUTES = {"oracle": "p,pn,pc,pnc", "generator": "p,pn,pc,pnc,f,fp,fpnc", "fit": "p,pn,pc,pnc"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, choices=["car", "face"])
    parser.add_argument("--source", required=True, choices=sorted(DEFAULT_ATTRIBUTES))
    parser.add_argument("--attributes", default=None, help="comma-separated sets of letters p,n,c,f [per source]")
    parser.add_argument("--train-subjects", type=int, default=30)
    parser.add_argument("--views", type=int, default=3, help="kit views per training subject")
    parser.add_argument("--test-subjects", type=int, default=20)
    parser.add_argument("--test-views", type=int, default=3, help="random evaluation poses per held-out subject")
    parser.add_argument("--steps", type=int, default=None, help="classifier steps [LocalClassifierConfig's]")
    parser.add_argument("--fit-steps", type=int, default=1000, help="source fit: plane-fit steps per subject")
    parser.add_argument("--fit-resolution", type=int, default=64, help="source fit: plane resolution")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    retain_freed_memory()

    import torch

    from dnerf_core.lab import orbit_cameras, random_orbit_cameras
    from dnerf_research.label_bound import (LocalClassifierConfig, check_attributes, field_surface,
                                             local_label_bound, oracle_surface)
    from dnerf_research.plane_fit import PlaneFitConfig, fit_planes
    from dnerf_core.lab import (emit_json, EVAL_POSE_SEED, heldout_seeds, kit_views, load_base_generator as
                                load_generator, ProceduralGenerator)

    for name in ("train_subjects", "views", "test_subjects", "test_views", "fit_resolution", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    sets = (args.attributes or DEFAULT_ATTRIBUTES[args.source]).split(",")
    try:
        sets = [check_attributes(s) for s in sets]
    except ValueError as e:
        parser.error(str(e))
    if args.source != "generator" and any("f" in s for s in sets):
        parser.error("attribute f (raw tri-plane features) needs --source generator")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    oracle = ProceduralGenerator(args.category)
    gen = load_generator(f"default:{args.category}") if args.source == "generator" else None
    orbit = oracle.orbit if gen is None else gen.orbit
    rig = kit_views(orbit, args.views)
    train_cams = orbit_cameras([v.yaw for v in rig], [v.pitch for v in rig], orbit)
    test_seeds = heldout_seeds(args.test_subjects)
    test_cams = random_orbit_cameras(args.test_subjects * args.test_views, orbit,
                                     torch.Generator().manual_seed(EVAL_POSE_SEED))
    fit_cfg = PlaneFitConfig(resolution=args.fit_resolution, steps=args.fit_steps)

    def surface(seed, cams):
        if args.source == "oracle":
            return oracle_surface(oracle, seed, cams)
        if args.source == "generator":
            subject = gen.sample([seed])
            return field_surface(gen.field(subject), gen.rendering, oracle, seed, cams, subject.planes)
        return field_surface(fit_planes(oracle, seed, fit_cfg).field, oracle.rendering, oracle, seed, cams)

    train = [surface(s, train_cams) for s in range(args.train_subjects)]
    v = args.test_views
    test = [surface(s, test_cams[i * v:(i + 1) * v]) for i, s in enumerate(test_seeds)]
    print(f"surfaces ready ({time.time() - t0:.0f} s)", file=sys.stderr)
    cfg = LocalClassifierConfig() if args.steps is None else LocalClassifierConfig(steps=args.steps)
    half = oracle.rendering.box_warp / 2
    names = oracle.label_set.names
    results = {}
    for attributes in sets:
        b = local_label_bound(train, test, attributes, len(names), half, cfg)
        results[attributes] = {"parts_miou": round(b.parts_miou, 4), "image_miou": round(b.image_miou, 4),
                               "train_parts_miou": round(b.train_parts_miou, 4),
                               "per_class_iou": {n: (None if x != x else round(x, 4)) for n, x in zip(names, b.per_class_iou)}}
        print(f"{attributes}: parts {b.parts_miou:.3f}, image {b.image_miou:.3f} (train parts {b.train_parts_miou:.3f})",
              file=sys.stderr)
    emit_json({"category": args.category, "source": args.source, "train_subjects": args.train_subjects,
               "views": args.views, "test_subjects": args.test_subjects, "test_views": args.test_views,
               "fit_steps": args.fit_steps if args.source == "fit" else None,
               "fit_resolution": args.fit_resolution if args.source == "fit" else None, "classifier_steps": cfg.steps,
               "results": results, "seconds": round(time.time() - t0, 1)}, args.out)


if __name__ == "__main__":
    main()
