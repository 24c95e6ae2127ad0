"""Procedural oracle worlds: exact surfaces and labels, variety, determinism, errors."""
import numpy as np
import pytest
import torch

from dnerf_core.cameras import orbit_cameras, random_orbit_cameras, ray_bundle, spread_orbit_cameras
from dnerf_core.errors import DnerfError, GeneratorSpecError
from dnerf_core.generators.base import Generator
from dnerf_core.generators.procedural import CATEGORIES, ORACLE_LATENT_DIM, ProceduralGenerator, oracle_latent

RES = 64


@pytest.fixture(scope="module", params=CATEGORIES)
def rendered(request):
    gen = ProceduralGenerator(request.param)
    subject = gen.sample([3, 11, 12345])
    cams = random_orbit_cameras(3, gen.orbit, torch.Generator().manual_seed(0))
    return gen, subject, cams, gen.render(subject, cams, RES)


@pytest.mark.slow
def test_protocol_and_shapes(rendered):
    gen, subject, cams, out = rendered
    assert isinstance(gen, Generator)
    assert out.rgb.shape == (3, 3, RES, RES) and out.rgb_raw is out.rgb
    assert out.depth.shape == out.opacity.shape == (3, 1, RES, RES)
    assert out.labels.shape == (3, RES, RES) and out.labels.dtype == torch.int64
    assert out.rgb.min() >= 0 and out.rgb.max() <= 1


@pytest.mark.slow
def test_hits_lie_on_the_surface_and_labels_are_exact(rendered):
    gen, subject, cams, out = rendered
    rays = ray_bundle(cams, RES)
    hit = out.opacity[:, 0].flatten(1) > 0.5
    assert hit.float().mean() > 0.05
    pts = rays.origins + out.depth[:, 0].flatten(1)[..., None] * rays.directions
    sdf = gen.sdf_at(subject, pts)
    assert sdf[hit].abs().max() < 1e-3
    labels = gen.labels_at(subject, pts)
    assert torch.equal(labels[hit], out.labels.flatten(1)[hit])


@pytest.mark.slow
def test_background_pixels(rendered):
    gen, subject, cams, out = rendered
    bg = out.opacity[:, 0] == 0
    assert bg.any()
    assert (out.labels[bg] == 0).all()
    assert (out.rgb.permute(0, 2, 3, 1)[bg] == 1).all()  # white background
    assert ((out.opacity == 0) | (out.opacity == 1)).all()  # exact silhouettes


@pytest.mark.slow
def test_every_part_is_visible_somewhere():
    for category in CATEGORIES:
        gen = ProceduralGenerator(category)
        cams = spread_orbit_cameras(6, gen.orbit)
        out = gen.render(gen.sample([0]), cams, RES)
        assert set(torch.unique(out.labels).tolist()) == set(range(len(gen.label_set))), category


@pytest.mark.slow
def test_seeds_differ():
    for category in CATEGORIES:
        gen = ProceduralGenerator(category)
        seeds = list(range(40))
        cam = orbit_cameras(0.4, 0.2, gen.orbit)
        out = gen.render(gen.sample(seeds), _repeat(cam, 40), 48)
        masks = (out.opacity[:, 0] > 0.5).flatten(1).float()
        inter = masks @ masks.T
        union = masks.sum(1)[:, None] + masks.sum(1)[None] - inter
        iou = inter / union
        off_diag = iou[~torch.eye(40, dtype=torch.bool)]
        assert (off_diag < 0.97).float().mean() > 0.9, category
        mean_colors = out.rgb.flatten(2).mean(-1)
        assert torch.cdist(mean_colors, mean_colors)[~torch.eye(40, dtype=torch.bool)].min() > 1e-3


def _repeat(cam, n):
    from dnerf_core.cameras import Cameras

    return Cameras(cam.cam2world.expand(n, 4, 4).clone(), cam.intrinsics.expand(n, 3, 3).clone())


@pytest.mark.slow
def test_determinism_and_truncation():
    gen = ProceduralGenerator("car")
    cams = spread_orbit_cameras(2, gen.orbit)
    a = gen.render(gen.sample([5]), cams, 32)
    b = gen.render(gen.sample([5]), cams, 32)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.depth, b.depth) and torch.equal(a.labels, b.labels)
    m1 = gen.render(gen.sample([1], truncation=0.0), cams, 32)
    m2 = gen.render(gen.sample([2], truncation=0.0), cams, 32)
    assert torch.equal(m1.rgb, m2.rgb)  # truncation 0 is the mean subject for every seed


def test_latent_is_prefix_of_eg3d_z():
    z = np.random.RandomState(77).randn(512)
    assert np.array_equal(oracle_latent(77), z[:ORACLE_LATENT_DIM])


@pytest.mark.slow
def test_broadcast_and_batch_errors():
    gen = ProceduralGenerator("face")
    cams = spread_orbit_cameras(3, gen.orbit)
    one = gen.render(gen.sample([4]), cams, 24)
    per = gen.render(gen.sample([4, 4, 4]), cams, 24)
    assert torch.equal(one.labels, per.labels)
    with pytest.raises(DnerfError, match="subjects for 3 cameras"):
        gen.render(gen.sample([1, 2]), cams, 24)
    with pytest.raises(DnerfError):
        gen.sample([-1])


def test_unknown_category():
    with pytest.raises(GeneratorSpecError) as err:
        ProceduralGenerator("boat")
    assert "car" in str(err.value) and "face" in str(err.value)


def test_density_iso_level_is_the_surface():
    gen = ProceduralGenerator("car")
    subject = gen.sample([9])
    pts = (torch.rand(1, 4000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1) * gen.bounds
    inside = gen.density(subject, pts) > gen.density_threshold
    assert torch.equal(inside, gen.sdf_at(subject, pts) < 0)
