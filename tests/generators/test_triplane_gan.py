"""The tri-plane generator: EG3D sizes, axis convention, truncation, pose conditioning, caching."""
from dataclasses import replace

import pytest
import torch

from dnerf_core.cameras import orbit_cameras, random_orbit_cameras
from dnerf_core.errors import DnerfError
from dnerf_core.generators.base import Generator, Subject
from dnerf_core.generators.networks.superres import SuperResConfig
from dnerf_core.generators.triplane_gan import PRESETS, TriPlaneConfig, TriPlaneGAN, parameter_count
from dnerf_core.render.config import RenderingConfig

# EG3D's sizes (DESIGN sec. 4): about 30.7M for the 512 models, 29.6M for ShapeNet cars.
EG3D_PARAMS = {"ffhq512-128": 30.7e6, "afhqcats512-128": 30.7e6, "shapenetcars128-64": 29.6e6}

TINY = TriPlaneConfig(
    z_dim=16, w_dim=16, c_dim=25, img_resolution=32, plane_resolution=16, plane_channels=8,
    channel_base=256, channel_max=16, decoder_features=8,
    superres=SuperResConfig("hybrid2x", 16, 32, (8, 8)),
    rendering=RenderingConfig(8, 8, 2.25, 3.3, 1.0, False, 16))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return TriPlaneGAN(TINY).eval()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_parameter_counts_match_eg3d(name):
    count = parameter_count(TriPlaneGAN(PRESETS[name]))
    assert abs(count - EG3D_PARAMS[name]) / EG3D_PARAMS[name] < 0.005, count


def test_preset_structure():
    g = TriPlaneGAN(PRESETS["ffhq512-128"])
    assert g.num_ws == 14
    assert g.backbone.synthesis.resolutions == [4, 8, 16, 32, 64, 128, 256]
    assert g.backbone.synthesis.b256.torgb.weight.shape == (96, 128, 1, 1)  # 3 planes x 32 channels
    assert g.config.rendering.neural_resolution == 128 and g.config.img_resolution == 512
    cars = PRESETS["shapenetcars128-64"]
    assert (cars.rendering.box_warp, cars.rendering.white_back, cars.conditioning_zero) == (1.6, True, True)
    assert (cars.rendering.ray_start, cars.rendering.ray_end, cars.orbit.radius) == (0.1, 2.6, 1.7)


def test_implements_generator_protocol(tiny):
    assert isinstance(tiny, Generator)
    assert tiny.label_set is None and tiny.bounds == 0.5


def test_render_shapes_and_ranges(tiny):
    cams = random_orbit_cameras(3, tiny.orbit, torch.Generator().manual_seed(1))
    out = tiny.render(tiny.sample([4]), cams)
    assert out.rgb.shape == (3, 3, 32, 32) and out.rgb_raw.shape == (3, 3, 16, 16)
    assert out.features.shape == (3, 8, 16, 16)
    assert out.depth.shape == out.opacity.shape == (3, 1, 16, 16)
    assert ((out.depth >= 2.25) & (out.depth <= 3.3)).all()
    assert ((out.opacity >= 0) & (out.opacity <= 1 + 1e-6)).all()
    assert out.labels is None


def test_plane_axis_convention_is_pinned(tiny):
    """Points go onto planes (x,y), (x,z), (z,x): plane 2 is plane 1 with its axes swapped."""
    g = torch.Generator().manual_seed(2)
    p = torch.randn(1, 8, 16, 16, generator=g)
    zero = torch.zeros_like(p)
    on_plane1 = Subject(seeds=[0], planes=torch.stack([zero, p, zero], 1))
    on_plane2 = Subject(seeds=[0], planes=torch.stack([zero, zero, p.transpose(-1, -2)], 1))
    pts = torch.rand(1, 64, 3, generator=g) - 0.5
    s1, f1 = tiny.field(on_plane1)(pts, pts)
    s2, f2 = tiny.field(on_plane2)(pts, pts)
    assert torch.allclose(s1, s2, atol=1e-6) and torch.allclose(f1, f2, atol=1e-6)
    # y only reaches plane 0: without it, moving along y changes nothing
    moved = pts + torch.tensor([0.0, 0.2, 0.0])
    assert torch.allclose(tiny.field(on_plane1)(moved, moved)[0], s1, atol=1e-6)
    # a (y,z) plane (not EG3D's) would make plane 2 depend on y
    on_plane0 = Subject(seeds=[0], planes=torch.stack([p, zero, zero], 1))
    assert not torch.allclose(tiny.field(on_plane0)(moved, moved)[0], tiny.field(on_plane0)(pts, pts)[0])


def test_truncation(tiny):
    w_avg = torch.randn(16)
    tiny.backbone.mapping.w_avg.copy_(w_avg)
    full = tiny.sample([1, 2]).ws
    assert torch.allclose(tiny.sample([1, 2], truncation=0.0).ws, w_avg.expand_as(full))
    half = tiny.sample([1, 2], truncation=0.5).ws
    assert torch.allclose(half, (full + w_avg) / 2, atol=1e-6)
    assert full.shape == (2, tiny.num_ws, 16) and torch.equal(full[:, 0], full[:, -1])


def test_w_avg_tracks_training_batches():
    model = TriPlaneGAN(TINY).train()
    before = model.backbone.mapping.w_avg.clone()
    model.sample_for_training([1, 2, 3])
    assert not torch.equal(before, model.backbone.mapping.w_avg)
    model.eval()
    frozen = model.backbone.mapping.w_avg.clone()
    model.sample_for_training([4])
    assert torch.equal(frozen, model.backbone.mapping.w_avg)


def test_pose_conditioning(tiny):
    front, side = orbit_cameras(0.0, 0.0, tiny.orbit), orbit_cameras(0.5, 0.2, tiny.orbit)
    a = tiny.sample([3], conditioning=front).ws
    assert not torch.allclose(a, tiny.sample([3], conditioning=side).ws)
    assert torch.equal(a, tiny.sample([3]).ws)  # default conditioning: the frontal pose
    label = tiny.conditioning_label(1, side)
    assert label.shape == (1, 25) and torch.equal(label[0, :16], side.cam2world.reshape(16))
    zeroed = TriPlaneGAN(replace(TINY, conditioning_zero=True)).eval()
    assert torch.equal(zeroed.sample([3], conditioning=front).ws, zeroed.sample([3], conditioning=side).ws)
    assert torch.equal(zeroed.conditioning_label(2), torch.zeros(2, 25))


def test_subject_is_cached_and_rendering_does_not_resynthesize(tiny):
    calls = []
    hook = tiny.backbone.synthesis.register_forward_hook(lambda *a: calls.append(1))
    try:
        subject = tiny.sample([5])
        assert len(calls) == 1
        assert subject.planes.shape == (1, 3, 8, 16, 16)
        assert [f.shape[-1] for f in subject.features] == [4, 8, 16]
        cams = random_orbit_cameras(2, tiny.orbit, torch.Generator().manual_seed(3))
        first = tiny.render(subject, cams)
        second = tiny.render(subject, cams)
        assert len(calls) == 1
        assert torch.equal(first.rgb, second.rgb) and torch.equal(first.depth, second.depth)
    finally:
        hook.remove()


def test_one_subject_broadcast_equals_per_view_batch(tiny):
    cams = random_orbit_cameras(3, tiny.orbit, torch.Generator().manual_seed(4))
    one = tiny.sample([6])
    broadcast = tiny.render(one, cams)
    repeated = tiny.render(tiny.sample([6, 6, 6]), cams)
    assert torch.allclose(broadcast.rgb, repeated.rgb, atol=1e-5)
    single = tiny.render(one, cams[1])
    assert torch.allclose(single.depth, broadcast.depth[1:2], atol=1e-5)


def test_chunking_does_not_change_the_render():
    torch.manual_seed(0)
    whole = TriPlaneGAN(TINY, chunk_rays=1 << 20).eval()
    chunked = TriPlaneGAN(TINY, chunk_rays=37).eval()
    chunked.load_state_dict(whole.state_dict())
    cams = random_orbit_cameras(2, whole.orbit, torch.Generator().manual_seed(5))
    a, b = whole.render(whole.sample([7]), cams), chunked.render(chunked.sample([7]), cams)
    # chunks are independent rays, so the chunk size is a speed knob only: the same numbers to
    # float32 rounding (bit-identical on some CPUs; on an AMD EPYC with torch 2.13, one ulp differs
    # in ~1% of the pixels), while a fixed chunk size gives the same bytes run after run
    for x, y in ((a.rgb, b.rgb), (a.depth, b.depth), (a.opacity, b.opacity)):
        assert (x - y).abs().max() <= 1e-6 * max(1.0, x.abs().max().item())
    again = chunked.render(chunked.sample([7]), cams)
    assert torch.equal(again.rgb, b.rgb) and torch.equal(again.depth, b.depth)


def test_bfloat16_superresolution_is_close_to_float32():
    torch.manual_seed(0)
    exact = TriPlaneGAN(TINY).eval()
    fast = TriPlaneGAN(TINY, superres_dtype=torch.bfloat16).eval()
    fast.load_state_dict(exact.state_dict())
    cams = random_orbit_cameras(2, exact.orbit, torch.Generator().manual_seed(5))
    a, b = exact.render(exact.sample([7]), cams), fast.render(fast.sample([7]), cams)
    assert torch.equal(a.features, b.features)  # the volume rendering stays float32
    assert b.rgb.dtype == torch.float32 and b.rgb.is_contiguous()
    mse = (a.rgb - b.rgb).square().mean()
    assert 0 < mse and 10 * torch.log10(1 / mse) > 40
    assert not torch.is_autocast_enabled("cpu")
    with pytest.raises(DnerfError, match="superres_dtype"):
        TriPlaneGAN(TINY, superres_dtype=torch.float16)


def test_density_summed_is_density_without_features(tiny):
    """density_summed (the density grids' path: planes sampled summed, the output layer's density
    row alone) gives density()'s numbers to float rounding, inside and outside the box; the
    decoder's sigma alone is decode_summed's sigma."""
    subject = tiny.sample([3])
    pts = (torch.rand(1, 500, 3, generator=torch.Generator().manual_seed(0)) - 0.5) * 1.4 * tiny.rendering.box_warp
    ref = tiny.density(subject, pts)
    assert torch.allclose(tiny.density_summed(subject, pts), ref, rtol=1e-4, atol=1e-5)
    summed = torch.randn(1, 7, tiny.decoder.net[0].weight.shape[1], generator=torch.Generator().manual_seed(1))
    assert torch.allclose(tiny.decoder.sigma_summed(summed), tiny.decoder.decode_summed(summed)[0], atol=1e-6)


def test_same_seed_same_bytes(tiny):
    cams = random_orbit_cameras(1, tiny.orbit, torch.Generator().manual_seed(6))
    a = tiny.render(tiny.sample([8]), cams)
    b = tiny.render(tiny.sample([8]), cams)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.features, b.features)
    assert not torch.equal(a.rgb, tiny.render(tiny.sample([9]), cams).rgb)


def test_bad_input(tiny):
    with pytest.raises(DnerfError, match="seed"):
        tiny.sample([-1])
    with pytest.raises(DnerfError, match="at least one seed"):
        tiny.sample([])
    cams = random_orbit_cameras(3, tiny.orbit, torch.Generator().manual_seed(7))
    with pytest.raises(DnerfError, match="subjects for 3 cameras"):
        tiny.render(tiny.sample([1, 2]), cams)
    with pytest.raises(DnerfError, match="super-resolution"):
        TriPlaneGAN(replace(TINY, superres=None))


def test_version_1_weight_files_keep_the_choices_they_were_trained_with(tmp_path):
    """Files from before EG3D parity load with FIR-first upsampling convs and sample-bin importance
    sampling; version 2 files record both in their config and round-trip."""
    import dataclasses

    from dnerf_core.generators import triplane_io
    from dnerf_core.io.tagged_file import load_tagged, save_tagged

    cfg = dataclasses.replace(PRESETS["shapenetcars128-64"], z_dim=16, w_dim=16, plane_resolution=16,
                              plane_channels=4, channel_base=256, channel_max=16, decoder_hidden=8,
                              decoder_features=4, superres=None, img_resolution=64)
    model = TriPlaneGAN(cfg)
    triplane_io.save_triplane(tmp_path / "v2.pt", model)
    payload = load_tagged(tmp_path / "v2.pt", triplane_io.FORMAT, triplane_io.VERSION, "w")
    assert payload["config"]["upconv_order"] == "eg3d" and payload["config"]["rendering"]["importance_bins"] == "eg3d"
    assert triplane_io.load_triplane(tmp_path / "v2.pt").config == cfg
    legacy = dict(payload, version=triplane_io.LEGACY_VERSION)
    legacy["config"] = {k: v for k, v in payload["config"].items() if k != "upconv_order"}
    legacy["config"]["rendering"] = {k: v for k, v in payload["config"]["rendering"].items() if k != "importance_bins"}
    save_tagged(tmp_path / "v1.pt", legacy)
    old = triplane_io.load_triplane(tmp_path / "v1.pt")
    assert old.config.upconv_order == "fir_first" and old.config.rendering.importance_bins == "samples"
    assert old.backbone.synthesis.b8.conv0.up_order == "fir_first"
    triplane_io.save_triplane(tmp_path / "again.pt", old)
    assert triplane_io.load_triplane(tmp_path / "again.pt").config == old.config
