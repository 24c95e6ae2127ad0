"""The command line end to end, through the installed console scripts (as a user runs them)."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from cli_helpers import BIN, run_cli as _run

pytestmark = pytest.mark.e2e

EXPORT = [str(BIN / "dnerf-export")]
SMALL = ["--views", "3", "--resolution", "48", "--mesh-resolution", "48", "--quiet"]


@pytest.fixture(scope="module")
def car_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("car7")
    res = _run(EXPORT + ["--generator", "procedural:car", "--seed", "7", "--ply", "--glb", "--masks",
                         "--out", str(out)] + SMALL)
    assert res.returncode == 0, res.stderr
    return out, res


def test_help_lists_commands():
    res = _run([str(BIN / "dnerf"), "--help"])
    assert res.returncode == 0 and "export" in res.stdout
    res = _run(EXPORT + ["--help"])
    assert res.returncode == 0 and "--generator" in res.stdout and "--ply" in res.stdout


@pytest.mark.slow
def test_export_writes_everything(car_export):
    out, res = car_export
    assert str(out.resolve()) in res.stdout  # says where
    for name in ("labels.json", "cloud.ply", "mesh.glb", "transforms.json", "export.json",
                 "rgb/000.png", "mask/002.png", "depth/001.png"):
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["seed"] == 7 and manifest["n_points"] > 1000 and "cloud.ply" in manifest["files"]
    mask = Image.open(out / "mask/000.png")
    assert mask.mode == "P" and mask.size == (48, 48)
    assert set(np.unique(np.asarray(mask))) >= {0, 1}


@pytest.mark.slow
def test_same_seed_same_bytes(car_export, tmp_path):
    out, _ = car_export
    res = _run(EXPORT + ["--generator", "procedural:car", "--seed", "7", "--ply", "--masks",
                         "--out", str(tmp_path)] + SMALL)
    assert res.returncode == 0, res.stderr
    for name in ["cloud.ply"] + [f"mask/{i:03d}.png" for i in range(3)]:
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


@pytest.mark.slow
def test_transforms_reproject_to_renderer_pixels(car_export):
    """A 3D point the renderer hit projects, through transforms.json's OpenGL pose and pixel
    intrinsics (nerfstudio math), back onto the pixel it came from."""
    import torch

    from dnerf_core.cameras import ray_bundle, spread_orbit_cameras
    from dnerf_core.generators.procedural import ProceduralGenerator

    out, _ = car_export
    meta = json.loads((out / "transforms.json").read_text())
    gen = ProceduralGenerator("car")
    cams = spread_orbit_cameras(3, gen.orbit)
    render = gen.render(gen.sample([7]), cams, 48)
    rays = ray_bundle(cams, 48)
    for i, frame in enumerate(meta["frames"]):
        hit = render.opacity[i, 0].flatten() > 0.5
        idx = torch.nonzero(hit)[:20, 0]
        pts = rays.origins[i, idx] + render.depth[i, 0].flatten()[idx, None] * rays.directions[i, idx]
        c2w_gl = np.array(frame["transform_matrix"], dtype=np.float64)
        w2c = np.linalg.inv(c2w_gl)
        cam = (w2c[:3, :3] @ pts.double().numpy().T + w2c[:3, 3:]).T
        # OpenGL camera: looks down -z, y up; pixel v grows downwards
        u = meta["fl_x"] * cam[:, 0] / -cam[:, 2] + meta["cx"]
        v = -meta["fl_y"] * cam[:, 1] / -cam[:, 2] + meta["cy"]
        expect_u = (idx % 48).numpy() + 0.5
        expect_v = (idx // 48).numpy() + 0.5
        assert np.allclose(u, expect_u, atol=1e-3) and np.allclose(v, expect_v, atol=1e-3)


BAD_INPUTS = [
    (["--generator", "nonsense:car"], "unknown generator kind"),
    (["--generator", "procedural:boat"], "unknown category"),
    (["--generator", "procedural:car", "--views", "0"], "--views"),
    (["--generator", "procedural:car", "--bf16-superres"], "has no super-resolution"),
    # refused up front (the views would be held in memory), not killed by the kernel
    (["--generator", "procedural:car", "--views", "100000000", "--masks"], "use `dnerf dataset`"),
]


def test_bf16_superres_flag_reaches_a_labeled_generators_superresolution():
    # the render itself is compared with float32 in tests/generators/test_triplane_gan.py
    import torch

    from dnerf_core.cli.export import use_bf16_superres
    from dnerf_core.generators.base import LabelingWrapper
    from dnerf_core.generators.triplane_gan import PRESETS, TriPlaneGAN

    gen = TriPlaneGAN(PRESETS["shapenetcars128-64"])
    use_bf16_superres(LabelingWrapper(gen, None, "labels"))
    assert gen.superres_dtype == torch.bfloat16


@pytest.mark.parametrize("args,needle", BAD_INPUTS)
def test_bad_input_one_line_exit_2(args, needle, tmp_path):
    out = tmp_path / "out"
    res = _run(EXPORT + args + ["--out", str(out), "--quiet"])
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists() or not any(out.rglob("*"))


@pytest.mark.parametrize("where", ["under_file", "proc"])
def test_unwritable_output_folder(where, tmp_path):
    if where == "under_file":
        blocker = tmp_path / "a_file"
        blocker.write_text("x")
        out = blocker / "out"
    else:
        out = Path("/proc/dnerf-cannot-write-here")
    res = _run(EXPORT + ["--generator", "procedural:car", "--out", str(out)] + SMALL)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "output folder" in lines[0], res.stderr
    assert not out.exists()


@pytest.mark.slow
def test_failure_mid_export_leaves_nothing(tmp_path):
    """An error after rendering started (here: a path the GLB cannot take, because a folder
    sits where the file must go) leaves the output folder exactly as it was."""
    out = tmp_path / "out"
    (out / "mesh.glb").mkdir(parents=True)
    res = _run(EXPORT + ["--generator", "procedural:car", "--ply", "--glb", "--masks", "--out", str(out)] + SMALL)
    assert res.returncode != 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["mesh.glb"]


@pytest.mark.slow
def test_exported_glb_is_valid_and_named_by_part(car_export, gltf_validator):
    import trimesh

    out, _ = car_export
    report = gltf_validator(out / "mesh.glb")
    assert report["issues"]["numErrors"] == 0, report["issues"]
    scene = trimesh.load(out / "mesh.glb")
    labels = json.loads((out / "labels.json").read_text())
    part_names = {lab["name"] for lab in labels["labels"][1:]}
    assert set(scene.geometry) <= part_names and len(scene.geometry) >= 5


@pytest.mark.slow
def test_exported_ply_labels_match_oracle(car_export):
    import torch

    from dnerf_core.factory.export.ply import read_point_cloud_ply
    from dnerf_core.generators.procedural import ProceduralGenerator

    out, _ = car_export
    cloud, legend = read_point_cloud_ply(out / "cloud.ply")
    gen = ProceduralGenerator("car")
    assert legend == gen.label_set
    truth = gen.labels_at(gen.sample([7]), torch.from_numpy(cloud.points)[None])[0].numpy()
    assert (truth == cloud.labels).mean() >= 0.98


@pytest.mark.slow
def test_shapenet_part_pair(tmp_path):
    from dnerf_core.factory.export.ply import read_point_cloud_ply
    from dnerf_core.factory.export.shapenet_part import read_pts_seg

    res = _run(EXPORT + ["--generator", "procedural:face", "--seed", "2", "--pts", "--ply", "--out", str(tmp_path)] + SMALL)
    assert res.returncode == 0, res.stderr
    pts, seg = read_pts_seg(tmp_path / "cloud")
    cloud, _ = read_point_cloud_ply(tmp_path / "cloud.ply")
    assert np.allclose(pts, cloud.points, atol=1e-5) and np.array_equal(seg, cloud.labels)
    assert seg.min() >= 1


@pytest.mark.parametrize("args, needle", [
    (["--truncation", "nan"], "--truncation must be a finite number"),
    (["--truncation", "inf"], "--truncation must be a finite number"),
    (["--voxel-size", "nan"], "--voxel-size must be a finite number"),
    (["--voxel-size", "0"], "--voxel-size must be positive"),
])
def test_non_finite_numbers_exit_2_and_write_nothing(args, needle, tmp_path):
    out = tmp_path / "out"
    res = _run(EXPORT + ["--generator", "procedural:car", *args, "--out", str(out)] + SMALL)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr, res.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", [EXPORT, [str(BIN / "dnerf"), "annotate-kit", "--subjects", "1"]])
def test_device_cuda_without_cuda_exit_2(command, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out"
    res = _run(command + ["--generator", "procedural:car", "--device", "cuda", "--out", str(out), "--quiet"])
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "CUDA is not available" in lines[0] and "Traceback" not in res.stderr
    assert not out.exists()


def test_every_command_has_device_option():
    from click.testing import CliRunner

    from dnerf_core.cli import cli

    for name, command in cli.commands.items():
        if name == "view":  # shows files; computes nothing
            continue
        res = CliRunner().invoke(cli, [name, "--help"])
        assert res.exit_code == 0 and "--device" in res.output, name
