#!/usr/bin/env python
"""A labeled learned generator vs the procedural oracle on held-out seeds (never annotated).

    .venv/bin/python research/scripts/eval_semantic.py --generator default:car --out research/results/semantic_car.json
    .venv/bin/python research/scripts/eval_semantic.py --generator default:face --semantic face-semantic.pt --video 2

Without --semantic, `default:<category>` uses the semantic branch shipped beside its weights.
Writes JSON and prints a markdown row: individual-set mIoU / accuracy (random poses in the
training range), video-set mIoU (61-frame orbits), and 3D label agreement across views and with
the oracle's 3D labels (dnerf_research.semantic_quality). 2D scores against both exact truths:
"image" (the oracle's 3D parts on the surface each evaluated image shows: what an annotator of
that image draws, the kits' masks and the paper's protocol; JSON keys individual_image and
video.segmentation_image) and "world" (the oracle's own render of the seed, which also counts the
generator's geometric error; keys individual and video.segmentation). "label_ceiling": the individual set
scored for the oracle's exact 3D labels on the generator's own surface (dnerf_research.label_ceiling),
the most a labeling of this generator's surface by its true 3D parts reaches; --no-ceiling skips it.
--training-kit KIT scores the branch on its own annotated views instead (a fit diagnostic, not a
held-out score):

    .venv/bin/python research/scripts/eval_semantic.py --generator default:face --semantic runs/semantic_face.pt \
        --training-kit runs/kit_face --out research/results/fit_face_image.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# research/ (dnerf_research) and, for a source checkout, the repository root (dnerf_core)
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from dnerf_core.lab import retain_freed_memory  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", required=True, help="e.g. default:car, or a .pt file with --semantic")
    parser.add_argument("--semantic", default=None, help="semantic checkpoint (default: the shipped one)")
    parser.add_argument("--category", default=None, help="oracle category (default: from the spec)")
    parser.add_argument("--individual", type=int, default=90, help="held-out subjects at random poses")
    parser.add_argument("--video", type=int, default=5, help="held-out subjects with 61-frame orbits")
    parser.add_argument("--frames", type=int, default=61)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the label ceiling of the generator")
    parser.add_argument("--training-kit", type=Path, default=None,
                        help="instead of the held-out sets: score the branch on this annotation kit's own views "
                             "and masks (how well it fits its training data)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    retain_freed_memory()  # dnerf_core.allocator: big step temporaries reused, not faulted in again

    from dnerf_research.label_ceiling import label_ceiling
    from dnerf_research.semantic_quality import evaluate_semantic
    from dnerf_core.lab import emit_json, ProceduralGenerator
    import dnerf_core as dn

    labeled = dn.load_generator(args.generator, args.semantic)
    category = args.category or labeled.spec.category
    if labeled.label_set is None:
        sys.exit(f"{args.generator} has no labels: pass --semantic")
    if args.training_kit is not None:
        from dnerf_core import DnerfError
        from dnerf_research.semantic_quality import evaluate_annotations
        from dnerf_core import load_kit

        try:
            fit = evaluate_annotations(labeled, load_kit(args.training_kit))
        except DnerfError as exc:
            sys.exit(f"eval_semantic.py: error: {exc}")
        emit_json({"generator": args.generator, "semantic": args.semantic or "shipped", "category": category,
                   "training_kit": str(args.training_kit), "training_views": fit.to_dict()}, args.out)
        print(f"| {args.generator} | {args.training_kit} | training-view mIoU {fit.miou:.3f} | accuracy {fit.accuracy:.3f} |")
        return
    oracle = ProceduralGenerator(category)
    quality = evaluate_semantic(labeled, oracle, n_individual=args.individual, n_video=args.video,
                                n_frames=args.frames)
    report = {"generator": args.generator, "semantic": args.semantic or "shipped", "category": category,
              **quality.to_dict()}
    if not args.no_ceiling:
        ceiling = label_ceiling(labeled.generator, oracle, args.individual)
        report["label_ceiling"] = ceiling.to_dict()
    emit_json(report, args.out)
    ind, vid = quality.individual, quality.video
    ind_img, vid_img = quality.individual_image, quality.video.segmentation_image
    print("| generator | mIoU image / world | accuracy image / world | video mIoU image / world "
          "| 3D across views | 3D vs oracle |")
    print(f"| {args.generator} | {ind_img.miou:.3f} / {ind.miou:.3f} | {ind_img.accuracy:.3f} / {ind.accuracy:.3f} "
          f"| {vid_img.miou:.3f} / {vid.segmentation.miou:.3f} "
          f"| {vid.consistency.cross_view_agreement:.3f} | {vid.consistency.oracle_agreement:.3f} |")
    if "label_ceiling" in report:
        print(f"label ceiling of the generator's geometry: mIoU {report['label_ceiling']['miou']:.3f}")


if __name__ == "__main__":
    main()
