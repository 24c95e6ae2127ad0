"""dnerf invert / edit / mask through the installed console scripts, as a user runs them."""
import json
import subprocess

import numpy as np
import pytest
from PIL import Image
from cli_helpers import BIN

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DNERF = str(BIN / "dnerf")
FACE = ["--generator", "default:face"]


def _run(*args):
    return subprocess.run([DNERF, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def face_mask(tmp_path_factory):
    d = tmp_path_factory.mktemp("mask")
    res = _run("mask", *FACE, "--seed", "1000002", "--view", "12,4", "--out", str(d / "m.png"))
    assert res.returncode == 0, res.stderr
    return d / "m.png"


def test_mask_then_edit_then_export(face_mask, tmp_path):
    img = Image.open(face_mask)
    assert img.mode == "P" and img.size == (64, 64)
    ids = np.array(img)
    hair = 2
    skin = ids == 1
    top = np.nonzero(skin.any(1))[0].min()
    edited = ids.copy()
    edited[top:top + 6][skin[top:top + 6]] = hair  # grow the hair down over the forehead
    out_img = img.copy()
    out_img.putdata(edited.flatten().tolist())
    out_img.save(tmp_path / "edited.png")
    res = _run("edit", *FACE, "--seed", "1000002", "--view", "12,4", "--mask", str(tmp_path / "edited.png"),
               "--steps", "4", "--views", "2", "--out", str(tmp_path / "e"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert str((tmp_path / "e").resolve()) in res.stdout
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["region_pixels"] == int((edited != ids).sum()) and report["kind"] == "edit"
    assert 0.0 <= report["region_accuracy"] <= 1.0 and "of its pixels right" in res.stdout
    sheet = Image.open(tmp_path / "e" / "preview.png")
    assert sheet.size == (3 * 64 + 2 * 2, 4 * 64 + 3 * 2)  # fitted view + 2; before/after x rgb/parts
    assert not list((tmp_path / "e").glob(".dnerf-staging-*"))
    exp = subprocess.run([str(BIN / "dnerf-export"), *FACE, "--subject", str(tmp_path / "e" / "subject.pt"),
                          "--views", "2", "--ply", "--out", str(tmp_path / "x"), "--quiet"],
                         capture_output=True, text=True, timeout=600)
    assert exp.returncode == 0, exp.stderr
    assert json.loads((tmp_path / "x" / "export.json").read_text())["subject_file"].endswith("subject.pt")
    # and an edit can start from the fitted subject's own pose
    res = _run("mask", *FACE, "--subject", str(tmp_path / "e" / "subject.pt"), "--out", str(tmp_path / "m2.png"))
    assert res.returncode == 0 and "yaw 12.0, pitch 4.0" in res.stdout


def test_invert_rgb_writes_subject_and_preview(tmp_path):
    from dnerf_core import load_generator
    from dnerf_core.inversion import Pose

    gen = load_generator("default:car", semantic=False)
    out = gen.render(gen.sample([1000003]), Pose(0.5, 0.3, gen.orbit.radius).cameras(gen.orbit))
    rgb = (out.rgb[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "t.png")
    res = _run("invert", "--rgb", str(tmp_path / "t.png"), "--steps", "6", "--starts", "2", "--views", "1",
               "--out", str(tmp_path / "i"), "--quiet")
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "i" / "report.json").read_text())
    assert report["kind"] == "rgb" and len(report["starts"]) == 2 and report["psnr"] > 10
    assert (tmp_path / "i" / "subject.pt").is_file() and (tmp_path / "i" / "preview.png").is_file()


def test_invert_mask_fits_w_plus_unless_told_one_w(face_mask, tmp_path):
    import torch

    from dnerf_core import load_generator
    from dnerf_core.inversion.subject_file import load_fitted

    labeled = load_generator("default:face")
    per_layer = {}
    for flag in ("", "--one-w"):
        out = tmp_path / (flag or "default")
        res = _run("invert", *FACE, "--mask", str(face_mask), "--steps", "3", "--starts", "1", "--views", "1",
                   "--out", str(out), "--quiet", *([flag] if flag else []))
        assert res.returncode == 0, res.stderr
        report = json.loads((out / "report.json").read_text())
        assert report["kind"] == "mask" and 0.0 <= report["miou"] <= 1.0
        ws = load_fitted(out / "subject.pt", labeled).ws
        per_layer[flag] = not torch.equal(ws, ws[:, :1].expand_as(ws))
    assert per_layer == {"": True, "--one-w": False}


@pytest.mark.parametrize("case", ["not_image", "non_square", "wrong_size_mask", "unknown_ids", "both", "neither",
                                  "bad_view", "no_view", "negative_weight", "zero_region_weight", "identical"])
def test_bad_input_one_message_exit_2(case, face_mask, tmp_path):
    out = tmp_path / "o"
    text = tmp_path / "notes.png"
    text.write_text("hello")
    if case == "not_image":
        args, msg = ["invert", "--rgb", str(text)], "is not an image"
    elif case == "non_square":
        Image.new("RGB", (40, 30)).save(tmp_path / "r.png")
        args, msg = ["invert", "--rgb", str(tmp_path / "r.png")], "square"
    elif case == "wrong_size_mask":
        Image.new("L", (32, 32)).save(tmp_path / "m.png")
        args, msg = ["invert", *FACE, "--mask", str(tmp_path / "m.png")], "32x32"
    elif case == "unknown_ids":
        Image.fromarray(np.full((64, 64), 77, np.uint8), mode="L").save(tmp_path / "m.png")
        args, msg = ["invert", *FACE, "--mask", str(tmp_path / "m.png")], "not in the label set"
    elif case == "both":
        args, msg = ["invert", "--rgb", str(text), "--mask", str(text)], "exactly one of --rgb"
    elif case == "neither":
        args, msg = ["invert"], "exactly one of --rgb"
    elif case == "bad_view":
        args, msg = ["edit", *FACE, "--seed", "3", "--view", "12", "--mask", str(face_mask)], "YAW,PITCH"
    elif case == "no_view":
        args, msg = ["edit", *FACE, "--seed", "3", "--mask", str(face_mask)], "--view YAW,PITCH is required"
    elif case == "zero_region_weight":
        args, msg = ["edit", *FACE, "--seed", "3", "--view", "12,4", "--mask", str(face_mask),
                     "--region-weight", "0"], "--region-weight"
    elif case == "negative_weight":
        args, msg = ["edit", *FACE, "--seed", "3", "--view", "12,4", "--mask", str(face_mask),
                     "--label-keep-weight", "-1"], "--label-keep-weight"
    else:
        args, msg = ["edit", *FACE, "--seed", "1000002", "--view", "12,4", "--mask", str(face_mask)], "nothing to edit"
    res = _run(*args, "--out", str(out))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert msg in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())
