"""Downstream segmentation (issue 25): each network learns a case it can only get right by
shape / global context, the scores follow their protocols, the one-render data shortcut equals
the library's own output, and the whole pipeline runs on a tiny case."""
import json
import math
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

import dnerf_core as dn
from dnerf_research.baseline import BaselineConfig, DatasetGANBaseline, PixelClassifier
from dnerf_research.downstream.data import (STUDY_RENDER, Cloud, DataConfig, ImageSet, build_all, generated_subjects,
                                            load_generated_row, load_kit_row, load_test, render_generated,
                                            train_cameras)
from dnerf_research.downstream.report import seed_table, write_report
from dnerf_research.downstream.dataset_row import load_dataset_row
from dnerf_research.downstream.run import ROWS_DIR, row_plan, rows_dir_name, run_dataset_row, run_world
from dnerf_research.downstream.score import scores_2d, scores_3d, shape_miou, video_scores, warp_pairs
from dnerf_research.downstream.train import (TrainConfig, predict_pointnet, predict_seg2d, train_pointnet,
                                             train_seg2d)

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[2]


def _shapes(n: int, size: int, seed: int) -> ImageSet:
    """One square (class 1) and one disk (class 2) per image, the SAME random color and similar
    areas, at random places on a noisy background: only their shape tells them apart."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    rgb = torch.empty(n, size, size, 3, dtype=torch.uint8)
    labels = torch.zeros(n, size, size, dtype=torch.int64)
    for i in range(n):
        color = torch.rand(3, generator=g)
        img = torch.rand(size, size, 3, generator=g) * 0.3 + 0.35
        r = int(torch.randint(4, 7, (1,), generator=g))
        half = size // 2
        # square on one half, disk on the other, which half is random: position alone does not decide
        left_square = bool(torch.rand(1, generator=g) < 0.5)
        for cls, lo in ((1, 0 if left_square else half), (2, half if left_square else 0)):
            cx = lo + int(torch.randint(r, half - r, (1,), generator=g))
            cy = int(torch.randint(r, size - r, (1,), generator=g))
            if cls == 1:
                inside = ((xx - cx).abs() <= r - 1) & ((yy - cy).abs() <= r - 1)
            else:
                inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= (r * 1.1) ** 2
            img[inside] = color
            labels[i][inside] = cls
        rgb[i] = (img * 255).round().to(torch.uint8)
    return ImageSet(rgb, labels)


@pytest.mark.slow
def test_seg2d_learns_shapes_it_can_only_tell_apart_by_shape():
    cfg = TrainConfig(steps_2d=400, batch_2d=8, lr_2d=5e-3)
    trained = train_seg2d(_shapes(96, 32, seed=1), 3, cfg)
    test = _shapes(32, 32, seed=2)
    s = scores_2d(predict_seg2d(trained.model, test.rgb), test.labels, ["background", "square", "disk"])
    assert s.miou > 0.9, s
    # a net that is not trained does not get there (the bar is not trivially met)
    untrained = train_seg2d(_shapes(8, 32, seed=1), 3, TrainConfig(steps_2d=1))
    assert scores_2d(predict_seg2d(untrained.model, test.rgb), test.labels, ["b", "s", "d"]).miou < 0.6


def _split_clouds(n: int, seed: int) -> list[Cloud]:
    """Ellipsoid shells at random offsets and sizes, part 1 where x is below the cloud's OWN
    center, part 2 above: a fixed plane in space does not separate them, the global feature must."""
    g = torch.Generator().manual_seed(seed)
    clouds = []
    for _ in range(n):
        m = int(torch.randint(300, 700, (1,), generator=g))
        d = torch.randn(m, 3, generator=g)
        d = d / d.norm(dim=1, keepdim=True)
        center = (torch.rand(3, generator=g) - 0.5) * 1.0
        pts = center + d * (0.15 + 0.25 * torch.rand(3, generator=g))
        clouds.append(Cloud(pts.float(), torch.where(pts[:, 0] < center[0], 1, 2).long()))
    return clouds


@pytest.mark.slow
def test_pointnet_learns_a_plane_split_that_needs_the_global_feature():
    cfg = TrainConfig(steps_3d=300, batch_3d=8, points=256, lr_3d=5e-3)
    trained = train_pointnet(_split_clouds(64, seed=3), 2, scale=1.0, cfg=cfg)
    test = _split_clouds(24, seed=4)
    s = scores_3d([predict_pointnet(trained, c) for c in test], test, ["background", "left", "right"])
    assert s.instance_miou > 0.9, s
    assert s.part_iou["left"] > 0.85 and s.part_iou["right"] > 0.85


def test_shapenet_part_rule_counts_absent_parts_as_one():
    truth = np.array([1, 1, 2, 2])
    assert shape_miou(np.array([1, 1, 2, 2]), truth, [1, 2, 3]) == 1.0  # part 3 absent in both -> 1
    assert shape_miou(np.array([1, 1, 2, 3]), truth, [1, 2, 3]) == pytest.approx((1 + 0.5 + 0) / 3)
    s = scores_3d([torch.tensor([1, 2, 2, 2])], [Cloud(torch.zeros(4, 3), torch.tensor([1, 1, 2, 2]))],
                  ["background", "a", "b"])
    assert s.instance_miou == pytest.approx((0.5 + 2 / 3) / 2, abs=1e-4)
    assert s.accuracy == pytest.approx(0.75, abs=1e-4)


def test_video_consistency_warps_by_the_oracles_depth():
    oracle = dn.load_generator("procedural:face", device="cpu")
    from dnerf_core.cameras import video_orbit_cameras

    cams = video_orbit_cameras(6, oracle.orbit)
    got = dn.label_subject(oracle, 1_300_000, cameras=cams, resolution=32, cloud=False, mesh=False)
    from dnerf_research.downstream.data import VideoSet

    video = VideoSet(got.views.rgb[None], got.views.labels[None], got.views.depth[None], got.views.opacity[None],
                     cams.cam2world[None].float(), cams.intrinsics[None].float())
    pairs = warp_pairs(video.depth[0], video.opacity[0], video.cam2world[0], video.intrinsics[0])
    assert all(len(a) > 50 for a, _ in pairs)
    names = oracle.label_set.names
    exact = video_scores(video.labels, video, names)
    assert exact.consistency == exact.consistency_truth > 0.85  # warped truth lands on the same part
    assert exact.segmentation.miou == 1.0
    flicker = video.labels.clone()
    flicker[0, 1::2] = torch.roll(flicker[0, 1::2], shifts=3, dims=-1)  # every other frame shifted 3 pixels
    assert video_scores(flicker, video, names).consistency < exact.consistency - 0.05


@pytest.mark.slow
def test_one_render_gives_the_librarys_views_for_both_generated_rows(car):
    """data.render_generated renders once for rows dnerf and baseline; it must equal what
    dn.label_subject gives for the branch and for the baseline as a generator of its own."""
    plain = dn.load_generator("default:car", semantic=False, device="cpu")
    torch.manual_seed(0)
    clf = PixelClassifier(35, len(car.label_set), BaselineConfig(n_models=1)).eval()
    cams = train_cameras(car.orbit, 4, 2)
    got = render_generated(car, clf, 4, cams, 32)
    ref = dn.label_subject(car, 4, cameras=cams, resolution=32, cloud=False, mesh=False, render=STUDY_RENDER)
    assert torch.equal(got.dnerf.rgb, ref.views.rgb) and torch.equal(got.dnerf.labels, ref.views.labels)
    assert torch.equal(got.dnerf.depth, ref.views.depth)
    base = dn.label_subject(DatasetGANBaseline(plain, clf, car.label_set), 4, cameras=cams, resolution=32,
                            cloud=False, mesh=False, render=STUDY_RENDER)
    assert torch.equal(got.baseline.rgb, base.views.rgb) and torch.equal(got.baseline.labels, base.views.labels)


@pytest.mark.slow
def test_whole_pipeline_on_a_tiny_case(tmp_path):
    root = tmp_path / "data"
    cfg = DataConfig(world="face", resolution=32, subjects=3, views=2, kit_subjects=1, kit_views=3, baseline_steps=5,
                     test_subjects=2, test_views=2, video_subjects=1, video_frames=3, chunk=2)
    # two processes sharing the world: part 1/2 writes only the second chunk (a gap at 0 counts nothing)
    build_all(cfg, root, log=lambda m: None, part=(1, 2))
    assert generated_subjects(root, "face") == 0 and (root / "face" / "generated" / "000002.pt").is_file()
    build_all(cfg, root, log=lambda m: None, part=(0, 2))
    assert generated_subjects(root, "face") == 3
    with pytest.raises(dn.DnerfError, match="part"):
        build_all(cfg, root, part=(2, 2))
    kit = load_kit_row(root, "face")
    assert len(kit.images) == 3 and kit.n_points > 0
    rows = {r: load_generated_row(root, "face", r, 3) for r in ("dnerf", "baseline", "oracle")}
    assert all(len(r.images) == 6 and len(r.clouds) == 3 for r in rows.values())
    assert torch.equal(rows["dnerf"].images.rgb, rows["baseline"].images.rgb)  # same images, other labels
    test = load_test(root, "face")
    assert len(test.images) == 4 and len(test.clouds) == 2 and test.video.labels.shape[:2] == (1, 3)
    # a changed setting is refused rather than mixed into the same folder
    with pytest.raises(dn.DnerfError, match="resolution"):
        build_all(DataConfig(world="face", resolution=48, subjects=3), root)

    out = tmp_path / "results" / "downstream_face.json"
    tiny = TrainConfig(steps_2d=3, steps_3d=3, points=64)
    doc = run_world("face", root, out, sweep=[1, 3], cfg=tiny, figures=tmp_path / "results" / "downstream",
                    log=lambda m: None)
    assert [r["key"] for r in doc["rows"]] == ["kit", "baseline@1", "baseline@3", "dnerf@1", "dnerf@3", "oracle@1",
                                               "oracle@3"]
    saved = json.loads(out.read_text())
    assert saved["rows"] == doc["rows"]
    for r in saved["rows"]:
        assert 0 <= r["2d"]["miou"] <= 1 and 0 <= r["3d"]["instance_miou"] <= 1 and r["points"] > 0
        assert math.isfinite(r["video"]["consistency"])
    assert (root / "face" / rows_dir_name(doc["schedule"]) / "dnerf@3.json").is_file()
    assert doc["figure_rows"] == ["kit", "baseline@3", "dnerf@3", "oracle@3"]  # one column per labeler, largest N
    # resumed: nothing is trained again, the document is the same
    again = run_world("face", root, out, sweep=[1, 3], cfg=tiny, log=lambda m: (_ for _ in ()).throw(AssertionError(m)))
    assert again["rows"] == doc["rows"]
    # a row trained on what `dnerf dataset` writes, scored on the same test sets
    ds = tmp_path / "faces"
    dn.make_dataset(dn.DatasetConfig(generator="default:face", subjects=3, views=2, resolution=32, poses="random",
                                     formats=("folders", "pts"), shard_size=2, render="volume", progress=False,
                                     out=str(ds)))
    names = list(dn.load_generator("procedural:face", device="cpu").label_set.names)
    row = load_dataset_row(ds, names, 32, split=None)
    assert len(row.images) == 6 and len(row.clouds) == 3 and row.subjects == 3 and row.n_points > 0
    assert row.images.rgb.dtype == torch.uint8 and int(row.images.labels.max()) < len(names)
    assert all(int(c.labels.min()) >= 1 for c in row.clouds)  # ShapeNet-part clouds: background left out
    ds_out = tmp_path / "results" / "downstream_face_datasets.json"
    rec = run_dataset_row("face", root, ds, ds_out, split=None, cfg=tiny, log=lambda m: None)
    assert rec["key"] == "dataset:faces" and rec["images"] == 6 and rec["dataset"]["arguments"]["subjects"] == 3
    assert json.loads(ds_out.read_text())["rows"] == [rec] and 0 <= rec["2d"]["miou"] <= 1
    with pytest.raises(dn.DnerfError, match="resolution 48"):
        load_dataset_row(ds, names, 48)
    with pytest.raises(dn.DnerfError, match="same world"):
        load_dataset_row(ds, names[:-1], 32)
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "downstream.py"), "train", "--world", "face", "--root",
                          str(root), "--dataset", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.json")],
                         capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert run.returncode == 2 and "is not a dnerf dataset" in run.stderr and run.stderr.strip().count("\n") == 0
    assert not (tmp_path / "x.json").exists()

    page = write_report(tmp_path / "results", page=tmp_path / "downstream.md")
    text = page.read_text()
    assert "| dnerf@3 |" in text and "car: no rows" in text
    assert "then the predictions of kit, baseline@3, dnerf@3, oracle@3." in text
    for png in ("miou_vs_subjects.png", "parts_face.png", "predictions_face.png"):
        assert (tmp_path / "results" / "downstream" / png).stat().st_size > 1000


def test_row_plan_uses_only_subjects_on_disk():
    plan = row_plan(["kit", "baseline", "dnerf", "oracle"], [25, 50, 100], available=60)
    assert plan == [("kit", "kit", None), ("baseline@25", "baseline", 25), ("baseline@50", "baseline", 50),
                    ("dnerf@25", "dnerf", 25), ("dnerf@50", "dnerf", 50), ("oracle@25", "oracle", 25),
                    ("oracle@50", "oracle", 50)]
    assert row_plan(["dnerf@50", "kit"], [25, 50], available=60) == [("kit", "kit", None), ("dnerf@50", "dnerf", 50)]
    assert row_plan(["baseline@25"], [25, 50], available=60) == [("baseline@25", "baseline", 25)]
    with pytest.raises(dn.DnerfError, match="unknown rows"):
        row_plan(["kitt"], [1], 1)


@pytest.mark.e2e
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "downstream.py"), "train", "--world", "car", "--root",
                          str(tmp_path / "nothing"), "--out", str(tmp_path / "x.json")],
                         capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "no data for car" in run.stderr
    assert not (tmp_path / "x.json").exists()


def test_each_schedule_keeps_its_rows_in_its_own_folder():
    """Rows of another seed or schedule must not overwrite (retrain) the default rows' files."""
    default = json.loads(json.dumps(asdict(TrainConfig())))
    assert rows_dir_name(default) == ROWS_DIR
    assert rows_dir_name({**default, "seed": 1}) == f"{ROWS_DIR}-seed=1"
    assert rows_dir_name({**default, "seed": 2, "steps_2d": 2000}) == f"{ROWS_DIR}-seed=2,steps_2d=2000"
    wider = {**default, "seg2d": {**default["seg2d"], "width": 16}}
    assert rows_dir_name(wider).startswith(f"{ROWS_DIR}-seg2d~") and rows_dir_name(wider) != ROWS_DIR


def _doc(seed: int, scores: dict) -> dict:
    rows = [{"key": k, "row": k.split("@")[0], "subjects": int(k.split("@")[1]) if "@" in k else 0,
             "2d": {"miou": a}, "video": {"segmentation": {"miou": a}}, "3d": {"instance_miou": b}}
            for k, (a, b) in scores.items()]
    return {"schedule": {"seed": seed, "steps_2d": 500, "steps_3d": 400}, "rows": rows}


def test_seed_table_calls_a_gap_within_the_seeds_spread_a_tie():
    docs = [_doc(0, {"baseline@10": (0.50, 0.40), "dnerf@10": (0.52, 0.70), "dnerf@3": (0.1, 0.1)}),
            _doc(1, {"baseline@10": (0.60, 0.42), "dnerf@10": (0.50, 0.72)})]
    text = "\n".join(seed_table("car", docs))
    assert "### car, 500 + 400 steps: 2 training seeds (0, 1), same data" in text
    assert "| dnerf@10 | 0.510 ± 0.014" in text and "dnerf@3" not in text  # only keys every seed has
    assert "2D mIoU, dnerf@10: 0.510; ties with the baseline (-0.040, within the seeds spread)" in text
    assert "3D instance mIoU, dnerf@10: 0.710; beats the baseline (+0.300)" in text
    assert seed_table("car", docs[:1]) == []
