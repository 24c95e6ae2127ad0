"""dnerf reproduces what the official EG3D code computes from an official-format pickle.

The references live in ../shared/fixtures/eg3d-official-small*/ (see each README: narrow random
weights written by the official code, ffhq512-128 and shapenetcars128-64 settings, float32 on a
CPU, deterministic ray sampling). Both the fast kernels and their slow twins are checked against
them: a twin that agrees with a wrong fast path would prove nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from dnerf_core.cameras import Cameras, ray_bundle
from dnerf_core.generators.eg3d import load_eg3d
from dnerf_core.generators.networks import ops
from dnerf_core.render import raymarch
from dnerf_core.render.triplane import sample_planes_slow

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
CASES = ("eg3d-official-small", "eg3d-official-small-shapenet")
TRUNCATION = 0.7  # the README's G.mapping(z, c, truncation_psi=0.7)
# Tolerances the parity issue sets.
WS_TOL = 1e-4
PLANES_TOL = 1e-3
POINTS_TOL = 1e-3
RAW_MIN_DB = 60.0
SR_MIN_DB = 55.0
SLOW_RAYS = 48  # pixels checked through the slow, one-ray-at-a-time march

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"no official EG3D fixtures at {FIXTURES} "
                                                               "(they live beside the repository, not in it)")


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float) -> float:
    mse = (a.double() - b.double()).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(peak ** 2 / mse)


@dataclass
class Case:
    name: str
    gen: object
    ref: dict

    def tensor(self, key: str) -> torch.Tensor:
        return torch.from_numpy(self.ref[key]).float()

    @property
    def ws(self) -> torch.Tensor:
        return self.tensor("ws")

    @property
    def cameras(self) -> Cameras:
        return Cameras.from_eg3d_label(self.tensor("c"))

    @property
    def depth_peak(self) -> float:  # depth PSNR against the range a depth can take on a ray
        r = self.gen.rendering
        return r.ray_end - r.ray_start


@pytest.fixture(scope="module", params=CASES)
def case(request) -> Case:
    folder = FIXTURES / request.param
    with np.load(folder / "reference.npz") as data:
        ref = {k: data[k] for k in data.files}
    return Case(request.param, load_eg3d(folder / "official_G.pkl"), ref)


def strided(planes_image: torch.Tensor, index: np.ndarray) -> torch.Tensor:
    idx = torch.from_numpy(index).long()
    return planes_image[:, :, idx][:, :, :, idx]


def use_slow_kernels(monkeypatch) -> None:
    """Every StyleGAN2 kernel of the backbone and super-resolution through its slow twin."""
    monkeypatch.setattr(ops, "modulated_conv2d", ops.modulated_conv2d_slow)
    monkeypatch.setattr(ops, "upsample2d", ops.upsample2d_slow)


# --- mapping and synthesis --------------------------------------------------------------------
def test_ws(case):
    g = case.gen
    c = torch.zeros_like(case.tensor("c")) if g.config.conditioning_zero else case.tensor("c")
    ws = g.mapping(case.tensor("z"), c, TRUNCATION)
    assert (ws - case.ws).abs().max().item() < WS_TOL


@pytest.mark.parametrize("kernels", ["fast", "slow"])
def test_planes_including_borders(case, kernels, monkeypatch):
    if kernels == "slow":
        use_slow_kernels(monkeypatch)
    with torch.no_grad():
        img, _ = case.gen.backbone.synthesis(case.ws, "const")
    got = strided(img, case.ref["plane_index"])
    diff = (got - case.tensor("planes_strided")).abs()
    assert diff.max().item() < PLANES_TOL
    # the kept rows/columns include 1-3 and 252-255: both borders are in the maximum above,
    # and the reference is far from trivially small there
    assert case.ref["plane_index"][0] == 0 and case.ref["plane_index"][-1] == img.shape[-1] - 1
    assert case.tensor("planes_strided")[..., -1, :].abs().max() > 0.1


# --- decoder at points ----------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["fast", pytest.param("slow", marks=pytest.mark.slow)])
def test_density_and_features_at_points(case, sampler):
    g = case.gen
    subject = g.synthesize(case.ws, [0])
    pts = case.tensor("pts")
    with torch.no_grad():
        if sampler == "fast":
            sigma, feats = g.field(subject)(pts, pts)
        else:
            sigma, feats = g.decoder(sample_planes_slow(subject.planes, pts, g.rendering.box_warp))
    assert (sigma - case.tensor("sigma")).abs().max().item() < POINTS_TOL
    assert (feats - case.tensor("rgb")).abs().max().item() < POINTS_TOL


# --- the render -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered(case):
    g = case.gen
    subject = g.synthesize(case.ws, [0])
    return subject, g.render(subject, case.cameras)


@pytest.mark.slow  # the fixture renders a 512x512 view
def test_raw_image_and_depth(case, rendered):
    _, out = rendered
    assert out.rgb_raw.shape == case.ref["image_raw"].shape
    assert psnr(out.rgb_raw * 2 - 1, case.tensor("image_raw"), 2.0) >= RAW_MIN_DB
    assert psnr(out.depth, case.tensor("depth"), case.depth_peak) >= RAW_MIN_DB


@pytest.mark.slow  # the fixture renders a 512x512 view
def test_super_resolved_image(case, rendered):
    _, out = rendered
    assert out.rgb.shape == case.ref["image"].shape
    assert psnr(out.rgb * 2 - 1, case.tensor("image"), 2.0) >= SR_MIN_DB


@pytest.mark.slow
def test_slow_march_matches_reference_pixels(case, rendered):
    """The one-ray-at-a-time march (slow compositing and importance sampling) on a spread of
    pixels, against the official raw image and depth at those pixels."""
    g = case.gen
    subject, _ = rendered
    res = g.rendering.neural_resolution
    rays = ray_bundle(case.cameras, res)
    pick = torch.linspace(0, res * res - 1, SLOW_RAYS).long()
    origins = rays.origins.reshape(1, -1, 3)[:, pick]
    dirs = rays.directions.reshape(1, -1, 3)[:, pick]
    planes, box_warp = subject.planes, g.rendering.box_warp

    def field(points, _directions):
        return g.decoder(sample_planes_slow(planes, points, box_warp))

    with torch.no_grad():
        slow = raymarch.march_slow(field, origins, dirs, g.rendering)
    ref_raw = case.tensor("image_raw").reshape(3, -1)[:, pick].T
    ref_depth = case.tensor("depth").reshape(-1)[pick]
    assert psnr(slow.features[0, :, :3] * 2 - 1, ref_raw, 2.0) >= RAW_MIN_DB
    assert psnr(slow.depth[0, :, 0], ref_depth, case.depth_peak) >= RAW_MIN_DB


@pytest.mark.slow
def test_slow_super_resolution(case, rendered, monkeypatch):
    subject, out = rendered
    use_slow_kernels(monkeypatch)
    with torch.no_grad():
        rgb = case.gen.super_resolve(subject, out.features)
    assert psnr(rgb * 2 - 1, case.tensor("image"), 2.0) >= SR_MIN_DB


@pytest.mark.slow  # the fixture renders a 512x512 view
def test_shapenet_raw_image_is_the_volume_render(case, rendered):
    """EG3D's 2x super-resolution adds into its input in place; dnerf's raw image stays the
    volume render (the white background composited in), as the reference was made."""
    if not case.gen.config.rendering.white_back:
        pytest.skip("white background only in the ShapeNet configuration")
    _, out = rendered
    assert torch.equal(out.rgb_raw, out.features[:, :3])
    assert out.rgb_raw.min() >= 0  # white background composited: mostly bright, never below 0
