"""`dnerf view` on the command line: offscreen screenshots, printed counts, one-line errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dnerf_core.cli import cli, run as _run
from dnerf_core.factory.export.ply import read_point_cloud_ply
from cli_helpers import BIN

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _view(args, capsys):
    code = _run(cli, ["view", *map(str, args)], "dnerf")
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("backend", ["open3d", "pyvista"])
def test_cli_screenshot_of_a_folder(backend, car_export, tmp_path):
    shot = tmp_path / "shots" / "car.png"
    res = subprocess.run([str(BIN / "dnerf"), "view", str(car_export), "--backend", backend, "--screenshot", str(shot),
                          "--size", "200x150"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # no library chatter on a successful run
    cloud, label_set = read_point_cloud_ply(car_export / "cloud.ply")
    counts = np.bincount(cloud.labels, minlength=len(label_set))
    for label in label_set.labels[1:]:  # one row per part: key, id, name, count, share
        row = next(line for line in res.stdout.splitlines() if f" {label.name} " in line)
        assert row.split()[:4] == [str(label.id), str(label.id), label.name, str(counts[label.id])], row
    assert f"{len(cloud)} points in 6 parts" in res.stdout and f"wrote {shot}" in res.stdout
    image = Image.open(shot)
    assert image.format == "PNG" and image.size == (200, 150)
    assert [p.name for p in shot.parent.iterdir()] == ["car.png"]  # atomic: no temp file left


def test_cli_diff_reports_count(car_export, tmp_path, capsys, flipped_prediction):
    pred, flipped = flipped_prediction(car_export, tmp_path / "pred")
    code, out, err = _view([pred, "--diff", car_export / "cloud.ply", "--screenshot", tmp_path / "d.png",
                            "--size", "160x120"], capsys)
    assert code == 0, err
    n = int(flipped.sum())
    assert f"{n} of {len(flipped)} points ({100 * n / len(flipped):.2f}%) disagree" in out
    assert "differ" in out.splitlines()[1]  # the count table gets a per-part column


def _ply_without_labels(path: Path) -> Path:
    header = "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    path.write_text(header + "0 0 0\n1 1 1\n")
    return path


@pytest.mark.parametrize("case", ["missing", "no_label", "backend", "not_ply", "bad_glb", "diff_missing",
                                  "diff_no_label", "diff_mesh", "no_png", "no_display", "size"])
def test_cli_errors_are_one_line(case, car_export, tmp_path, capsys, monkeypatch):
    cloud = car_export / "cloud.ply"
    shot = ["--screenshot", tmp_path / "x.png"]
    args, expect = {
        "missing": ([tmp_path / "nope.ply"] + shot, "not found"),
        "no_label": ([_ply_without_labels(tmp_path / "n.ply")] + shot, "no 'label' property"),
        "backend": ([cloud, "--backend", "vtk"] + shot, "'vtk' is not one of"),
        "not_ply": ([car_export / "transforms.json"] + shot, "not a PLY or GLB file"),
        "bad_glb": ([_ply_without_labels(tmp_path / "fake.glb")] + shot, "not a readable GLB"),
        "diff_missing": ([cloud, "--diff", tmp_path / "gt.ply"] + shot, "--diff: file not found"),
        "diff_no_label": ([cloud, "--diff", _ply_without_labels(tmp_path / "g.ply")] + shot, "--diff:"),
        "diff_mesh": ([cloud, "--diff", car_export / "mesh.glb"] + shot, "is a mesh"),
        "no_png": ([cloud, "--screenshot", tmp_path / "x.jpg"], "must name a .png"),
        "no_display": ([cloud], "no display"),
        "size": ([cloud, "--size", "big"] + shot, "WIDTHxHEIGHT"),
    }[case]
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, out, err = _view(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dnerf: error:") and expect in lines[0], err
    assert not (tmp_path / "x.png").exists()


def test_cli_error_through_the_console_script(tmp_path):
    res = subprocess.run([str(BIN / "dnerf"), "view", str(_ply_without_labels(tmp_path / "n.ply"))],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [f"dnerf: error: {tmp_path / 'n.ply'} has no 'label' property on its "
                                               "vertices (found: x, y, z)"]


@pytest.mark.parametrize("backend", ["open3d", "pyvista"])
def test_cli_missing_extra_is_one_line(backend, car_export, tmp_path):
    """Without the optional package (here: made unimportable) the error names the extra to install."""
    code = (f"import sys; sys.modules[{backend!r}] = None; from dnerf_core.cli import main; "
            f"main(['view', {str(car_export)!r}, '-b', {backend!r}, '--screenshot', {str(tmp_path / 'x.png')!r}])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"optional package '{backend}'" in lines[0] and "dnerf[viewers]" in lines[0], res.stderr
    assert not (tmp_path / "x.png").exists()
