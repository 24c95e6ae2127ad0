"""Backbone kernels: every fast kernel equals its slow twin (forward, gradients in float64)."""
import pytest
import torch

from dnerf_core.generators.networks import ops
from dnerf_core.generators.networks.layers import FullyConnected


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fir_filter_is_normalized_binomial():
    f = ops.fir_filter(dtype=torch.float64)
    assert f.shape == (4, 4)
    assert torch.isclose(f.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.allclose(f[0] / f[0, 0], torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 4, 5), (1, 2, 7, 3)])
def test_upsample2d_equals_slow(shape):
    x = _rand(*shape)
    fast = ops.upsample2d(x)
    assert fast.shape == (*shape[:2], 2 * shape[2], 2 * shape[3])
    assert torch.allclose(fast, ops.upsample2d_slow(x), atol=1e-12)


def test_upsample2d_keeps_the_mean_inside_and_is_linear():
    x = torch.ones(1, 1, 6, 6, dtype=torch.float64)
    up = ops.upsample2d(x)
    # gain 4 over a 4x zero-inserted grid: a constant image stays constant away from the zero border
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones_like(up[..., 2:-2, 2:-2]))
    a, b = _rand(1, 2, 3, 3, seed=1), _rand(1, 2, 3, 3, seed=2)
    assert torch.allclose(ops.upsample2d(2 * a - b), 2 * ops.upsample2d(a) - ops.upsample2d(b))


@pytest.mark.parametrize("up_order", ops.UPCONV_ORDERS)
@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("demodulate", [False, True])
def test_modulated_conv_equals_slow(up, demodulate, up_order):
    x, w, s = _rand(3, 4, 5, 5, seed=3), _rand(6, 4, 3, 3, seed=4), _rand(3, 4, seed=5)
    fast = ops.modulated_conv2d(x, w, s, demodulate=demodulate, up=up, up_order=up_order)
    slow = ops.modulated_conv2d_slow(x, w, s, demodulate=demodulate, up=up, up_order=up_order)
    assert fast.shape == (3, 6, 10 if up else 5, 10 if up else 5)
    assert torch.allclose(fast, slow, atol=1e-10)


@pytest.mark.slow
def test_modulated_conv_gradcheck():
    x = _rand(2, 2, 3, 3, seed=6).requires_grad_(True)
    w = _rand(3, 2, 3, 3, seed=7).requires_grad_(True)
    s = _rand(2, 2, seed=8).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda *a: ops.modulated_conv2d(*a, demodulate=True, up=True), (x, w, s))


@pytest.mark.parametrize("up_order", ops.UPCONV_ORDERS)
@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("demodulate", [False, True])
def test_frozen_weight_path_equals_slow_and_grouped(up, demodulate, up_order):
    # inversion: weights frozen, gradients to x and styles only -> activation-modulated path
    x = _rand(2, 4, 5, 5, seed=13).requires_grad_(True)
    s = _rand(2, 4, seed=15).requires_grad_(True)
    w = _rand(6, 4, 3, 3, seed=14)
    frozen = ops.modulated_conv2d(x, w, s, demodulate=demodulate, up=up, up_order=up_order)
    slow = ops.modulated_conv2d_slow(x, w, s, demodulate=demodulate, up=up, up_order=up_order)
    assert torch.allclose(frozen, slow, atol=1e-10)
    g_frozen = torch.autograd.grad(frozen.square().sum(), (x, s))
    w_grad = w.clone().requires_grad_(True)  # weight needing grad -> the grouped path
    grouped = ops.modulated_conv2d(x, w_grad, s, demodulate=demodulate, up=up, up_order=up_order)
    g_grouped = torch.autograd.grad(grouped.square().sum(), (x, s))
    for a, b in zip(g_frozen, g_grouped):
        assert torch.allclose(a, b, atol=1e-9)


@pytest.mark.slow
def test_frozen_weight_path_gradcheck():
    x = _rand(1, 2, 3, 3, seed=16).requires_grad_(True)
    s = _rand(1, 2, seed=17).requires_grad_(True)
    w = _rand(3, 2, 3, 3, seed=18)
    assert torch.autograd.gradcheck(lambda a, b: ops.modulated_conv2d(a, w, b, demodulate=True, up=True), (x, s))


def test_demodulation_gives_unit_norm_kernels():
    # a 1x1 input with a centered 3x3 kernel reads only the kernel center; with a kernel that is
    # zero except its center, demodulation makes each output channel's weights unit norm.
    w = torch.zeros(2, 3, 3, 3, dtype=torch.float64)
    w[:, :, 1, 1] = _rand(2, 3, seed=9)
    s = _rand(1, 3, seed=10)
    x = torch.eye(3, dtype=torch.float64).reshape(3, 3, 1, 1)  # three unit inputs
    out = torch.cat([ops.modulated_conv2d(x[i:i + 1], w, s) for i in range(3)])[..., 0, 0]  # [3 in, 2 out]
    assert torch.allclose(out.square().sum(0), torch.ones(2, dtype=torch.float64), atol=1e-6)


def test_normalize_2nd_moment():
    x = _rand(4, 16, seed=11) * 7
    y = ops.normalize_2nd_moment(x)
    assert torch.allclose(y.square().mean(1), torch.ones(4, dtype=torch.float64), atol=1e-6)


def test_equalized_lr_fully_connected():
    fc = FullyConnected(8, 4, lr_multiplier=0.01, bias_init=1.0).double()
    # stored weights are divided by the lr multiplier; the effective weight has std ~ 1/sqrt(in)
    x = _rand(5, 8, seed=12)
    expected = x @ (fc.weight * 0.01 / 8 ** 0.5).T + fc.bias * 0.01
    assert torch.allclose(fc(x), expected)
    assert torch.allclose(fc.bias, torch.ones(4, dtype=torch.float64))


def test_lrelu_gain_and_clamp():
    x = torch.tensor([-2.0, 0.5, 1000.0])
    y = ops.lrelu_agc(x, clamp=256)
    assert torch.allclose(y[:2], torch.tensor([-0.4, 0.5]) * 2 ** 0.5)
    assert y[2] == 256


def test_lrelu_inference_path_equals_autograd_path_and_leaves_its_input():
    x = torch.randn(2, 5, 7, 7) * 300
    keep = x.clone()
    with torch.no_grad():
        fast = ops.lrelu_agc(x, gain=0.5, clamp=256)
    assert torch.equal(x, keep)  # only the fresh activation is scaled in place
    assert torch.equal(fast, ops.lrelu_agc(x, gain=0.5, clamp=256))


@pytest.mark.parametrize("up", [False, True])
def test_modulated_conv_under_bf16_autocast_is_close_to_float32(up):
    torch.manual_seed(3)
    x, w, s = torch.randn(2, 16, 9, 9), torch.randn(8, 16, 3, 3), torch.randn(2, 16)
    ref = ops.modulated_conv2d_slow(x, w, s, up=up)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = ops.modulated_conv2d(x, w, s, up=up)
    assert got.dtype == torch.bfloat16 and got.shape == ref.shape
    # bfloat16 keeps 8 mantissa bits: a few parts in a thousand of the output's scale
    assert (got.float() - ref).abs().max() < 0.02 * ref.abs().max()


def test_upconv_orders_differ_by_the_kernel_flip_and_the_borders():
    """Both orders are the same filter with the kernel flipped, except near the borders."""
    x, w = _rand(1, 2, 6, 6, seed=30), _rand(3, 2, 3, 3, seed=31)
    eg3d = ops.upsample_conv2d(x, w, order="eg3d")
    fir_first = ops.upsample_conv2d(x, w.flip([2, 3]), order="fir_first")
    assert torch.allclose(eg3d[..., 1:-1, 1:-1], fir_first[..., 1:-1, 1:-1], atol=1e-12)
    assert not torch.allclose(eg3d, fir_first, atol=1e-6)
    assert not torch.allclose(eg3d, ops.upsample_conv2d(x, w, order="fir_first"), atol=1e-3)
