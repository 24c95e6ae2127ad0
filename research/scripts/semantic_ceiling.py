#!/usr/bin/env python
"""How well can a semantic field on the default generator's geometry label ONE subject at all?

    .venv/bin/python research/scripts/semantic_ceiling.py --category face --mode features --out research/results/semantic_ceiling_face_features.json
    .venv/bin/python research/scripts/semantic_ceiling.py --category face --mode free --out research/results/semantic_ceiling_face_free.json

One held-out subject of the default generator, many annotated views of it (random orbit poses,
image masks: the oracle's 3D part at the generator's surface point each pixel shows, as
`annotate-kit --oracle` makes them), scored on other poses of the same subject:

  features  the DatasetNeRF branch as shipped (decoder on the frozen generator's augmented
            tri-plane, density prior, super-resolution), trained on this one subject only;
  free      the same decoder, density prior and super-resolution, but the semantic tri-plane
            (already in the decoder's first-layer space, 3 x hidden x R x R) is a free tensor
            optimized per subject, started from the generator's (--plane-resolution R).

  given     a trained branch (--semantic CKPT, e.g. the 30-subject one) scored on the same views,
            not trained further: what it gives this subject.

`free` bounds what any branch on this generator's geometry and rendering can reach per subject;
`features` is what the generator's features let a branch reach for one subject with ample views.
The issue's 90-view, 30-subject branch has to do it for every seed from 3 views each.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# research/ (dnerf_research) and, for a source checkout, the repository root (dnerf_core)
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from dnerf_core.lab import retain_freed_memory  # noqa: E402

TRAIN_POSE_SEED, TEST_POSE_SEED = 11, 12
# Free planes start at the generator's projected features (values of order 1) and must move by
# about that much: ten times the decoder's learning rate.
FREE_PLANE_LR_MULTIPLIER = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, choices=["car", "face"])
    parser.add_argument("--mode", required=True, choices=["features", "free", "given"])
    parser.add_argument("--semantic", type=Path, default=None, help="the branch scored by --mode given")
    parser.add_argument("--seed", type=int, default=1_000_002, help="the subject (held out)")
    parser.add_argument("--train-views", type=int, default=40)
    parser.add_argument("--test-views", type=int, default=20)
    parser.add_argument("--steps", type=int, default=600, help="0: score the untrained start")
    parser.add_argument("--plane-resolution", type=int, default=None, help="free planes' resolution [generator's]")
    parser.add_argument("--class-balance", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if (args.mode == "given") != (args.semantic is not None):
        parser.error("--semantic CKPT goes with --mode given (and only with it)")
    retain_freed_memory()

    import torch
    import torch.nn.functional as F

    from dnerf_core import SemanticConfig, SemanticTrainConfig
    from dnerf_core.lab import (batch_loss, class_weights, confusion_matrix, decay_learning_rates, emit_json,
                                load_base_generator as load_generator, load_semantic, oracle_labels_on_surface,
                                prepare_views, ProceduralGenerator, random_orbit_cameras, segmentation_scores,
                                SemanticBranch, to_resolution)

    torch.set_num_threads(args.threads)
    t0 = time.time()
    gen, oracle = load_generator(f"default:{args.category}"), ProceduralGenerator(args.category)
    for p in gen.parameters():
        p.requires_grad_(False)
    k = len(oracle.label_set)
    subject = gen.sample([args.seed])

    @torch.no_grad()
    def image_truth(cams):
        out = gen.render(subject, cams)
        depth, opacity = to_resolution(out.depth, out.opacity, tuple(out.rgb.shape[-2:]))
        return oracle_labels_on_surface(oracle, [args.seed], cams, depth, opacity)

    train_cams = random_orbit_cameras(args.train_views, gen.orbit, torch.Generator().manual_seed(TRAIN_POSE_SEED))
    test_cams = random_orbit_cameras(args.test_views, gen.orbit, torch.Generator().manual_seed(TEST_POSE_SEED))
    train_masks, test_masks = image_truth(train_cams), image_truth(test_cams)
    cfg = SemanticTrainConfig(steps=args.steps, class_balance=args.class_balance)
    _, views = prepare_views(gen, [args.seed] * args.train_views, train_cams, train_masks, cfg.prune_weight)
    weight = class_weights(train_masks, k, cfg.class_balance)

    torch.manual_seed(cfg.seed)
    if args.mode == "given":
        branch, _ = load_semantic(args.semantic, gen)
        cfg = SemanticTrainConfig(steps=0)
    else:
        branch = SemanticBranch.for_generator(gen, SemanticConfig(num_classes=k)).train()
    groups = [{"params": list(branch.parameters()), "lr": cfg.lr}]
    free = None
    if args.mode == "free":
        with torch.no_grad():
            start = branch.planes(subject)  # [1,3,hidden,R,R]
            if args.plane_resolution and args.plane_resolution != start.shape[-1]:
                r = args.plane_resolution
                start = F.interpolate(start.flatten(1, 2), size=(r, r), mode="bilinear",
                                      align_corners=False).reshape(*start.shape[:3], r, r)
        free = torch.nn.Parameter(start.clone())
        lr = cfg.lr * FREE_PLANE_LR_MULTIPLIER
        groups.append({"params": [free], "lr": lr})
    base_lrs = [g["lr"] for g in groups]
    opt = torch.optim.Adam(groups)
    order = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for step in range(cfg.steps):
        decay_learning_rates(opt, base_lrs, step, cfg)
        pick = torch.randperm(len(views), generator=order)[:cfg.views_per_step].tolist()
        loss = batch_loss(branch, views, pick, lambda _: free if free is not None else branch.planes(subject),
                          cfg, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}: loss {sum(losses[-50:]) / 50:.4f} ({time.time() - t0:.0f} s)", file=sys.stderr)

    branch.eval()

    @torch.no_grad()
    def score(cams, masks) -> dict:
        planes = free if free is not None else branch.planes(subject)
        labels = branch.render(gen, subject, cams, planes=planes).labels
        s = segmentation_scores(confusion_matrix(labels, masks, k))
        iou = {n: (None if v != v else round(v, 4)) for n, v in zip(oracle.label_set.names, s.iou.tolist())}
        return {"miou": s.miou, "accuracy": s.accuracy, "per_class_iou": iou}

    emit_json({"category": args.category, "mode": args.mode, "seed": args.seed, "steps": cfg.steps,
               "semantic": None if args.semantic is None else str(args.semantic),
               "plane_resolution": None if free is None else free.shape[-1], "class_balance": args.class_balance,
               "train_views": args.train_views, "test_views": args.test_views,
               "final_loss": sum(losses[-50:]) / len(losses[-50:]) if losses else None,
               "train": score(train_cams, train_masks), "test": score(test_cams, test_masks),
               "seconds": round(time.time() - t0, 1)}, args.out)


if __name__ == "__main__":
    main()
