"""Loading official-format EG3D checkpoints without running their code (DESIGN sec. 4)."""
from __future__ import annotations

import dataclasses
import io
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dnerf_core.cameras import OrbitSpec, spread_orbit_cameras
from dnerf_core.cli import cli, run as _run
from dnerf_core.errors import CheckpointError, GeneratorSpecError
from dnerf_core.generators import eg3d, load_generator
from dnerf_core.generators.networks.superres import SuperResConfig
from dnerf_core.generators.triplane_gan import PRESETS, TriPlaneConfig, TriPlaneGAN
from dnerf_core.generators.triplane_io import save_triplane
from dnerf_core.render.config import RenderingConfig

sys.path.insert(0, str(Path(__file__).parent))
from eg3d_pickle import generator_record, marker_source, write_eg3d_pickle  # noqa: E402

# Small enough to build, pickle and render in well under a second; the ShapeNet preset's orbit so
# the loader's preset-matching gives back exactly this config. Below-cap channels at 32 (16 < 32)
# exercise the channel_base inference; radius and pivot differ from the preset (read from file).
SMALL = dataclasses.replace(
    PRESETS["shapenetcars128-64"],
    z_dim=32, w_dim=32, c_dim=25, img_resolution=32, plane_resolution=32, plane_channels=8,
    channel_base=512, channel_max=32, decoder_hidden=16, decoder_features=8, conditioning_zero=False,
    superres=SuperResConfig("hybrid2x", 16, 32, (16, 8)),
    rendering=RenderingConfig(8, 8, 2.25, 3.3, 1.0, False, 16),
    orbit=dataclasses.replace(PRESETS["shapenetcars128-64"].orbit, radius=2.7, pivot=(0.0, 0.05, 0.2)))


def small_model(seed: int, config: TriPlaneConfig = SMALL) -> TriPlaneGAN:
    torch.manual_seed(seed)
    model = TriPlaneGAN(config).eval()
    with torch.no_grad():  # non-trivial values where init leaves zeros (noise strengths, w_avg)
        for name, p in model.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
        model.backbone.mapping.w_avg.normal_()
    return model


@pytest.fixture(scope="module")
def model():
    return small_model(0)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "module_src_ran"
    yield path
    assert not path.exists(), "code embedded in the checkpoint was executed"


@pytest.fixture
def snapshot(tmp_path, model, marker):
    return write_eg3d_pickle(tmp_path / "network-snapshot.pkl", model, module_src=marker_source(marker))


def assert_same_renders(a: TriPlaneGAN, b: TriPlaneGAN, seeds=(0, 7), n_views=3):
    cams = spread_orbit_cameras(n_views, a.orbit)
    for seed in seeds:
        sa, sb = a.sample([seed], truncation=0.7), b.sample([seed], truncation=0.7)
        assert torch.equal(sa.ws, sb.ws) and torch.equal(sa.planes, sb.planes)
        ra, rb = a.render(sa, cams), b.render(sb, cams)
        for field in ("rgb", "rgb_raw", "depth", "opacity"):
            assert torch.equal(getattr(ra, field), getattr(rb, field)), field


# --- the happy path ------------------------------------------------------------------------------
def test_marker_source_would_leave_a_trace(tmp_path):
    """The marker check below can fail: running module_src does create the file."""
    marker = tmp_path / "m"
    with pytest.raises(RuntimeError):
        exec(marker_source(marker), {})
    assert marker.exists()


@pytest.mark.slow
def test_official_layout_loads_and_renders_identically(snapshot, model):
    assert "torch_utils" not in sys.modules and "training" not in sys.modules and "dnnlib" not in sys.modules
    loaded = eg3d.load_eg3d(snapshot)
    assert loaded.name == "eg3d:network-snapshot" and not loaded.training
    assert loaded.config == model.config
    assert_same_renders(loaded, model)
    assert "torch_utils" not in sys.modules


def test_the_pickle_really_is_official_shaped(snapshot):
    """The file names the globals an official snapshot names (so the test exercises them)."""
    text = snapshot.read_bytes()
    for name in (b"_reconstruct_persistent_obj", b"torch_utils.persistence", b"_rebuild_tensor_v2",
                 b"_rebuild_parameter", b"_load_from_bytes", b"training.networks_stylegan2",
                 b"SuperresolutionHybrid2X", b"OSGDecoder", b"torch.nn.modules.container", b"Softplus",
                 b"dnnlib.util", b"EasyDict", b"numpy", b"DualDiscriminator", b"module_src was executed"):
        assert name in text, name


@pytest.mark.slow
@pytest.mark.parametrize("protocol", [3, 5])
def test_other_pickle_protocols(tmp_path, model, marker, protocol):
    path = write_eg3d_pickle(tmp_path / "p.pkl", model, module_src=marker_source(marker), protocol=protocol)
    assert_same_renders(eg3d.load_eg3d(path), model, seeds=(3,), n_views=1)


@pytest.mark.slow
def test_g_ema_preferred_then_g(tmp_path, model, marker):
    other = small_model(1)
    both = write_eg3d_pickle(tmp_path / "both.pkl", model, g_model=other, module_src=marker_source(marker))
    assert_same_renders(eg3d.load_eg3d(both), model, seeds=(1,), n_views=1)
    only_g = write_eg3d_pickle(tmp_path / "g.pkl", other, with_g_ema=False, module_src=marker_source(marker))
    assert_same_renders(eg3d.load_eg3d(only_g), other, seeds=(1,), n_views=1)


def test_rendering_settings_come_from_the_checkpoint(tmp_path, model, marker):
    overrides = dict(depth_resolution=10, depth_resolution_importance=6, ray_start=2.0, ray_end=3.5, box_warp=1.2,
                     white_back=True, avg_camera_radius=2.1, avg_camera_pivot=[0.0, 0.0, -0.06], sr_antialias=False,
                     superresolution_noise_mode="const", decoder_lr_mul=0.5)
    path = write_eg3d_pickle(tmp_path / "r.pkl", model, module_src=marker_source(marker),
                             rendering_overrides=overrides, neural_resolution=24)
    cfg = eg3d.load_eg3d(path).config
    assert cfg.rendering == RenderingConfig(10, 6, 2.0, 3.5, 1.2, True, 24)
    assert cfg.orbit.radius == 2.1 and cfg.orbit.pivot == (0.0, 0.0, -0.06)
    assert cfg.superres.antialias is False and cfg.superres.noise_mode == "const"
    assert cfg.decoder_lr_multiplier == 0.5
    assert cfg.img_resolution == 32 and cfg.superres.input_resolution == 16  # SR resizes 24 -> 16


@pytest.mark.slow
def test_legacy_and_zip_embedded_storages(tmp_path, model, marker):
    """Plain pickling writes legacy (torch 1.x style) storage bytes; zip-format bytes load too."""
    legacy = (tmp_path / "legacy.pkl")
    write_eg3d_pickle(legacy, model, module_src=marker_source(marker))
    assert b"PK\x03\x04" not in legacy.read_bytes()  # no zip archive embedded anywhere
    zipped = write_eg3d_pickle(tmp_path / "zip.pkl", model, module_src=marker_source(marker), zip_storages=True)
    assert b"PK\x03\x04" in zipped.read_bytes()
    on_gpu = write_eg3d_pickle(tmp_path / "gpu.pkl", model, module_src=marker_source(marker), location="cuda:0")
    assert b"cuda:0" in on_gpu.read_bytes()  # a snapshot taken on a GPU loads onto the CPU
    for path in (legacy, zipped, on_gpu):
        assert_same_renders(eg3d.load_eg3d(path), model, seeds=(2,), n_views=1)


# --- refusing what is not a weight -----------------------------------------------------------------
class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("func,name", [(os.system, f"{os.system.__module__}.system"), (eval, "builtins.eval"),
                                       (subprocess.Popen, "subprocess.Popen"), (exec, "builtins.exec")])
def test_foreign_globals_are_refused(tmp_path, model, marker, func, name):
    python = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    args = {os.system: (f"touch {marker}",), subprocess.Popen: (["touch", str(marker)],)}.get(func, (python,))
    snapshot = {"G_ema": generator_record(model, marker_source(marker)), "x": _Evil(func, *args)}
    path = tmp_path / "evil.pkl"
    from eg3d_pickle import fake_eg3d_modules

    with fake_eg3d_modules():
        path.write_bytes(pickle.dumps(snapshot))
    with pytest.raises(CheckpointError) as info:
        eg3d.load_eg3d(path)
    msg = str(info.value)
    assert f"'{name}'" in msg and str(path) in msg and "\n" not in msg


def test_code_inside_an_embedded_storage_is_refused(tmp_path, marker):
    """_load_from_bytes' bytes are a torch.save stream; ours reads it weights_only."""
    buf = io.BytesIO()
    torch.save(_Evil(os.system, f"touch {marker}"), buf, _use_new_zipfile_serialization=False)

    class Storage:
        def __reduce__(self):
            return torch.storage._load_from_bytes, (buf.getvalue(),)

    path = tmp_path / "s.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Storage()}))
    with pytest.raises(CheckpointError, match=rf"s\.pkl.*'{os.system.__module__}\.system'"):
        eg3d.load_eg3d(path)


def test_out_of_bounds_tensor_view_is_refused(tmp_path):
    class Big:
        def __reduce__(self):
            import collections
            return torch._utils._rebuild_tensor_v2, (torch.zeros(4).storage(), 0, (100,), (1,), False,
                                                     collections.OrderedDict())

    path = tmp_path / "oob.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Big()}))
    with pytest.raises(CheckpointError, match="reaches element 99 of a 4-element storage"):
        eg3d.load_eg3d(path)


def test_truncated_and_corrupt_files(snapshot, tmp_path):
    data = snapshot.read_bytes()
    for name, content in (("trunc.pkl", data[: len(data) // 2]), ("junk.pkl", b"not a pickle at all"),
                          ("empty.pkl", b""), ("list.pkl", pickle.dumps([1, 2]))):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=name):
            eg3d.load_eg3d(path)


@pytest.mark.parametrize("edit,match", [
    (dict(drop={"decoder.net.2.bias"}), r"missing \['decoder.net.2.bias'\]"),
    (dict(extra={"decoder.net.0.scale": torch.ones(3)}), r"unexpected \['decoder.net.0.scale'\]"),
    (dict(replace={"backbone.synthesis.b8.conv1.weight": torch.zeros(32, 32, 1, 1)}),
     r"shape mismatch \['backbone.synthesis.b8.conv1.weight \(32, 32, 1, 1\) vs \(32, 32, 3, 3\)'\]"),
    (dict(rendering_overrides=dict(superresolution_module="training.superresolution.SuperresolutionHybrid4X")),
     "SuperresolutionHybrid4X.*not supported"),
    (dict(rendering_overrides=dict(ray_start="auto")), "ray_start.*auto"),
])
def test_checkpoints_that_do_not_fit(tmp_path, model, marker, edit, match):
    path = write_eg3d_pickle(tmp_path / "bad.pkl", model, module_src=marker_source(marker), **edit)
    with pytest.raises(CheckpointError, match=match):
        eg3d.load_eg3d(path)


def test_resample_filters_and_renderer_are_ignored_by_name():
    assert eg3d.is_ignored("backbone.synthesis.b8.conv0.resample_filter")
    assert eg3d.is_ignored("superresolution.block1.resample_filter")
    assert eg3d.is_ignored("renderer.plane_axes")
    assert not eg3d.is_ignored("backbone.synthesis.b8.conv0.weight")
    assert not eg3d.is_ignored("decoder.net.0.resample_filter_x")


# --- registry and CLI ---------------------------------------------------------------------------------
def test_registry_specs(snapshot, model, tmp_path):
    for spec in (f"eg3d:{snapshot}", str(snapshot)):
        assert load_generator(spec).config == model.config
    with pytest.raises((GeneratorSpecError, CheckpointError), match="missing.pkl"):
        load_generator(f"eg3d:{tmp_path / 'missing.pkl'}")


def test_cli_bad_checkpoint_is_one_line_exit_2(tmp_path, capsys, marker):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x04garbage")
    evil_pkl, evil_pt = tmp_path / "evil.pkl", tmp_path / "evil.pt"
    evil_pkl.write_bytes(pickle.dumps(_Evil(os.system, f"touch {marker}")))
    torch.save({"x": _Evil(os.system, f"touch {marker}")}, evil_pt)
    system = f"{os.system.__module__}.system"
    for spec, says in ((f"eg3d:{bad}", "bad.pkl"), (f"eg3d:{tmp_path / 'missing.pkl'}", "missing.pkl"),
                       (f"eg3d:{evil_pkl}", system), (str(evil_pt), system)):
        code = _run(cli, ["export", "--generator", spec, "--out", str(tmp_path / "out"), "-q"], "dnerf")
        err = capsys.readouterr().err
        assert code == 2
        assert err.count("\n") == 1 and err.startswith("dnerf: error:") and says in err, err
    assert not (tmp_path / "out").exists()


# --- .pt files ----------------------------------------------------------------------------------------
def eg3d_state_dict(model: TriPlaneGAN) -> dict:
    sd = dict(model.state_dict())
    sd["backbone.synthesis.b8.conv0.resample_filter"] = torch.ones(4, 4)  # EG3D extra, ignored
    return sd


@pytest.mark.slow
def test_plain_state_dict_pt(tmp_path, model):
    path = tmp_path / "g_ema.pt"
    torch.save(eg3d_state_dict(model), path)
    # sizes come from the shapes: a base config with the wrong sizes still gives the model's config
    loaded = eg3d.load_state_dict_file(path, preset=dataclasses.replace(
        SMALL, z_dim=512, w_dim=512, plane_resolution=256, channel_base=32768, channel_max=512, decoder_hidden=64,
        superres=SuperResConfig("hybrid2x", 64, 128, (128, 64))))
    assert loaded.config == model.config
    assert_same_renders(loaded, model, seeds=(4,), n_views=1)
    # a preset name supplies the rendering settings
    cfg = eg3d.load_state_dict_file(path, preset="shapenetcars128-64").config
    assert cfg.rendering == PRESETS["shapenetcars128-64"].rendering and cfg.w_dim == 32
    with pytest.raises(CheckpointError, match="name a preset"):
        load_generator(str(path))


@pytest.mark.slow
def test_pt_nested_under_g_ema_and_dnerf_format(tmp_path, model):
    nested = tmp_path / "nested.pt"
    torch.save({"G_ema": eg3d_state_dict(model)}, nested)
    assert eg3d.load_state_dict_file(nested, preset=SMALL).config == model.config
    own = tmp_path / "own.pt"
    save_triplane(own, model)
    assert_same_renders(load_generator(str(own)), model, seeds=(5,), n_views=1)


def test_pt_is_loaded_weights_only(tmp_path, marker):
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "x": _Evil(os.system, f"touch {marker}")}, path)
    for load in (eg3d.load_state_dict_file, load_generator):
        with pytest.raises(CheckpointError, match=rf"evil\.pt.*'{os.system.__module__}\.system'"):
            load(str(path))


def test_not_a_generator_state_dict(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="backbone.synthesis"):
        eg3d.load_state_dict_file(path)


def test_preset_orbit_facts_kept(tmp_path, model, marker):
    """Field of view and pose ranges (not in the file) come from the closest released preset."""
    path = write_eg3d_pickle(tmp_path / "o.pkl", model, module_src=marker_source(marker))
    orbit = eg3d.load_eg3d(path).config.orbit
    preset = PRESETS["shapenetcars128-64"].orbit
    assert isinstance(orbit, OrbitSpec) and orbit.focal == preset.focal
    assert orbit.yaw_range == (0.0, 2 * math.pi) and orbit.pitch_range == preset.pitch_range


def test_superres_clamp_follows_the_fp16_blocks(tmp_path):
    """EG3D clamps its super-resolution at 256 exactly when it builds those blocks for float16
    (sr_num_fp16_res > 0); the loader reads that from the constructor kwargs."""
    unclamped = dataclasses.replace(SMALL, superres=dataclasses.replace(SMALL.superres, conv_clamp=None))
    for cfg, expected in ((SMALL, 256.0), (unclamped, None)):
        path = write_eg3d_pickle(tmp_path / f"sr-{expected}.pkl", small_model(1, cfg), module_src="")
        loaded = eg3d.load_eg3d(path)
        assert loaded.config.superres.conv_clamp == expected
        assert loaded.superresolution.block0.conv1.conv_clamp == expected
