"""Semantic quality against the oracle: perfect for the oracle itself, hand-computable drops for
label swaps, 3D consistency that separates consistent from view-dependent errors, the
DatasetGAN-style baseline, and the tables script end to end on a tiny generator."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dnerf_core import GeneratorSpec
from dnerf_core.cameras import Cameras, orbit_cameras
from dnerf_core.errors import AnnotationError
from dnerf_research.baseline import (BaselineConfig, DatasetGANBaseline, load_baseline, pixel_features,
                                      save_baseline, train_baseline)
from dnerf_core.io.metrics import confusion_matrix, segmentation_scores
from dnerf_research.semantic_quality import (cross_view_agreement, evaluate_annotations, evaluate_individual,
                                              evaluate_video)
from dnerf_core.io.splits import HELDOUT_SEED_START
from dnerf_core.generators.base import RenderOutput
from dnerf_core.generators.procedural import ProceduralGenerator
from dnerf_core.semantic.annotations import kit_views

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

RES = 16
REPO = Path(__file__).resolve().parents[2]


class Relabeled:
    """The oracle with labels a and b exchanged (only in views where `swap(cameras)` is True):
    a real prediction with known, hand-countable errors; depth and opacity stay exact."""

    def __init__(self, oracle, a, b, swap=lambda cams: torch.ones(len(cams), dtype=torch.bool)):
        self.oracle, self.a, self.b, self.swap = oracle, a, b, swap
        self.orbit, self.bounds, self.label_set = oracle.orbit, oracle.bounds, oracle.label_set

    def sample(self, seeds, truncation=1.0):
        return self.oracle.sample(seeds, truncation)

    def render(self, subject, cameras, resolution=None):
        out = self.oracle.render(subject, cameras, resolution)
        lab = out.labels
        swapped = torch.where(lab == self.a, self.b, torch.where(lab == self.b, self.a, lab))
        on = self.swap(cameras)[:, None, None]
        return RenderOutput(out.rgb, out.rgb_raw, out.depth, out.opacity, labels=torch.where(on, swapped, lab))


@pytest.fixture(scope="module")
def oracle():
    return ProceduralGenerator("car")


def test_oracle_scores_perfectly_in_2d_and_3d(oracle):
    ind = evaluate_individual(oracle, oracle, n_subjects=3, resolution=RES)
    assert ind.miou == 1.0 and ind.accuracy == 1.0 and ind.miou_parts == 1.0
    assert ind.per_class_iou["background"] == 1.0 and ind.n_views == 3 and ind.resolution == RES
    vid = evaluate_video(oracle, oracle, n_subjects=1, n_frames=12, resolution=RES)
    assert vid.segmentation.miou == 1.0 and vid.segmentation.accuracy == 1.0
    con = vid.consistency
    assert con.n_points > 0 and con.n_voted > 0
    # labels back-projected through the depth land on the oracle's own 3D labels exactly
    assert con.oracle_agreement == 1.0
    assert con.cross_view_agreement == con.cross_view_ceiling >= 0.9
    assert json.loads(json.dumps(vid.to_dict()))["consistency"]["oracle_agreement"] == 1.0
    # on the oracle's own images both truths are its exact labels
    image = evaluate_individual(oracle, oracle, n_subjects=3, resolution=RES, truth="image")
    assert image.miou == 1.0 and image.accuracy == 1.0
    assert vid.segmentation_image.miou == 1.0 and vid.segmentation_image.n_views == 12


def test_both_truths_in_one_evaluation(oracle):
    """evaluate_semantic scores the same renders against both truths: each equals the single-truth call."""
    from dnerf_research.semantic_quality import evaluate_semantic

    labeled = Relabeled(oracle, 1, 4)
    q = evaluate_semantic(labeled, oracle, n_individual=3, n_video=1, n_frames=6, resolution=RES)
    for truth, got in (("world", q.individual), ("image", q.individual_image)):
        assert got == evaluate_individual(labeled, oracle, n_subjects=3, resolution=RES, truth=truth)
    assert q.individual.miou < 1.0
    d = json.loads(json.dumps(q.to_dict()))
    assert d["individual_image"]["miou"] == q.individual_image.miou
    assert d["video"]["segmentation_image"]["n_views"] == 6


def test_swapping_two_labels_costs_a_hand_computable_amount(oracle):
    seeds = list(range(HELDOUT_SEED_START, HELDOUT_SEED_START + 3))
    from dnerf_core.cameras import random_orbit_cameras
    from dnerf_core.io.splits import EVAL_POSE_SEED

    cams = random_orbit_cameras(3, oracle.orbit, torch.Generator().manual_seed(EVAL_POSE_SEED))
    truth = oracle.render(oracle.sample(seeds), cams, RES).labels
    counts = torch.bincount(truth.flatten(), minlength=len(oracle.label_set))
    present = int((counts > 0).sum())
    a, b = 1, 4  # body and window
    assert counts[a] > 0 and counts[b] > 0
    ind = evaluate_individual(Relabeled(oracle, a, b), oracle, n_subjects=3, resolution=RES)
    # a and b exchanged everywhere: both IoUs drop to 0, every other class stays at 1
    assert ind.miou == pytest.approx((present - 2) / present)
    assert ind.accuracy == pytest.approx(1 - (counts[a] + counts[b]).item() / truth.numel())
    assert ind.per_class_iou["body"] == 0.0 and ind.per_class_iou["window"] == 0.0
    assert ind.per_class_iou["background"] == 1.0


def test_fit_on_a_kits_own_views(oracle, tmp_path):
    from dataclasses import replace

    from dnerf_core.semantic.annotations import load_kit, make_kit

    kit = load_kit(make_kit(oracle, tmp_path / "kit", subjects=2, views=2, oracle=True,
                            oracle_masks="world"))
    fit = evaluate_annotations(oracle, kit)  # the oracle labels its own kit exactly
    assert fit.miou == 1.0 and fit.n_subjects == 2 and fit.n_views == 4 and fit.resolution == kit.resolution
    masks = kit.masks.clone()
    body = masks[0] == 1
    masks[0][body] = 255  # ignored pixels do not count
    masks[1][masks[1] == 1] = 2  # body annotated as hood in one view
    fit = evaluate_annotations(oracle, replace(kit, masks=masks))
    n_body = int((kit.masks[1] == 1).sum())
    n_hood = int((kit.masks == 2).sum()) + n_body
    assert fit.per_class_iou["hood"] == pytest.approx((n_hood - n_body) / n_hood)
    with pytest.raises(AnnotationError, match="labels background, body"):  # a car kit for the face oracle
        evaluate_annotations(ProceduralGenerator("face"), kit)


def test_3d_consistency_separates_consistent_from_view_dependent_errors(oracle):
    consistent = evaluate_video(Relabeled(oracle, 1, 4), oracle, n_subjects=1, n_frames=12, resolution=RES).consistency
    # the same swap in every view: wrong against the oracle, but the views agree with each other
    assert consistent.cross_view_agreement == consistent.cross_view_ceiling
    assert consistent.oracle_agreement < 0.9
    # the swap only in views from the +x side: now the views contradict each other in 3D
    half = Relabeled(oracle, 1, 4, swap=lambda cams: cams.positions[:, 0] > 0)
    flaky = evaluate_video(half, oracle, n_subjects=1, n_frames=12, resolution=RES).consistency
    assert flaky.cross_view_agreement < consistent.cross_view_agreement - 0.05
    assert consistent.oracle_agreement < flaky.oracle_agreement < 1.0


def test_cross_view_agreement_by_hand():
    # voxel (0,0,0): frame 0 says 1, frame 1 says 1, frame 2 says 2; voxel (5,0,0): frame 0 only
    pts = np.array([[0.1, 0.1, 0.1], [0.2, 0.2, 0.2], [0.3, 0.3, 0.3], [5.1, 0.1, 0.1], [5.2, 0.2, 0.2]])
    labels = np.array([1, 1, 2, 3, 1])
    frames = np.array([0, 1, 2, 0, 0])
    share, voted = cross_view_agreement(pts, labels, frames, 1.0, 4)
    # frame 0: others {1, 2} tie -> 1, agrees; frame 1: others {1, 2} -> 1, agrees; frame 2:
    # others {1, 1} -> 1, disagrees; the single-frame voxel is not voted on
    assert voted == 3 and share == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def tiny_annotations(oracle):
    rig = kit_views(oracle.orbit, 3)
    cams = orbit_cameras(torch.tensor([v.yaw for v in rig]), torch.tensor([v.pitch for v in rig]), oracle.orbit)
    seeds, all_cams, masks = [], [], []
    for s in (0, 1, 2):
        masks.append(oracle.render(oracle.sample([s]), cams, RES).labels)
        seeds += [s] * len(rig)
        all_cams.append(cams)
    return seeds, Cameras.cat(all_cams), torch.cat(masks)


def test_baseline_fits_its_annotations_and_round_trips(oracle, tiny_annotations, tmp_path, small_generator):
    seeds, cams, masks = tiny_annotations
    gen = small_generator()
    masks = masks.clone()
    masks[0, :4] = 255  # ignored pixels must not break training
    clf = train_baseline(gen, oracle.label_set, seeds, cams, masks, BaselineConfig(n_models=2, steps=300))
    baseline = DatasetGANBaseline(gen, clf, oracle.label_set)
    k = len(oracle.label_set)
    conf = torch.zeros(k, k, dtype=torch.int64)
    for s in sorted(set(seeds)):
        idx = [i for i, x in enumerate(seeds) if x == s]
        out = baseline.render(baseline.sample([s]), cams[idx])
        assert out.labels.shape == (len(idx), RES, RES) and torch.allclose(out.semantic.sum(1), torch.ones(1))
        conf += confusion_matrix(out.labels, masks[idx], k)
    scores = segmentation_scores(conf)
    # chance: always answering the most frequent annotated class
    known = masks[masks != 255]
    majority = torch.bincount(known).max().item() / known.numel()
    chance_miou = segmentation_scores(confusion_matrix(torch.full_like(known, int(torch.bincount(known).argmax())),
                                                       known, k)).miou
    assert scores.accuracy > majority + 0.05
    assert scores.miou > chance_miou + 0.1
    path = tmp_path / "baseline.pt"
    save_baseline(path, clf, oracle.label_set, {"views": len(seeds)})
    clf2, labels, extra = load_baseline(path)
    assert labels == oracle.label_set and extra == {"views": len(seeds)}
    out = gen.render(gen.sample([0]), cams[:2])
    feats = pixel_features(out)
    assert feats.shape[1] == out.features.shape[1] + 3
    assert torch.equal(clf.classify_image(feats), clf2.classify_image(feats))
    # the adapter goes through the same evaluation as the semantic branch
    ind = evaluate_individual(baseline, oracle, n_subjects=2)
    assert 0.0 <= ind.miou <= 1.0 and ind.resolution == RES
    con = evaluate_video(baseline, oracle, n_subjects=1, n_frames=24).consistency
    assert con.n_points > 0 and con.n_voted > 0
    assert 0.0 <= con.cross_view_agreement <= 1.0 and 0.0 <= con.oracle_agreement <= 1.0


def _load_script():
    spec = importlib.util.spec_from_file_location("reproduce_tables", REPO / "research" / "scripts" / "reproduce_tables.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the file executes
    spec.loader.exec_module(module)
    return module


def test_reproduce_tables_quick_path_writes_json_and_markdown(tmp_path, small_generator):
    rt = _load_script()
    settings = rt.TableSettings(kit_subjects=3, steps=3, baseline_steps=5, n_individual=2, n_video=1, n_frames=4)
    gen = small_generator()
    gen.spec = GeneratorSpec.parse("default:car")  # a stand-in for the shipped car generator
    out = tmp_path / "tables_car.json"
    report = rt.run_tables(gen, "car", settings, tmp_path / "work", out, quick=True)
    data = json.loads(out.read_text())
    assert set(data["tables"]) == {"tab1", "tab4", "tab5"}
    assert set(data["rows"]) == set(rt.ROWS)
    assert [data["rows"][n]["annotated_views"] for n in data["tables"]["tab5"]] == [3, 6, 9]
    assert not [n for n, rec in data["rows"].items() if "error" in rec]  # the ablations without the prior too
    assert data["rows"]["datasetnerf"]["video"]["consistency"]["n_points"] > 0
    for rec in data["rows"].values():
        assert set(rec["individual"]) >= {"miou", "accuracy", "per_class_iou"}
        con = rec["video"]["consistency"]
        assert set(con) >= {"cross_view_agreement", "oracle_agreement", "cross_view_ceiling"}
        assert 0.0 <= rec["individual"]["accuracy"] <= 1.0
    assert "NaN" not in out.read_text()  # strict JSON: nothing-to-measure is null
    assert data["conventions"]["miou"].startswith("mean IoU over the label set's classes INCLUDING background")
    md = out.with_suffix(".md").read_text()
    assert "Tab. 1" in md and "Tab. 4" in md and "Tab. 5" in md and "DatasetGAN-style" in md
    assert len(list((tmp_path / "work" / "kit" / "masks").glob("*.png"))) == 9
    # resumable: a second run with the same arguments reuses every row and gives the same report
    ckpts = {p: p.stat().st_mtime_ns for p in (tmp_path / "work" / "checkpoints").iterdir()}
    again = rt.run_tables(gen, "car", settings, tmp_path / "work", out, quick=True)
    assert again["rows"] == report["rows"]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "work" / "checkpoints").iterdir()} == ckpts


def test_reproduce_tables_command_line_quick_run(tmp_path, capsys, small_generator):
    from dnerf_core.generators.triplane_io import save_triplane

    rt = _load_script()
    weights = tmp_path / "tiny_car.pt"
    save_triplane(weights, small_generator())
    out = tmp_path / "tables.json"
    argv = ["--category", "car", "--generator", str(weights), "--quick", "--steps", "2", "--baseline-steps", "3",
            "--individual", "2", "--frames", "3", "--out", str(out), "--workdir", str(tmp_path / "work")]
    rt.main(argv)
    data = json.loads(out.read_text())
    assert data["generator"] == str(weights) and data["quick"] is True
    assert data["settings"]["steps"] == 2 and data["settings"]["n_frames"] == 3 and data["settings"]["kit_subjects"] == 3
    assert "error" not in data["rows"]["datasetnerf"] and "error" not in data["rows"]["datasetgan"]
    assert "| DatasetNeRF (ours) |" in capsys.readouterr().out
    # --rows runs (here: reuses) only the rows named, an unknown one is refused before any work
    rt.main([*argv, "--rows", "datasetgan,datasetnerf"])
    assert set(json.loads(out.read_text())["rows"]) == {"datasetgan", "datasetnerf"}
    with pytest.raises(SystemExit) as exc:
        rt.main([*argv, "--rows", "datasetnerf,tab9"])
    assert exc.value.code == 2 and "unknown row(s) tab9" in capsys.readouterr().err
    # the workdir's kit holds image masks (the default): a run asking for world masks is refused
    assert data["settings"]["kit_masks"] == "image" and "(image masks)" in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit) as exc:
        rt.main([*argv, "--kit-masks", "world"])
    assert "with image masks" in str(exc.value.code) and "world masks" in str(exc.value.code)
