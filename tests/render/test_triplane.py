"""Tri-plane projection: EG3D axis convention and fast == slow bilinear sampling."""
import torch

from dnerf_core.render.triplane import (PLANE_AXES, channels_innermost, project_onto_planes, sample_planes,
                                       sample_planes_slow)


def test_axis_convention_is_eg3d():
    # (x, y), (x, z), (z, x): checkpoints depend on this exact choice
    assert PLANE_AXES == ((0, 1), (0, 2), (2, 0))
    pts = torch.tensor([[[0.1, 0.2, 0.3]]])
    coords = project_onto_planes(pts, box_warp=1.0)
    assert coords.shape == (1, 3, 1, 2)
    assert torch.allclose(coords[0, :, 0], torch.tensor([[0.2, 0.4], [0.2, 0.6], [0.6, 0.2]]))


def test_feature_at_known_location_is_found():
    planes = torch.zeros(1, 3, 1, 8, 8)
    # a blob on plane 2 at width index 6 (z), height index 1 (x)
    planes[0, 2, 0, 1, 6] = 1.0
    # pixel centers under align_corners=False: index i <-> coordinate (2i+1)/8 - 1
    z, x = (2 * 6 + 1) / 8 - 1, (2 * 1 + 1) / 8 - 1
    pts = torch.tensor([[[x / 2, 0.0, z / 2], [-x / 2, 0.0, z / 2]]])  # box_warp 1: world = coord/2
    out = sample_planes(planes, pts, box_warp=1.0)
    assert torch.isclose(out[0, 2, 0, 0], torch.tensor(1.0))
    assert out[0, 2, 1, 0] == 0  # mirrored x misses it
    assert out[0, :2].abs().sum() == 0


def test_fast_equals_slow_forward_and_grad():
    g = torch.Generator().manual_seed(0)
    planes = torch.randn(2, 3, 4, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    # include points outside the box to exercise zero padding
    pts = (torch.rand(2, 7, 3, generator=g, dtype=torch.float64) * 2.4 - 1.2).requires_grad_(True)
    fast = sample_planes(planes, pts, box_warp=1.6)
    slow = sample_planes_slow(planes, pts, box_warp=1.6)
    assert fast.shape == (2, 3, 7, 4)
    assert torch.allclose(fast, slow, atol=1e-12)
    w = torch.randn(fast.shape, generator=g, dtype=torch.float64)
    gp_fast, gx_fast = torch.autograd.grad((fast * w).sum(), (planes, pts))
    gp_slow, gx_slow = torch.autograd.grad((slow * w).sum(), (planes, pts))
    assert torch.allclose(gp_fast, gp_slow, atol=1e-10)
    assert torch.allclose(gx_fast, gx_slow, atol=1e-10)


def test_channels_innermost_planes_sample_the_same_bytes_and_grads():
    g = torch.Generator().manual_seed(1)
    planes = torch.randn(2, 3, 8, 9, 10, generator=g, requires_grad=True)
    pts = torch.rand(2, 50, 3, generator=g) * 2.4 - 1.2
    packed = channels_innermost(planes)
    assert torch.equal(packed, planes) and packed.stride()[2] == 1
    assert torch.equal(sample_planes(packed, pts, 1.6), sample_planes(planes, pts, 1.6))
    w = torch.randn(2, 3, 50, 8, generator=g)
    grad_packed, = torch.autograd.grad((sample_planes(packed, pts, 1.6) * w).sum(), planes)
    grad_plain, = torch.autograd.grad((sample_planes(planes, pts, 1.6) * w).sum(), planes)
    assert torch.allclose(grad_packed, grad_plain, atol=1e-6)


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    planes = torch.randn(1, 3, 2, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    pts = torch.rand(1, 5, 3, generator=g, dtype=torch.float64) - 0.5
    assert torch.autograd.gradcheck(lambda p: sample_planes(p, pts, 1.0), (planes,))


def test_summed_sampling_equals_sum_of_planes_forward_and_grad():
    from dnerf_core.render.triplane import sample_planes_summed

    g = torch.Generator().manual_seed(3)
    planes = torch.randn(2, 3, 4, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    pts = (torch.rand(2, 9, 3, generator=g, dtype=torch.float64) * 2.4 - 1.2).requires_grad_(True)
    fast = sample_planes_summed(planes, pts, box_warp=1.6)
    slow = sample_planes_slow(planes, pts, box_warp=1.6).sum(dim=1)
    assert fast.shape == (2, 9, 4) and torch.allclose(fast, slow, atol=1e-12)
    w = torch.randn(fast.shape, generator=g, dtype=torch.float64)
    ga = torch.autograd.grad((fast * w).sum(), (planes, pts))
    gb = torch.autograd.grad((slow * w).sum(), (planes, pts))
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(ga, gb))
