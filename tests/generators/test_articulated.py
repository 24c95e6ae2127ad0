"""The articulated tri-plane generator: its warp agrees with the oracle's inverse map, masked samples
have no density, renders repeat and follow the pose, weight files round-trip, a tiny run learns."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from dnerf_core.cameras import orbit_cameras
from dnerf_core.errors import CheckpointError, GeneratorSpecError
from dnerf_core.generators.articulated import (MASKED_SIGMA, ArticulatedConfig, ArticulatedTriPlane,
                                               articulated_distill_step, default_figure_config, load_articulated,
                                               save_articulated, warp_points)
from dnerf_core.generators.base import Generator
from dnerf_core.generators.distill import DistillConfig
from dnerf_core.generators.procedural.figure import BOUNDS, FigureGenerator, make_figure, random_pose
from dnerf_core.generators.procedural.skeleton import named_pose
from dnerf_core.generators.registry import default_weights_path, load_generator
from checks import figure_interior_points


pytestmark = pytest.mark.usefixtures("one_thread")  # many small tensor ops


def tiny_config():
    """A few-thousand-parameter articulated generator: the architecture of the default, smaller."""
    return replace(default_figure_config(), z_dim=16, w_dim=32, plane_resolution=32, channel_base=512,
                   channel_max=32, plane_channels=32)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return ArticulatedTriPlane(tiny_config(), name="tiny").eval()


def posed_interior(figure, pose, n_per_part, seed):
    posed = figure.posed(pose)
    canon, part = figure_interior_points(figure, n_per_part, seed)
    return posed, posed.to_posed(canon, part).float(), canon, part


def test_warp_of_points_inside_parts_is_the_oracles_inverse_map():
    oracle = FigureGenerator()
    for i, subject_seed in enumerate((0, 3)):
        figure = make_figure(subject_seed)
        for pose in (named_pose("sit"), named_pose("wave"), random_pose(figure, 11 + i)):
            posed, world, canon, part = posed_interior(figure, pose, 30, i)
            warp = warp_points(posed, world, ArticulatedConfig())
            truth = oracle.to_canonical(oracle.sample([subject_seed], pose=pose), world)
            assert torch.equal(warp.part, truth.part) and torch.equal(warp.part, part)
            assert torch.equal(warp.canonical, truth.points)  # bit for bit: one implementation of the map
            assert (warp.canonical.double() - canon).abs().max() < 1e-6
            assert warp.keep.all() and (warp.distance < 0).all()


def test_masked_samples_have_zero_density(tiny):
    subject = tiny.sample([2], pose="walk")
    posed = subject.params[0]
    gen = torch.Generator().manual_seed(0)
    pts = (torch.rand(1, 20000, 3, generator=gen) * 2 - 1) * BOUNDS
    warp = tiny.warp(subject, pts)[0]
    far = ~warp.keep
    assert far.float().mean() > 0.5 and warp.keep.any()
    assert (warp.distance[warp.distance > ArticulatedConfig().margin] > 0).all()
    assert not warp.keep[warp.distance > ArticulatedConfig().margin].any()
    sigma, _ = tiny.field(subject)(pts, torch.zeros_like(pts))
    assert (sigma[0, far, 0] == MASKED_SIGMA).all()
    density = tiny.density(subject, pts)[0]
    assert (density[far] == 0).all()  # exactly zero, not small
    # kept samples read the canonical planes at their warped points
    canon_sigma, _ = tiny.canonical_field(subject)(warp.canonical[None], pts)
    assert torch.equal(sigma[0, warp.keep], canon_sigma[0, warp.keep])
    # consistent ownership: a kept sample's canonical point belongs to its owner at rest too
    rest_owner = posed.figure.rest.nearest_part(warp.canonical[warp.keep])
    assert torch.equal(rest_owner, warp.part[warp.keep])


def test_density_grids_read_the_warped_field(tiny):
    """density_summed (what the occupancy grid and the marching-cubes grids are built from) is
    density() of the posed subject to float rounding: warped points, masked samples exactly 0."""
    subject = tiny.sample([2], pose="walk")
    pts = (torch.rand(1, 4000, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1) * BOUNDS
    ref = tiny.density(subject, pts)
    fast = tiny.density_summed(subject, pts)
    assert torch.allclose(fast, ref, rtol=1e-4, atol=1e-5)
    assert torch.equal(fast == 0, ref == 0) and (ref == 0).float().mean() > 0.5


def test_renders_repeat_follow_the_pose_and_round_trip(tiny, tmp_path):
    assert isinstance(tiny, Generator)
    cams = orbit_cameras([0.4, 2.0], [0.1, 0.2], tiny.orbit)
    a = tiny.render(tiny.sample([4], pose="t"), cams, 16)
    b = tiny.render(tiny.sample([4]), cams, 16, pose="t")
    assert a.rgb.shape == (2, 3, 16, 16) and a.depth.shape == (2, 1, 16, 16)
    assert a.rgb.numpy().tobytes() == b.rgb.numpy().tobytes()
    rest = tiny.render(tiny.sample([4]), cams, 16)
    assert not torch.equal(rest.opacity, a.opacity)
    path = tmp_path / "tiny.pt"
    save_articulated(path, tiny)
    again = load_articulated(path)
    assert again.articulated == tiny.articulated and again.config == tiny.config
    c = again.render(again.sample([4], pose="t"), cams, 16)
    assert c.rgb.numpy().tobytes() == a.rgb.numpy().tobytes()
    (tmp_path / "junk.pt").write_bytes(b"not a weight file")
    with pytest.raises(CheckpointError):
        load_articulated(tmp_path / "junk.pt")


def test_registry_names_the_figure():
    assert isinstance(load_generator("procedural:figure"), FigureGenerator)
    if default_weights_path("figure").is_file():
        gen = load_generator("default:figure")
        assert isinstance(gen, ArticulatedTriPlane) and str(gen.spec) == "default:figure"
    else:
        with pytest.raises(GeneratorSpecError, match="train_articulated.py"):
            load_generator("default:figure")


@pytest.mark.slow
def test_a_tiny_training_run_lowers_its_loss():
    torch.manual_seed(0)
    model = ArticulatedTriPlane(tiny_config(), name="tiny").train()
    oracle = FigureGenerator()
    cfg = replace(DistillConfig(), batch_subjects=1, rays_per_subject=128, points_per_subject=1024,
                  train_samples=(16, 16))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    losses = [articulated_distill_step(model, oracle, optimizer, cfg, rng, gen).total for _ in range(40)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:8]), losses
