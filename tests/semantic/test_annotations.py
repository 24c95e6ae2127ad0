"""Annotation kits: make_kit / load_kit and `dnerf annotate-kit` (small: 32x32 views, 1-2 subjects)."""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dnerf_core.cameras import orbit_cameras
from dnerf_core.cli import cli, run as _run
from dnerf_core.errors import AnnotationError, DnerfError
from dnerf_core.io.splits import HELDOUT_SEED_START
from dnerf_core.io.images import to_uint8_rgb
from dnerf_core.io.masks import IGNORE_COLOR
from dnerf_core.generators.procedural import ProceduralGenerator
from dnerf_core.generators.surface_labels import SURFACE_OPACITY, oracle_labels_on_surface
from dnerf_core.semantic.annotations import (FULL_ORBIT_SIDE_YAW, KIT_FILE, KIT_FORMAT, KIT_VERSION,
                                             SIDE_YAW_FRACTION, kit_views, load_kit, make_kit)

RES = 32
DNERF = [str(Path(sys.executable).parent / "dnerf")]


@pytest.fixture(scope="module")
def face():
    return ProceduralGenerator("face")


@pytest.fixture(scope="module")
def face_kit(tmp_path_factory, face):
    """A 2-subject x 3-view oracle kit; tests that damage it work on a copy (see `kit_copy`)."""
    out = tmp_path_factory.mktemp("kits") / "face"
    done = []
    path = make_kit(face, out, subjects=2, views=3, resolution=RES, oracle=True,
                    progress=done.append)
    assert path == out and sum(done) == 6
    return out


@pytest.fixture
def kit_copy(face_kit, tmp_path):
    dst = tmp_path / "kit"
    shutil.copytree(face_kit, dst)
    return dst


def _rig_cameras(generator, views=3):
    rig = kit_views(generator.orbit, views)
    return rig, orbit_cameras([v.yaw for v in rig], [v.pitch for v in rig], generator.orbit)


# --- round trip --------------------------------------------------------------------------------
@pytest.mark.slow
def test_oracle_kit_loads_back_exactly(face_kit, face):
    kit = load_kit(face_kit)
    assert str(kit.generator_spec) == "procedural:face" and kit.category == "face" and kit.resolution == RES
    assert kit.label_set == face.label_set
    assert kit.seeds == [0, 0, 0, 1, 1, 1] and all(s < HELDOUT_SEED_START for s in kit.seeds)
    assert kit.by_subject() == {0: [0, 1, 2], 1: [3, 4, 5]}
    assert torch.equal(load_kit(face_kit / KIT_FILE).masks, kit.masks)  # the kit.json path works too
    assert kit.masks.dtype == torch.int64 and tuple(kit.masks.shape) == (6, RES, RES)
    rig, cams = _rig_cameras(face)
    # Cameras round-trip bit for bit (float32 through JSON).
    assert torch.equal(kit.cameras.cam2world, torch.cat([cams.cam2world] * 2))
    assert torch.equal(kit.cameras.intrinsics, torch.cat([cams.intrinsics] * 2))
    for seed in (0, 1):
        truth = face.render(face.sample([seed]), cams, RES)
        idx = kit.by_subject()[seed]
        assert torch.equal(kit.masks[idx], truth.labels)  # masks are the oracle's labels exactly
        assert len(torch.unique(truth.labels)) >= 5  # a face, not an empty frame
        for i, v in zip(idx, range(3)):  # the images are the generator's renders
            png = np.asarray(Image.open(kit.items[i].image))
            assert np.array_equal(png, to_uint8_rgb(truth.rgb[v].permute(1, 2, 0).numpy()))


def test_frontal_and_side_views(face_kit, face):
    kit = load_kit(face_kit)
    front, plus, minus = kit.items[:3]
    assert (front.view_name, front.yaw) == ("frontal", 0.0)
    assert front.pitch == pytest.approx(sum(face.orbit.pitch_range) / 2)
    pos = kit.cameras.positions
    pivot = torch.tensor(face.orbit.pivot)
    assert pos[0, 0].item() == pytest.approx(pivot[0].item(), abs=1e-6) and pos[0, 2] > pivot[2]  # in front
    half = (face.orbit.yaw_range[1] - face.orbit.yaw_range[0]) / 2
    assert plus.yaw == pytest.approx(SIDE_YAW_FRACTION * half) and minus.yaw == -plus.yaw
    assert pos[1, 0] > 0 > pos[2, 0]  # the two side views mirror each other


def test_kit_json_fields(face_kit):
    data = json.loads((face_kit / KIT_FILE).read_text())
    assert (data["format"], data["version"]) == (KIT_FORMAT, KIT_VERSION)
    assert data["generator"] == "procedural:face" and data["resolution"] == RES and data["oracle"] is True
    assert data["oracle_masks"] == "image"
    assert [lab["name"] for lab in data["labels"]["labels"]][:2] == ["background", "skin"]
    item = data["items"][4]
    assert item["image"] == "images/001_1.png" and item["mask"] == "masks/001_1.png" and item["seed"] == 1
    assert len(item["cam2world"]) == 4 and len(item["intrinsics"]) == 3
    readme = (face_kit / "README.txt").read_text()
    assert "255" in readme and "palette" in readme and "grayscale" in readme and "skin" in readme


def test_rig_angles():
    car, face = ProceduralGenerator("car").orbit, ProceduralGenerator("face").orbit
    yaws = [v.yaw for v in kit_views(car)]
    assert yaws == [0.0, FULL_ORBIT_SIDE_YAW, -FULL_ORBIT_SIDE_YAW]
    assert [v.name for v in kit_views(face, 1)] == ["frontal"]
    for orbit in (car, face):
        rig = kit_views(orbit, 7)
        assert len({(round(v.yaw, 6), round(v.pitch, 6)) for v in rig}) == 7  # no repeated camera
        assert all(orbit.pitch_range[0] <= v.pitch <= orbit.pitch_range[1] for v in rig)
    assert all(face.yaw_range[0] <= v.yaw <= face.yaw_range[1] for v in kit_views(face, 7))
    assert all(-math.pi < v.yaw <= math.pi for v in kit_views(car, 7))


@pytest.fixture(scope="module")
def learned_car():
    """The shipped default:car: a learned generator whose surface is close to the oracle's, not equal."""
    from dnerf_core.generators import load_generator

    return load_generator("default:car")


@pytest.mark.slow
def test_learned_generator_kit(tmp_path, learned_car):
    """default:car path: images from the learned generator, image masks = the car oracle's 3D parts
    on the surface those images show (background where they are transparent)."""
    gan = learned_car
    out = make_kit(gan, tmp_path / "kit", subjects=1, views=3, resolution=RES, seed_offset=5,
                   oracle=True)
    kit = load_kit(out)
    oracle = ProceduralGenerator("car")
    assert kit.label_set == oracle.label_set and kit.seeds == [5, 5, 5] and str(kit.generator_spec) == "default:car"
    assert kit.oracle_masks == "image" and json.loads((out / KIT_FILE).read_text())["oracle_masks"] == "image"
    _, cams = _rig_cameras(gan)
    assert torch.equal(kit.cameras.cam2world, cams.cam2world)
    with torch.no_grad():
        view = gan.render(gan.sample([5]), cams, RES)
    assert torch.equal(kit.masks, oracle_labels_on_surface(oracle, [5], cams, view.depth, view.opacity))
    transparent = view.opacity[:, 0] < SURFACE_OPACITY
    assert transparent.any() and (kit.masks[transparent] == 0).all() and (kit.masks[~transparent] != 0).any()
    world = oracle.render(oracle.sample([5]), cams, RES).labels
    assert 0 < (kit.masks != world).sum() < 0.2 * world.numel()  # the learned surface is close, not exact
    png = np.asarray(Image.open(kit.items[2].image))
    expected = to_uint8_rgb(view.rgb[2].permute(1, 2, 0).float().clamp(0, 1).numpy())
    assert png.shape == (RES, RES, 3) and np.array_equal(png, expected)


@pytest.mark.slow
def test_learned_generator_kit_world_masks(tmp_path, learned_car):
    """world masks: the oracle's own render of each seed, whatever the learned images show."""
    out = make_kit(learned_car, tmp_path / "kit", subjects=1, views=3, resolution=RES,
                   seed_offset=5, oracle=True, oracle_masks="world")
    kit = load_kit(out)
    oracle = ProceduralGenerator("car")
    _, cams = _rig_cameras(learned_car)
    assert kit.oracle_masks == "world"
    assert torch.equal(kit.masks, oracle.render(oracle.sample([5]), cams, RES).labels)
    assert "world masks" in (out / "README.txt").read_text()


@pytest.mark.slow
def test_oracle_generator_kit_masks_do_not_depend_on_the_kind(tmp_path, face):
    # on the oracle's own images both kinds are its exact labels
    kits = [load_kit(make_kit(face, tmp_path / kind, subjects=1, views=2, resolution=RES,
                              oracle=True, oracle_masks=kind)) for kind in ("image", "world")]
    assert torch.equal(kits[0].masks, kits[1].masks)


def test_kit_from_before_the_mask_choice_reads_as_world_masks(kit_copy):
    path = kit_copy / KIT_FILE
    data = json.loads(path.read_text())
    del data["oracle_masks"]
    path.write_text(json.dumps(data))
    assert load_kit(kit_copy).oracle_masks == "world"


# --- mask formats --------------------------------------------------------------------------------
def test_grayscale_palette_and_rgb_masks_agree(kit_copy, face):
    reference = load_kit(kit_copy).masks  # palette PNGs as written
    names = sorted((kit_copy / "masks").glob("*.png"))
    ids = [np.asarray(Image.open(p)) for p in names]
    ids[0] = ids[0].copy()
    ids[0][:3, :3] = 255  # an "unsure" corner: ignore survives every format
    colors = face.label_set.palette()
    for i, (path, arr) in enumerate(zip(names, ids)):
        if i % 3 == 0:
            Image.fromarray(arr.astype(np.uint8)).save(path)  # 8-bit grayscale
        elif i % 3 == 1:
            painted = colors[np.minimum(arr, len(colors) - 1)]
            rgb = np.where(arr[..., None] == 255, np.array(IGNORE_COLOR, np.uint8), painted)
            Image.fromarray(rgb.astype(np.uint8)).save(path)  # exact label colors
    assert Image.open(names[0]).mode == "L" and Image.open(names[1]).mode == "RGB" and Image.open(names[2]).mode == "P"
    masks = load_kit(kit_copy).masks
    expected = reference.clone()
    expected[0, :3, :3] = 255
    assert torch.equal(masks, expected)


# --- validation ----------------------------------------------------------------------------------
def _error(kit) -> str:
    with pytest.raises(AnnotationError) as info:
        load_kit(kit)
    return str(info.value)


def _wrong_size(kit):
    Image.fromarray(np.zeros((16, 24), np.uint8)).save(kit / "masks" / "000_1.png")
    return "000_1.png"


def _unknown_id(kit):
    arr = np.asarray(Image.open(kit / "masks" / "001_0.png")).copy()
    arr[5, 5], arr[6, 6] = 42, 77
    Image.fromarray(arr).save(kit / "masks" / "001_0.png")
    return "001_0.png"


def _missing(kit):
    (kit / "masks" / "001_2.png").unlink()
    return "001_2.png"


def test_wrong_size_mask_refused(kit_copy):
    load_kit(kit_copy)  # the intact copy loads
    name = _wrong_size(kit_copy)
    msg = _error(kit_copy)
    assert msg.splitlines()[0].endswith("1 of 6 mask files is bad:")
    assert name in msg and "24x16" in msg and f"expected {RES}x{RES}" in msg


def test_unknown_label_id_refused(kit_copy, face):
    name = _unknown_id(kit_copy)
    msg = _error(kit_copy)
    assert name in msg and "42" in msg and "77" in msg and "0..8" in msg and "neck" in msg


def test_missing_mask_refused(kit_copy):
    name = _missing(kit_copy)
    msg = _error(kit_copy)
    assert name in msg and "not found" in msg


def test_all_problems_in_one_message(kit_copy):
    names = [_wrong_size(kit_copy), _unknown_id(kit_copy), _missing(kit_copy)]
    msg = _error(kit_copy)
    lines = msg.splitlines()
    assert "3 of 6 mask files are bad" in lines[0] and len(lines) == 4
    for name, line in zip(sorted(names), sorted(lines[1:])):
        assert name in line


def test_unreadable_and_unknown_color_masks_refused(kit_copy):
    jpeg = kit_copy / "masks" / "000_0.png"
    Image.new("L", (RES, RES)).save(jpeg, format="JPEG")
    (kit_copy / "masks" / "000_1.png").write_bytes(b"not an image")
    rgb = np.zeros((RES, RES, 3), np.uint8)
    rgb[4, 7] = (1, 2, 3)  # e.g. an anti-aliased edge
    Image.fromarray(rgb).save(kit_copy / "masks" / "000_2.png")
    msg = _error(kit_copy)
    assert "3 of 6" in msg.splitlines()[0]
    assert "000_0.png is a JPEG image" in msg and "000_1.png is not an image" in msg
    assert "000_2.png" in msg and "(1, 2, 3)" in msg and "x=7, y=4" in msg


def test_bad_kit_json_refused(kit_copy, tmp_path):
    assert "kit.json is missing" in _error(tmp_path)
    data = json.loads((kit_copy / KIT_FILE).read_text())
    (kit_copy / KIT_FILE).write_text(json.dumps({**data, "version": KIT_VERSION + 1}))
    assert "version 2 is not supported" in _error(kit_copy)
    (kit_copy / KIT_FILE).write_text(json.dumps({**data, "format": "something-else"}))
    assert "not a dnerf annotation kit" in _error(kit_copy)
    bad_item = {**data["items"][0], "mask": "../../etc/passwd"}
    (kit_copy / KIT_FILE).write_text(json.dumps({**data, "items": [bad_item]}))
    assert "outside the kit folder" in _error(kit_copy)
    (kit_copy / KIT_FILE).write_text("{")
    assert "not readable JSON" in _error(kit_copy)


# --- all-or-nothing writes ---------------------------------------------------------------------------
class FailsOnSecondSubject(ProceduralGenerator):
    """The real face oracle whose second subject fails to render, as a crash mid-kit would."""

    def render(self, subject, cameras, resolution=None):
        if subject.seeds == [1]:
            raise DnerfError("render failed")
        return super().render(subject, cameras, resolution)


def test_failed_kit_leaves_nothing(tmp_path):
    with pytest.raises(DnerfError, match="render failed"):
        make_kit(FailsOnSecondSubject("face"), tmp_path / "kit", subjects=2, resolution=RES)
    assert list(tmp_path.iterdir()) == []  # neither the kit nor its staging folder


def test_never_writes_over_a_folder(face_kit, face, tmp_path):
    before = {p: p.read_bytes() for p in face_kit.rglob("*") if p.is_file()}
    with pytest.raises(DnerfError, match="not an empty folder"):
        make_kit(face, face_kit, subjects=1, resolution=RES)
    assert {p: p.read_bytes() for p in face_kit.rglob("*") if p.is_file()} == before
    (tmp_path / "empty").mkdir()  # an empty folder is fine to fill
    make_kit(face, tmp_path / "empty", subjects=1, views=1, resolution=RES)
    assert (tmp_path / "empty" / KIT_FILE).is_file()


# --- command line ----------------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run(DNERF + ["annotate-kit", *args], capture_output=True, text=True, timeout=300)


SMALL = ["--generator", "procedural:face", "--subjects", "1", "--views", "3", "--resolution", str(RES), "--quiet"]


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_writes_kit_and_is_repeatable(tmp_path):
    runs = [_cli(*SMALL, "--oracle", "--out", str(tmp_path / name)) for name in ("a", "b")]
    for res in runs:
        assert res.returncode == 0, res.stderr
    assert str((tmp_path / "a").resolve()) in runs[0].stdout and "3 images, 3 masks" in runs[0].stdout
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 8  # kit.json, README.txt, 3 images, 3 masks
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert len(load_kit(tmp_path / "a")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no staging left


@pytest.mark.slow
def test_cli_kit_without_oracle_has_empty_masks(tmp_path, capsys):
    code = _run(cli, ["annotate-kit", *SMALL, "--views", "1", "--out", str(tmp_path / "kit")], "dnerf")
    assert code == 0
    assert "1 images, 0 masks" in capsys.readouterr().out
    assert (tmp_path / "kit" / "masks").is_dir() and not list((tmp_path / "kit" / "masks").iterdir())
    msg = _error(tmp_path / "kit")
    assert "000_0.png" in msg and "not found" in msg and "no masks yet" in msg


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_unknown_generator_exit_2(tmp_path):
    res = _cli("--generator", "nope:car", "--subjects", "1", "--out", str(tmp_path / "kit"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "nope" in res.stderr
    assert not (tmp_path / "kit").exists()


@pytest.mark.parametrize("args, words", [
    (["--subjects", "0"], "--subjects"),
    (["--generator", "default:bogus"], "bogus"),
    (["--generator", "preset:nope"], "nope"),
    (["--oracle", "--generator", "preset:ffhq512-128"], "--oracle"),
    (["--oracle", "--oracle-masks", "pixels"], "--oracle-masks"),
    (["--seed-offset", str(HELDOUT_SEED_START)], "held-out"),
])
def test_cli_bad_arguments_exit_2(tmp_path, capsys, args, words):
    code = _run(cli, ["annotate-kit", *SMALL, *args, "--out", str(tmp_path / "kit")], "dnerf")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err
    assert not (tmp_path / "kit").exists()


def test_cli_unwritable_output_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for out in (blocker / "kit", blocker):  # a parent that is a file; the target itself a file
        code = _run(cli, ["annotate-kit", *SMALL, "--out", str(out)], "dnerf")
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(blocker) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"] and blocker.read_text() == "x"
