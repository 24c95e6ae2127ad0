"""The surface render path against the volume reference, its determinism, its bake cache and errors."""
import importlib.util
import inspect

import pytest
import torch

import dnerf_core as dn
from dnerf_core.cameras import spread_orbit_cameras
from dnerf_core.errors import DnerfError, MissingExtraError
from dnerf_core.factory.surface_views import SurfaceBake, SurfaceConfig, bake_surface, render_surface
from dnerf_core.factory.views import render_views
from dnerf_core.io.metrics import confusion_matrix, segmentation_scores
from dnerf_core.render.plane_mlp import native_available, native_kernel

pytestmark = pytest.mark.skipif(importlib.util.find_spec("open3d") is None, reason="the fast extra (open3d) is absent")

RES = 48


@pytest.fixture(scope="module")
def car():
    gen = dn.load_generator("default:car", device="cpu")
    subject = gen.sample([7])
    bake_surface(gen, subject)  # one bake for the module's tests
    return gen, subject


def agreement(gen, surface, volume):
    """(mIoU, pixel accuracy, median / p90 depth error over pixels opaque in both / object size)."""
    scores = segmentation_scores(confusion_matrix(surface.labels, volume.labels, len(gen.label_set)))
    both = (surface.opacity > 0.5) & (volume.opacity > 0.5)
    err = (surface.depth - volume.depth)[both].abs() / (2 * gen.bounds)
    return scores.miou, scores.accuracy, err.median().item(), err.quantile(0.9).item()


@pytest.mark.slow
@pytest.mark.parametrize("category", ["car", "face"])
def test_surface_agrees_with_volume_on_heldout_views(category):
    """Issue 23 item 3 on a small case: a held-out subject and poses, 96x96 (the figure at 128^2
    is scripts/bench.py --only surface). Measured: car mIoU 0.986, pixel accuracy 0.998, depth
    error 0.04% of the object, RGB 46.5 dB; face 0.986, 0.999, 0.03%, 54.8 dB."""
    from dnerf_core.lab import HELDOUT_SEED_START, random_orbit_cameras, render_agreement

    gen = dn.load_generator(f"default:{category}", device="cpu")
    subject = gen.sample([HELDOUT_SEED_START + 2])
    cams = random_orbit_cameras(2, gen.orbit, torch.Generator().manual_seed(5))
    volume = render_views(gen, subject, cams, 96)
    surface = render_views(gen, subject, cams, 96, render="surface")
    a = render_agreement(volume, surface, 2 * gen.bounds, len(gen.label_set))
    assert a.miou >= 0.98 and a.pixel_accuracy >= 0.99, a
    assert a.depth_error <= 0.01 and a.rgb_psnr >= 40, a
    # normals: unit on opaque pixels
    n = surface.normals[surface.opacity > 0.5]
    assert torch.allclose(n.norm(dim=-1), torch.ones(len(n)), atol=1e-4)
    assert volume.normals is None


def test_surface_exact_on_the_oracle():
    """The procedural oracle labels the hit point exactly: the surface path's labels and depths
    match its sphere-traced render up to the marching-cubes surface's offset."""
    gen = dn.load_generator("procedural:face", device="cpu")
    subject = gen.sample([3])
    cams = spread_orbit_cameras(2, gen.orbit)
    volume = render_views(gen, subject, cams, RES)
    surface = render_views(gen, subject, cams, RES, render="surface")
    miou, acc, depth_median, _ = agreement(gen, surface, volume)
    assert acc >= 0.97 and miou >= 0.85, (miou, acc)
    assert depth_median <= 0.01


def test_same_bytes_twice_and_bake_cached(car):
    gen, subject = car
    cams = spread_orbit_cameras(2, gen.orbit)
    bake = subject.surface
    assert isinstance(bake, SurfaceBake) and bake.seconds > 0
    a = render_surface(gen, subject, cams, 32)
    assert subject.surface is bake  # not baked again
    b = render_surface(gen, subject, cams, 32)
    for x, y in ((a.output.rgb, b.output.rgb), (a.output.labels, b.output.labels), (a.output.depth, b.output.depth),
                 (a.normals, b.normals), (a.face, b.face)):
        assert torch.equal(x, y)
    # a fresh subject of the same seed bakes the same surface and renders the same bytes
    fresh = gen.sample([7])
    c = render_surface(gen, fresh, cams, 32)
    assert torch.equal(a.output.rgb, c.output.rgb) and torch.equal(a.output.labels, c.output.labels)
    # one evaluation at the hit is a valid (cheaper, cruder) setting of the same path, on its
    # own bake at the surface's level: every hit is then opaque
    one = render_surface(gen, subject, cams, 32, SurfaceConfig(samples_per_hit=1))
    assert one.output.opacity.unique().tolist() == [0.0, 1.0]
    assert torch.equal(one.output.opacity > 0, one.face[:, None] >= 0)
    assert (one.output.labels == a.output.labels).float().mean() > 0.9
    bake_surface(gen, subject)  # back to the window's bake for the module's other tests


def test_fast_path_dispatch(car):
    gen, subject = car
    cams = spread_orbit_cameras(1, gen.orbit)
    if "path" not in inspect.signature(gen.render).parameters:
        with pytest.raises(DnerfError, match="no fast volume path"):
            render_views(gen, subject, cams, 16, render="fast")
        pytest.skip("generator.render has no path= keyword yet (the fast volume path lands on its own branch)")
    fast = render_views(gen, subject, cams, 16, render="fast")
    assert fast.labels.shape == (1, 16, 16)


def test_errors(car, monkeypatch):
    gen, subject = car
    cams = spread_orbit_cameras(1, gen.orbit)
    with pytest.raises(DnerfError, match="unknown render path"):
        render_views(gen, subject, cams, 16, render="raster")
    with pytest.raises(DnerfError, match="one subject"):
        render_surface(gen, gen.sample([1, 2]), cams, 16)
    with pytest.raises(DnerfError, match="samples_per_hit"):
        SurfaceConfig(samples_per_hit=0)
    # without the extra: one line naming it, before any work
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "open3d" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"pip install 'dnerf\[fast\]'"):
        dn.label_subject(gen, seed=7, views=1, resolution=16, render="surface")
    with pytest.raises(MissingExtraError, match=r"dnerf\[fast\]"):
        render_surface(gen, gen.sample([8]), cams, 16)
    # the default path never needs it
    labeled = dn.label_subject(dn.load_generator("procedural:car", device="cpu"), seed=1, views=1, resolution=16,
                               mesh=False)
    assert labeled.render == "fast"  # "auto" resolved and recorded


@pytest.mark.slow
def test_default_car_mesh_has_no_background_face_and_keeps_small_parts(car):
    """default:car seed 7: the centroid labels gave 628 background faces and no `light` face,
    while the oracle (and the exported cloud) has lights."""
    from dnerf_core.factory.mesh import extract_mesh

    gen, subject = car
    mesh = extract_mesh(gen, subject, resolution=128)
    counts = torch.bincount(torch.from_numpy(mesh.face_labels).long(), minlength=len(gen.label_set))
    assert counts[0] == 0
    assert (counts[1:] > 0).all(), dict(zip(gen.label_set.names, counts.tolist()))
    oracle = dn.load_generator("procedural:car", device="cpu")
    truth = oracle.labels_at(oracle.sample([7]), torch.from_numpy(mesh.vertices[mesh.faces].mean(1))[None])[0]
    assert (truth.numpy() == mesh.face_labels).mean() > 0.85  # measured 0.89 (area-weighted)


@pytest.mark.e2e
def test_cli_render_option(tmp_path):
    import json
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "dnerf_core.cli", *args], capture_output=True, text=True,
                              timeout=600)

    for cmd in (["export", "--generator", "procedural:car", "--out", str(tmp_path / "a")],
                ["annotate-kit", "--generator", "procedural:car", "--out", str(tmp_path / "b")],
                ["dataset", "--generator", "procedural:car", "--subjects", "1", "--views", "1",
                 "--out", str(tmp_path / "c")]):
        res = run(*cmd, "--render", "raster")
        assert res.returncode == 2, (cmd, res.stderr)
        assert "Traceback" not in res.stderr and "raster" in res.stderr
    assert not any(tmp_path.iterdir())  # nothing half-written
    out = tmp_path / "surface"
    res = run("export", "--generator", "procedural:car", "--seed", "7", "--views", "2", "--resolution", "32",
              "--mesh-resolution", "32", "--masks", "--glb", "--render", "surface", "--quiet", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "export.json").read_text())["render"] == "surface"


def test_superres_over_the_hits_box_is_exact(car, monkeypatch):
    """The semantic super-resolution run over the hit pixels' box (plus its receptive radius)
    gives the very numbers of running it over the whole image."""
    import dnerf_core.factory.surface_views as sv

    gen, subject = car
    cams = spread_orbit_cameras(2, gen.orbit)
    cfg = SurfaceConfig(samples_per_hit=3)
    cropped = render_surface(gen, subject, cams, 40, cfg).output
    assert sv._receptive_radius(gen.branch.superres) == 2
    monkeypatch.setattr(sv, "_receptive_radius", lambda superres: None)
    whole = render_surface(gen, subject, cams, 40, cfg).output
    assert torch.equal(cropped.labels, whole.labels) and torch.equal(cropped.semantic, whole.semantic)
    assert (cropped.opacity == 0).any()  # the box leaves pixels out


def test_superres_false_gives_the_raw_outputs(car):
    """superres=False: the raw RGB and the composited probabilities' labels, which agree with the
    volume path's before its super-resolution (the branch's probs_raw); the other outputs are
    those of the full render."""
    gen, subject = car
    cams = spread_orbit_cameras(2, gen.orbit)
    full = render_surface(gen, subject, cams, 64).output
    raw = render_surface(gen, subject, cams, 64, superres=False).output
    assert torch.equal(raw.rgb, raw.rgb_raw) and torch.equal(raw.rgb_raw, full.rgb_raw)
    assert torch.equal(raw.depth, full.depth) and torch.equal(raw.opacity, full.opacity)
    assert raw.semantic.shape == full.semantic.shape
    assert torch.allclose(raw.semantic.sum(dim=1), torch.ones(2, 64, 64), atol=1e-5)
    assert torch.equal(raw.labels, raw.semantic.max(dim=1).indices)
    volume = gen.branch.render(gen.generator, subject, cams, 64)
    scores = segmentation_scores(confusion_matrix(raw.labels, volume.probs_raw.argmax(1), len(gen.label_set)))
    assert scores.miou >= 0.98 and scores.accuracy >= 0.99, scores  # measured 0.9998, 0.9999
    assert not torch.equal(raw.labels, full.labels)  # the super-resolution does change some pixels


def test_window_layout_and_blocks(car, monkeypatch):
    """The window's samples: dense up to window_dense, the tail beyond, in coarse steps; shading
    in blocks of hits gives the very bytes of one pass over all of them."""
    import dnerf_core.factory.surface_views as sv

    gen, subject = car
    step = sv._step(gen)
    offs = sv._window(gen, SurfaceConfig(), "cpu") / step
    assert len(offs) == sv.DEFAULT_SAMPLES_PER_HIT and offs[0].item() == pytest.approx(-sv.WINDOW_BEFORE)
    dense = offs[:len(offs) - sv.TAIL_SAMPLES]
    assert dense[-1].item() == pytest.approx(sv.WINDOW_DENSE) and offs[-1].item() == pytest.approx(sv.WINDOW_AFTER)
    assert (offs.diff() > 0).all() and offs.diff()[-1] > dense.diff().max()
    assert sv._window(gen, SurfaceConfig(samples_per_hit=1), "cpu").tolist() == [pytest.approx(sv.POINT_HIT_OFFSET * step)]
    cams = spread_orbit_cameras(2, gen.orbit)
    for name in ("SHADE_BLOCK_POINTS", "NATIVE_SHADE_BLOCK_POINTS"):  # ~100 hits a block
        monkeypatch.setattr(sv, name, 100 * sv.DEFAULT_SAMPLES_PER_HIT)
    blocked = render_surface(gen, subject, cams, 40).output
    for name in ("SHADE_BLOCK_POINTS", "NATIVE_SHADE_BLOCK_POINTS"):
        monkeypatch.setattr(sv, name, 1 << 30)
    whole = render_surface(gen, subject, cams, 40).output
    for x, y in ((blocked.labels, whole.labels), (blocked.rgb, whole.rgb), (blocked.depth, whole.depth)):
        assert torch.allclose(x.float(), y.float(), atol=1e-5)
    with pytest.raises(DnerfError, match="window"):
        SurfaceConfig(window_dense=20.0)
    with pytest.raises(DnerfError, match="level_scale"):
        SurfaceConfig(level_scale=0.0)
    with pytest.raises(DnerfError, match="semantic_floor"):
        SurfaceConfig(semantic_floor=1.0)


def test_semantic_field_skips_weightless_samples(car):
    """The branch is evaluated only at window samples carrying at least semantic_floor of the
    blend, as on the fast volume path: fewer evaluations, the same labels (floor 0 keeps every
    sample). Counted through the eager decoder's hook (the native kernel runs no module)."""
    gen, subject = car
    cams = spread_orbit_cameras(2, gen.orbit)
    counts = []
    hook = gen.branch.decoder.fc1.register_forward_hook(lambda m, i, o: counts.append(i[0].shape[:-1].numel()))
    try:
        with native_kernel(False):
            skipping = render_surface(gen, subject, cams, 40).output
            n_skip = sum(counts)
            counts.clear()
            every = render_surface(gen, subject, cams, 40, SurfaceConfig(semantic_floor=0.0)).output
            n_every = sum(counts)
    finally:
        hook.remove()
    assert n_skip < 0.9 * n_every, (n_skip, n_every)
    assert (skipping.labels == every.labels).float().mean() >= 0.999


@pytest.mark.skipif(not native_available(), reason="the native kernel is not built here")
@pytest.mark.parametrize("path", ["surface", "fast"])
def test_native_kernel_renders_what_the_eager_fields_render(car, path):
    """The surface and fast paths with the native plane-MLP kernel (render/plane_mlp.py) against
    the same paths on the fields' eager code: the same labels, RGB and depth to float rounding."""
    gen, subject = car
    cams = spread_orbit_cameras(2, gen.orbit)

    def render():
        if path == "surface":
            return render_surface(gen, subject, cams, 40).output
        return gen.render(subject, cams, 40, path="fast")

    native = render()
    with native_kernel(False):
        eager = render()
    assert (native.labels == eager.labels).float().mean() >= 0.999
    for x, y in ((native.rgb, eager.rgb), (native.depth, eager.depth), (native.opacity, eager.opacity)):
        assert torch.allclose(x, y, atol=1e-4), (x - y).abs().max()
