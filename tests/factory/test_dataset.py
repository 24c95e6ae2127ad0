"""`dnerf dataset` (#24): plan, shards, manifests, resume after SIGKILL, refusals, formats, readers."""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dnerf_core.cameras import spread_orbit_cameras
from dnerf_core.factory.dataset_plan import chunk_cameras, parse_split, split_of
from dnerf_core.generators.registry import load_generator
from cli_helpers import BIN, run_cli

DNERF = [str(BIN / "dnerf"), "dataset"]
# 6 subjects in 2 shards of 3, 2 views each at 32x32: seconds, yet every code path (two shards,
# a subject per split hash, all four formats) is crossed.
SMALL = ["--generator", "procedural:car", "--subjects", "6", "--views", "2", "--resolution", "32",
         "--shard-size", "3", "--formats", "folders,webdataset,ply,pts", "--quiet"]
RUN_ONLY = {"run.json"}  # timings: the only file allowed to differ between runs


def _run(args, **kw):
    return run_cli(args, timeout=900, **kw)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in RUN_ONLY}


def _assert_same_tree(a: Path, b: Path) -> None:
    ta, tb = _tree(a), _tree(b)
    assert sorted(ta) == sorted(tb)
    differing = [k for k in ta if ta[k] != tb[k]]
    assert not differing, differing


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "ref"
    res = _run(DNERF + SMALL + ["--out", str(out)])
    assert res.returncode == 0, res.stderr
    return out, res


# --- the plan is a pure function of the arguments ------------------------------------------------
def test_orbit_chunks_are_dnerf_exports_cameras():
    orbit = load_generator("procedural:car").orbit
    whole = spread_orbit_cameras(11, orbit)
    parts = [chunk_cameras("orbit", orbit, 5, a, min(a + 4, 11), 11) for a in range(0, 11, 4)]
    assert torch.equal(torch.cat([p.cam2world for p in parts]), whole.cam2world)
    assert torch.equal(torch.cat([p.intrinsics for p in parts]), whole.intrinsics)


def test_random_poses_depend_on_seed_and_view_only():
    orbit = load_generator("procedural:car").orbit
    whole = chunk_cameras("random", orbit, 3, 0, 10, 10)
    part = chunk_cameras("random", orbit, 3, 6, 10, 1000)  # another chunking, another V
    assert torch.equal(whole.cam2world[6:], part.cam2world)
    other = chunk_cameras("random", orbit, 4, 0, 10, 10)
    assert not torch.equal(whole.cam2world, other.cam2world)
    pos = whole.positions - torch.tensor(orbit.pivot)
    pitch = torch.asin(pos[:, 1] / pos.norm(dim=1))
    assert (pitch >= orbit.pitch_range[0] - 1e-5).all() and (pitch <= orbit.pitch_range[1] + 1e-5).all()
    assert pitch.std() > 0


def test_split_by_seed_hash_follows_the_fractions():
    split = parse_split("train=0.8,val=0.1,test=0.1")
    names = [split_of(s, split) for s in range(4000)]
    assert [split_of(s, split) for s in range(4000)] == names
    assert abs(names.count("train") / 4000 - 0.8) < 0.03
    assert abs(names.count("val") / 4000 - 0.1) < 0.02
    assert set(split_of(s, parse_split("a=1,b=0")) for s in range(200)) == {"a"}


# --- a small dataset, end to end --------------------------------------------------------------------
@pytest.mark.e2e
def test_layout_manifest_and_checksums(reference):
    out, res = reference
    assert "views/s" in res.stdout and "bytes written" in res.stdout
    header = json.loads((out / "dataset.json").read_text())
    args = header["arguments"]
    assert (args["subjects"], args["views"], args["resolution"], args["shard_size"]) == (6, 2, 32, 3)
    assert header["software"]["dnerf"] and [s["seeds"] for s in header["shards"]] == [[0, 2], [3, 5]]
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["00000", "00001"]
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    views = [r for r in rows if r.get("view") is not None]
    assert sorted((r["seed"], r["view"]) for r in views) == [(s, v) for s in range(6) for v in range(2)]
    listed = {}
    for r in rows:
        listed.update(r["files"])
    for rel, digest in listed.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest, rel
    # every data file is listed: nothing unaccounted for in the shards
    on_disk = {p.relative_to(out).as_posix() for p in (out / "shards").rglob("*")
               if p.is_file() and p.name != "manifest.jsonl"}
    assert on_disk == set(listed)
    # the poses in the manifest are dnerf-export's orbit cameras
    orbit = load_generator("procedural:car").orbit
    cams = spread_orbit_cameras(2, orbit)
    got = torch.tensor([r["pose"]["cam2world"] for r in views if r["seed"] == 4], dtype=torch.float32)
    assert torch.equal(got.reshape(2, 4, 4), cams.cam2world)
    # subjects' splits follow the seed hash recorded in dataset.json's split
    split = parse_split(args["split"])
    assert all(r["split"] == split_of(r["seed"], split) for r in rows if "seed" in r)
    tf = json.loads((out / "shards/00001/subjects/00000004/transforms.json").read_text())
    assert [f["file_path"] for f in tf["frames"]] == ["rgb/000.png", "rgb/001.png"] and tf["w"] == 32


@pytest.mark.e2e
def test_same_command_again_skips_and_changes_nothing(reference, tmp_path):
    out, _ = reference
    before = _tree(out)
    res = _run(DNERF + SMALL + ["--out", str(out)])
    assert res.returncode == 0, res.stderr
    assert "0 written, 2 already complete" in res.stdout
    assert _tree(out) == before


@pytest.mark.e2e
def test_changed_argument_is_refused_naming_it(reference):
    out, _ = reference
    before = _tree(out)
    args = [a if a != "32" else "48" for a in SMALL]
    res = _run(DNERF + args + ["--out", str(out)])
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "resolution (32 -> 48)" in res.stderr
    assert _tree(out) == before


@pytest.mark.e2e
def test_damaged_shard_is_redone(reference, tmp_path):
    out, _ = reference
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(out), str(copy)], check=True)
    victim = copy / "shards/00001/subjects/00000004/rgb/001.png"
    victim.write_bytes(b"not a png")
    res = _run(DNERF + SMALL + ["--out", str(copy)])
    assert res.returncode == 0, res.stderr
    assert "1 written, 1 already complete" in res.stdout and "redoing shard 00001" in res.stderr
    _assert_same_tree(out, copy)


@pytest.mark.parametrize("args, needle", [
    (["--generator", "nope:car"], "unknown generator kind"),
    (["--subjects", "0"], "--subjects must be at least 1"),
    (["--views", "0"], "--views must be at least 1"),
    (["--views", "100000000", "--resolution", "512"], "is free"),
    (["--split", "train=nan,val=1"], "--split"),
    (["--formats", "folders,jpeg"], "unknown format"),
    (["--generator", "default:car", "--semantic", "SEMFACE"], "trained on another generator"),
    (["--poses", "BADPOSES"], "--poses"),
    (["--poses", "NANPOSES"], "non-finite"),
])
@pytest.mark.e2e
def test_bad_input_one_line_exit_2_nothing_left(args, needle, tmp_path):
    from dnerf_core.generators.registry import default_semantic_path

    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    nan = tmp_path / "nan.json"
    nan.write_text("[[0, 10], [NaN, 5]]")
    subs = {"SEMFACE": str(default_semantic_path("face")), "BADPOSES": str(bad), "NANPOSES": str(nan)}
    args = [subs.get(a, a) for a in args]
    base = dict(zip(SMALL[0::2], SMALL[1::2]))
    base.pop("--quiet", None)
    for k, v in zip(args[0::2], args[1::2]):
        base[k] = v
    out = tmp_path / "out"
    res = _run(DNERF + [x for kv in base.items() for x in kv] + ["--quiet", "--out", str(out)])
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and needle in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


@pytest.mark.e2e
def test_foreign_or_unwritable_output_folder_is_refused(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    res = _run(DNERF + SMALL + ["--out", str(foreign)])
    assert res.returncode == 2 and "not empty" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        res = _run(DNERF + SMALL + ["--out", str(locked / "ds")])
        assert res.returncode == 2 and "writable" in res.stderr
        assert not (locked / "ds").exists()


# --- resume after SIGKILL ------------------------------------------------------------------------
def _start(out: Path, extra=()):
    return subprocess.Popen(DNERF + SMALL + list(extra) + ["--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def _wait_until(proc, out: Path, ready, what: str, timeout: float = 600) -> None:
    """Return as soon as ready(out) holds; fail if the run ends or the time runs out first."""
    t0 = time.monotonic()
    while not ready(out):
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.stderr.read().decode()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _kill_when(proc, out: Path, ready, what: str, timeout: float = 600) -> None:
    """SIGKILL the run (its whole process group: workers too) as soon as ready(out) holds."""
    _wait_until(proc, out, ready, what, timeout)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _partial_pngs(shard: str, at_least: int):
    def ready(out: Path) -> bool:
        root = out / "shards"
        if not root.is_dir():
            return False
        return any(len(list(p.rglob("*.png"))) >= at_least for p in root.glob(f".{shard}.partial-*"))
    return ready


@pytest.mark.e2e
def test_sigkill_mid_shard_then_resume_is_byte_identical(reference, tmp_path):
    ref, _ = reference
    out = tmp_path / "killed"
    # 1: killed in the first shard, after its first view's PNGs
    proc = _start(out)
    _kill_when(proc, out, _partial_pngs("00000", 3), "shard 00000 to start")
    assert not (out / "shards" / "00000").exists()
    # 2: re-run, killed in the middle of the second shard (shard 00000 is then complete)
    proc = _start(out)
    _kill_when(proc, out, _partial_pngs("00001", 7), "the middle of shard 00001")
    assert (out / "shards" / "00000").is_dir() and not (out / "shards" / "00001").exists()
    assert list((out / "shards").glob(".00001.partial-*")), "the kill left no torn shard to redo"
    # 3: re-run to the end
    res = _run(DNERF + SMALL + ["--out", str(out)])
    assert res.returncode == 0, res.stderr
    assert "1 written, 1 already complete" in res.stdout
    assert not list((out / "shards").glob(".*"))
    _assert_same_tree(ref, out)


# --- formats read by their own libraries -----------------------------------------------------------
@pytest.mark.e2e
def test_webdataset_shards_read_by_webdataset(reference):
    wds = pytest.importorskip("webdataset")
    out, _ = reference
    urls = sorted(str(p) for p in out.glob("shards/*/wds/*.tar"))
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("rgb"))
    assert sorted((int(s["subject.txt"]), json.loads(s["json"])["view"]) if isinstance(s["json"], bytes)
                  else (int(s["subject.txt"]), s["json"]["view"]) for s in samples) == \
        [(seed, v) for seed in range(6) for v in range(2)]
    s = samples[0]
    assert s["rgb.png"].shape == (32, 32, 3)
    # the tar holds the very bytes of the folder PNGs
    cam = s["json"] if isinstance(s["json"], dict) else json.loads(s["json"])
    biggest = max(urls, key=lambda u: Path(u).stat().st_size)
    raw = next(iter(wds.WebDataset([biggest], shardshuffle=False)))
    seed, view = int(raw["subject.txt"]), json.loads(raw["json"])["view"]
    folder = next(out.glob(f"shards/*/subjects/{seed:08d}"))
    assert raw["rgb.png"] == (folder / "rgb" / f"{view:03d}.png").read_bytes()
    assert raw["mask.png"] == (folder / "mask" / f"{view:03d}.png").read_bytes()
    assert len(cam["cam2world_opencv"]) == 4


@pytest.mark.e2e
def test_ply_and_pts_read_by_plyfile_and_open3d(reference):
    plyfile = pytest.importorskip("plyfile")
    out, _ = reference
    subject = out / "shards/00000/subjects/00000001"
    ply = plyfile.PlyData.read(str(subject / "cloud.ply"))
    v = ply["vertex"]
    labels = np.asarray(v["label"])
    assert len(labels) > 50 and set(np.unique(labels)) <= set(range(1, 7))
    pts = np.loadtxt(subject / "cloud.pts", ndmin=2)
    seg = np.loadtxt(subject / "cloud.seg", dtype=int, ndmin=1)
    assert pts.shape == (len(labels), 3) and np.array_equal(seg, labels)
    assert np.allclose(pts, np.stack([v["x"], v["y"], v["z"]], 1), atol=1e-5)
    try:
        import open3d as o3d
    except ImportError:
        return
    cloud = o3d.io.read_point_cloud(str(subject / "cloud.ply"))
    assert len(cloud.points) == len(labels) and cloud.has_normals() and cloud.has_colors()


@pytest.mark.e2e
def test_torch_readers_agree(reference):
    from dnerf_core.factory.torch_dataset import FolderViews, WebDatasetViews

    out, _ = reference
    folders = FolderViews(out)
    assert len(folders) == 12
    by_key = {(s["seed"], s["view"]): s for s in (folders[i] for i in range(len(folders)))}
    streamed = [s for split in ("train", "val", "test") for s in WebDatasetViews(out, split)]
    assert sorted((s["seed"], s["view"]) for s in streamed) == sorted(by_key)
    for s in streamed:
        f = by_key[(s["seed"], s["view"])]
        assert torch.equal(s["rgb"], f["rgb"]) and torch.equal(s["mask"], f["mask"])
        assert torch.equal(s["cam2world"], f["cam2world"]) and s["split"] == f["split"]
        assert torch.allclose(s["depth"], f["depth"], equal_nan=True)
    loader = torch.utils.data.DataLoader(FolderViews(out, split="train"), batch_size=4)
    batch = next(iter(loader))
    assert batch["rgb"].shape[1:] == (3, 32, 32) and batch["mask"].dtype == torch.int64
    assert math.isfinite(float(batch["rgb"].sum()))


# --- executors ------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_two_local_workers_write_the_same_bytes(reference, tmp_path):
    out = tmp_path / "w2"
    res = _run(DNERF + SMALL + ["--workers", "2", "--out", str(out)])
    assert res.returncode == 0, res.stderr
    _assert_same_tree(reference[0], out)


def _descendants(pid: int):
    psutil = pytest.importorskip("psutil")
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _kill_tree(proc) -> None:
    """SIGKILL the run and every process it started (Ray's raylet, GCS and workers), by pid."""
    import psutil

    tree = _descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    for p in tree:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    psutil.wait_procs(tree, timeout=30)


@pytest.mark.slow
@pytest.mark.e2e
def test_ray_same_bytes_worker_killed_mid_shard_and_driver_killed(reference, tmp_path):
    pytest.importorskip("ray")
    ref, _ = reference
    out = tmp_path / "ray"
    # 1: a Ray worker killed in the middle of shard 00000: Ray retries the task, the run completes
    proc = _start(out, ["--executor", "ray"])
    _wait_until(proc, out, _partial_pngs("00000", 3), "shard 00000 started")
    workers = [p for p in _descendants(proc.pid) if "_shard_task" in " ".join(p.cmdline())]
    assert workers, "no Ray worker running a shard found"
    for w in workers:
        w.kill()
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr.decode()
    _assert_same_tree(ref, out)
    # 2: the whole run (driver and its Ray instance) killed mid-shard, re-run with Ray
    import shutil

    shutil.rmtree(out / "shards" / "00001")
    (out / "manifest.jsonl").unlink()
    proc = _start(out, ["--executor", "ray"])
    _wait_until(proc, out, _partial_pngs("00001", 3), "shard 00001 started")
    _kill_tree(proc)
    assert not (out / "shards" / "00001").exists()
    res = _run(DNERF + SMALL + ["--executor", "ray", "--out", str(out)])
    assert res.returncode == 0, res.stderr
    assert "1 written, 1 already complete" in res.stdout
    _assert_same_tree(ref, out)


def test_ray_missing_is_one_line(tmp_path, monkeypatch):
    """Without the extra, --executor ray names it (simulated by hiding the module)."""
    import builtins

    from dnerf_core.errors import MissingExtraError
    from dnerf_core.factory.distributed import run_ray

    real_import = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    with pytest.raises(MissingExtraError, match=r"dnerf\[ray\]"):
        run_ray(None, [], None, print, print)


@pytest.mark.slow
@pytest.mark.e2e
def test_hundred_million_views_stream_in_bounded_memory(tmp_path):
    """--views 100000000 either fits the disk and streams (memory flat while views pile up on
    disk), or is refused up front; at 8x8 it fits, so it must stream. Watched for a while, then killed."""
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "huge"
    proc = subprocess.Popen(DNERF + ["--generator", "procedural:car", "--subjects", "1", "--views", "100000000",
                                     "--resolution", "8", "--quiet", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        ps = psutil.Process(proc.pid)
        rss, counts = [], []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 40:
            assert proc.poll() is None, proc.stderr.read().decode()
            rss.append(ps.memory_info().rss)
            counts.append(sum(len(list(p.glob("subjects/*/rgb/*.png"))) for p in (out / "shards").glob(".*"))
                          if (out / "shards").is_dir() else 0)
            time.sleep(2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert counts[-1] >= 3 * 8, f"too few views streamed to disk: {counts}"
    # memory after warm-up does not grow with the views written (allow allocator noise)
    warm = rss[len(rss) // 3]
    assert max(rss) < 2 * 1024 ** 3 and rss[-1] - warm < 100 * 1024 ** 2, [r >> 20 for r in rss]


@pytest.mark.e2e
def test_pose_file_and_random_poses_end_to_end(tmp_path):
    poses = tmp_path / "poses.json"
    poses.write_text(json.dumps([[10, 5], [-30, 12.5], [170, 0]]))
    base = ["--generator", "procedural:car", "--subjects", "2", "--resolution", "16", "--shard-size", "2", "--quiet"]
    out = tmp_path / "file"
    res = _run(DNERF + base + ["--poses", str(poses), "--out", str(out)])
    assert res.returncode == 0, res.stderr
    header = json.loads((out / "dataset.json").read_text())
    assert header["arguments"]["views"] == 3
    assert header["arguments"]["poses_sha256"] == hashlib.sha256(poses.read_bytes()).hexdigest()
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    by_view = {}
    for r in rows:
        if r.get("view") is not None:
            by_view.setdefault(r["view"], set()).add(tuple(r["pose"]["cam2world"]))
    assert sorted(by_view) == [0, 1, 2] and all(len(v) == 1 for v in by_view.values())  # same poses per subject
    # the pose file changed after the fact: refused, naming it
    poses.write_text(json.dumps([[10, 5], [-30, 12.5], [171, 0]]))
    res = _run(DNERF + base + ["--poses", str(poses), "--out", str(out)])
    assert res.returncode == 2 and "poses_sha256" in res.stderr
    out = tmp_path / "random"
    res = _run(DNERF + base + ["--poses", "random", "--views", "2", "--out", str(out)])
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    poses_of = {}
    for r in rows:
        if r.get("view") is not None:
            poses_of.setdefault(r["seed"], []).append(r["pose"]["cam2world"])
    assert poses_of[0] != poses_of[1]  # random poses differ between subjects


@pytest.mark.slow
@pytest.mark.e2e
def test_local_worker_killed_mid_shard_fails_in_one_line_then_resumes(reference, tmp_path):
    ref, _ = reference
    out = tmp_path / "w2killed"
    proc = _start(out, ["--workers", "2"])
    t0 = time.monotonic()
    while not any(_partial_pngs(s, 3)(out) for s in ("00000", "00001")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() - t0 < 600, "no shard started"
        time.sleep(0.02)
    victims = [p for p in _descendants(proc.pid) if "multiprocessing" in " ".join(p.cmdline())
               and "resource_tracker" not in " ".join(p.cmdline())]
    assert victims, "no worker process found"
    victims[0].kill()
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 2 and "worker process died" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    res = _run(DNERF + SMALL + ["--workers", "2", "--out", str(out)])
    assert res.returncode == 0, res.stderr
    _assert_same_tree(ref, out)
