"""Ray-marching kernels: every fast path against its slow twin; determinism; march end to end."""
import pytest
import torch

from dnerf_core.render.config import IMPORTANCE_BINS, RenderingConfig
from dnerf_core.render.raymarch import (composite, composite_probabilities, composite_slow, identity_density,
                                        importance_depths, importance_depths_slow, inverse_cdf, inverse_cdf_slow, march,
                                        march_slow, stratified_depths)


def _inputs(seed=0, n=2, r=3, s=9, c=4):
    g = torch.Generator().manual_seed(seed)
    feats = torch.rand(n, r, s, c, generator=g, dtype=torch.float64)
    sig = torch.randn(n, r, s, 1, generator=g, dtype=torch.float64) * 4
    depths = torch.sort(torch.rand(n, r, s, 1, generator=g, dtype=torch.float64) * 2 + 1, dim=2).values
    return feats, sig, depths


def test_stratified_deterministic_and_jittered():
    d = stratified_depths(2, 3, 1.0, 2.0, 5)
    assert d.shape == (2, 3, 5, 1)
    assert torch.allclose(d[0, 0, :, 0], torch.linspace(1, 2, 5))
    assert torch.equal(d, stratified_depths(2, 3, 1.0, 2.0, 5))
    j1 = stratified_depths(2, 3, 1.0, 2.0, 5, generator=torch.Generator().manual_seed(0))
    j2 = stratified_depths(2, 3, 1.0, 2.0, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(j1, j2) and not torch.equal(j1, d)
    assert ((j1 - d) >= 0).all() and ((j1 - d) <= 0.25 + 1e-6).all()


def test_composite_fast_equals_slow():
    feats, sig, depths = _inputs()
    for white in (False, True):
        fast, slow = composite(feats, sig, depths, white_back=white), composite_slow(feats, sig, depths, white_back=white)
        for a, b in ((fast.features, slow.features), (fast.depth, slow.depth), (fast.opacity, slow.opacity),
                     (fast.weights, slow.weights)):
            assert torch.allclose(a, b, atol=1e-12)


def test_composite_gradients_match_slow():
    feats, sig, depths = _inputs(1)
    feats.requires_grad_(True)
    sig.requires_grad_(True)
    fast = composite(feats, sig, depths)
    slow = composite_slow(feats, sig, depths)
    g_fast = torch.autograd.grad(fast.features.sum() + fast.depth.sum(), (feats, sig))
    g_slow = torch.autograd.grad(slow.features.sum() + slow.depth.sum(), (feats, sig))
    for a, b in zip(g_fast, g_slow):
        assert torch.allclose(a, b, atol=1e-10)


def test_composite_gradcheck():
    feats, sig, depths = _inputs(2, n=1, r=2, s=5, c=2)
    assert torch.autograd.gradcheck(lambda f, s_: composite(f, s_, depths).features,
                                    (feats.requires_grad_(True), sig.requires_grad_(True)))


def test_opaque_slab_values():
    # A single dense slab: opacity ~1, depth at the slab, features = the slab's value.
    depths = torch.linspace(0, 4, 41, dtype=torch.float64).reshape(1, 1, 41, 1)
    sig = torch.where((depths > 1.95) & (depths < 2.45), 1e4, 0.0)
    feats = torch.where(depths > 1.95, 0.7, 0.1).expand(1, 1, 41, 3)
    out = composite(feats, sig, depths, density_activation=identity_density)
    assert torch.allclose(out.opacity, torch.ones(1, 1, 1, dtype=torch.float64))
    assert abs(out.depth.item() - 2.0) < 0.06
    # empty ray: zero opacity, depth clamped to the far end, white background shows through
    empty = composite(feats, torch.zeros_like(sig), depths, identity_density, white_back=True)
    assert empty.opacity.item() == 0 and empty.depth.item() == 4.0
    assert torch.allclose(empty.features, torch.ones(1, 1, 3, dtype=torch.float64))


def test_class_probabilities_sum_to_one():
    feats, sig, depths = _inputs(3, c=5)
    probs = torch.softmax(feats * 5, dim=-1)
    w = composite(feats, sig, depths).weights
    out = composite_probabilities(probs, w, background_class=0)
    assert torch.allclose(out.sum(-1), torch.ones(2, 3, dtype=torch.float64))
    # foreground share equals opacity-weighted probabilities; background gets the rest
    assert (out[..., 0] >= (1 - w.sum(-2)[..., 0]) - 1e-12).all()


def test_inverse_cdf_fast_equals_slow():
    g = torch.Generator().manual_seed(4)
    edges = torch.sort(torch.rand(6, 12, generator=g, dtype=torch.float64), dim=1).values
    weights = torch.rand(6, 11, generator=g, dtype=torch.float64) + 0.01
    assert torch.allclose(inverse_cdf(edges, weights, 20), inverse_cdf_slow(edges, weights, 20), atol=1e-12)


def test_importance_concentrates_on_mass():
    depths = torch.linspace(0, 1, 33).reshape(1, 1, 33, 1)
    w = torch.zeros(1, 1, 32, 1)
    w[0, 0, 20] = 1.0  # all mass in [0.625, 0.656]
    fine = importance_depths(depths, w, 64)
    assert fine.shape == (1, 1, 64, 1)
    inside = ((fine > 0.58) & (fine < 0.72)).float().mean()
    assert inside > 0.7
    assert torch.equal(fine, importance_depths(depths, w, 64))  # deterministic at inference


def test_march_sphere():
    # analytic field: a dense sphere of radius 0.5 at the origin, colored by position
    def field(points, dirs):
        inside = (points.norm(dim=-1, keepdim=True) < 0.5).to(points.dtype)
        return inside * 200.0 - 100.0, torch.sigmoid(points)

    cfg = RenderingConfig(depth_resolution=32, depth_resolution_importance=32, ray_start=1.0, ray_end=3.0,
                          box_warp=2.0, white_back=False, neural_resolution=8)
    origins = torch.tensor([[[0.0, 0.0, 2.0], [0.0, 0.8, 2.0]]])
    dirs = torch.tensor([[[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]]])
    out = march(field, origins, dirs, cfg)
    assert out.depths.shape == (1, 2, 64, 1)
    assert (out.depths[..., 1:, :] >= out.depths[..., :-1, :]).all()
    assert abs(out.depth[0, 0].item() - 1.5) < 0.03 and out.opacity[0, 0].item() > 0.99
    assert out.opacity[0, 1].item() < 1e-6  # misses the sphere
    again = march(field, origins, dirs, cfg)
    assert torch.equal(out.features, again.features)
    # importance samples make the surface sharper than the coarse pass alone would
    coarse_only = march(field, origins, dirs, RenderingConfig(32, 0, 1.0, 3.0, 2.0, False, 8))
    assert abs(out.depth[0, 0].item() - 1.5) <= abs(coarse_only.depth[0, 0].item() - 1.5) + 1e-6


def test_empty_rays_give_far_depth_and_finite_gradients():
    # a ray with zero density everywhere: depth is the far end, and backprop through the depth
    # (masked or not) must not produce NaN — that once killed generator training
    depths = torch.linspace(1.0, 2.0, 6).reshape(1, 1, 6, 1).expand(1, 2, 6, 1).contiguous()
    sigmas = torch.full((1, 2, 6, 1), -1e4, requires_grad=True)
    feats = torch.rand(1, 2, 6, 3)
    comp = composite(feats, sigmas, depths)
    assert torch.equal(comp.depth, torch.full((1, 2, 1), 2.0))
    (comp.depth.sum() * 0 + comp.features.sum()).backward()
    assert torch.isfinite(sigmas.grad).all()


@pytest.mark.parametrize("bins", IMPORTANCE_BINS)
def test_importance_depths_fast_equals_slow(bins):
    """Both binnings, vectorized vs one ray at a time."""
    g = torch.Generator().manual_seed(5)
    depths = torch.sort(torch.rand(2, 3, 12, 1, generator=g, dtype=torch.float64), dim=2).values
    weights = torch.rand(2, 3, 11, 1, generator=g, dtype=torch.float64) ** 4
    fast = importance_depths(depths, weights, 16, bins=bins)
    slow = importance_depths_slow(depths, weights, 16, bins)
    assert torch.allclose(fast, slow, atol=1e-12)
    if bins == "samples":
        return
    # every new depth lies between the first and the (S-2)-th midpoint: EG3D's bins
    mids = 0.5 * (depths[..., 1:, :] + depths[..., :-1, :])
    assert (fast >= mids[..., :1, :] - 1e-12).all() and (fast <= mids[..., -2:-1, :] + 1e-12).all()


@pytest.mark.parametrize("bins", IMPORTANCE_BINS)
def test_march_fast_equals_slow(bins):
    g = torch.Generator().manual_seed(6)
    centre = torch.tensor([0.1, -0.05, 0.0], dtype=torch.float64)

    def field(points, dirs):
        d = (points - centre).norm(dim=-1, keepdim=True)
        return 40 * (0.4 - d), torch.cat([points.sin(), d], dim=-1)

    origins = torch.tensor([[[0.0, 0.0, -2.0]]], dtype=torch.float64).expand(1, 5, 3)
    dirs = torch.nn.functional.normalize(torch.randn(1, 5, 3, generator=g, dtype=torch.float64) * 0.1
                                         + torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), dim=-1)
    cfg = RenderingConfig(16, 16, 1.0, 3.0, 1.0, False, 8, importance_bins=bins)
    fast, slow = march(field, origins, dirs, cfg), march_slow(field, origins, dirs, cfg)
    for name in ("features", "depth", "opacity", "depths"):
        assert torch.allclose(getattr(fast, name), getattr(slow, name), atol=1e-10), name
