"""The native plane-MLP kernel (render/plane_mlp.py) against its answer key: the fields' eager
code (the table lookup of plane_taps.py, then the decoders' own layers)."""
import platform

import pytest
import torch

from dnerf_core.generators.networks.decoder import TriPlaneDecoder
from dnerf_core.render import plane_mlp
from dnerf_core.render.plane_mlp import PlaneMLP, SummedDecode, native_available, summed_plane_reader
from dnerf_core.render.plane_taps import summed_plane_lookup
from dnerf_core.semantic.decoder import SemanticDecoder

needs_native = pytest.mark.skipif(not native_available(), reason="the native kernel is not built here")
BOX = 1.6


def _planes(n=2, c=32, h=16, w=16, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, c, h, w, generator=g, dtype=dtype)


def _points(n=2, p=1000, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(n, p, 3, generator=g, dtype=dtype) * 2.2 - 1.1  # the box is +-0.8: outside too
    edges = torch.tensor([[0.8, 0.8, 0.8], [-0.8, -0.8, -0.8], [0.8001, 0.0, -0.8001], [0.0, 0.7999, 0.3],
                          [1e6, 0.1, -1e6], [0.8 / 16, -0.8 / 16, 0.0], [float("nan"), 0.0, 0.1]], dtype=dtype)
    return torch.cat([pts, edges[None].expand(n, -1, -1)], dim=1)


def _generator_decoder(seed=0):
    torch.manual_seed(seed)
    dec = TriPlaneDecoder(32, 64, 32, lr_multiplier=20.0)
    with torch.no_grad():  # trained decoders have biases; the default init has none
        for layer in (dec.net[0], dec.net[2]):
            layer.bias.normal_(0, 0.05)
    return dec


def _semantic_decoder(own_density=False, seed=0):
    torch.manual_seed(seed)
    dec = SemanticDecoder(96, 7, hidden=64, out_features=32, own_density=own_density)
    with torch.no_grad():
        dec.fc0_bias.normal_(0, 1.0)
    return dec


def _both(planes, decode, points):
    """(native outputs, eager outputs) of one decode at points."""
    with torch.no_grad():
        native = summed_plane_reader(planes, BOX, decode)(points)
        eager = decode.eager(summed_plane_lookup(planes, BOX)(points))
    return native, eager


def _close(a, b, atol):
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y, atol)
        return
    if a is None or b is None:
        assert a is None and b is None
        return
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.allclose(a, b, atol=atol, rtol=1e-5, equal_nan=True), (a - b).abs().max()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the kernel is x86-64 (AVX2 + FMA)")
def test_smoke_the_kernel_is_built_and_runs_here():
    """The dev install builds the kernel (setup.py); on this machine kind it must be there, or every
    CPU render silently takes the slower eager path."""
    assert plane_mlp._library() is not None


@needs_native
def test_generator_field_matches_the_eager_decoder():
    planes, dec = _planes(), _generator_decoder()
    native, eager = _both(planes, dec.summed_decode(3), _points())
    assert native[0].shape == (2, 1007, 1) and native[1].shape == (2, 1007, 32)
    _close(native, eager, atol=2e-5 * float(eager[0].abs().max()))


@needs_native
def test_density_only_matches_the_eager_sigma():
    planes, dec = _planes(), _generator_decoder()
    native, eager = _both(planes, dec.summed_decode(3, density_only=True), _points())
    assert native[1] is None and native[0].shape == (2, 1007, 1)
    _close(native, eager, atol=2e-5 * float(eager[0].abs().max()))


@needs_native
@pytest.mark.parametrize("own_density", [False, True])
def test_semantic_field_matches_the_eager_head(own_density):
    planes, dec = _planes(c=64, seed=3), _semantic_decoder(own_density)
    native, eager = _both(planes, dec.summed_decode(), _points())
    assert native[0].shape == (2, 1007, 32)
    _close(native, eager, atol=1e-4)


@needs_native
def test_softplus_and_sigmoid_over_their_whole_range():
    """Constant planes make the summed feature of a point inside them a chosen value v (exact:
    v / 3 and the sum of three are exact in float32): hidden pre-activations from -60 to 58 through
    an identity output layer (softplus), and y = softplus(v) - 40 through the sigmoid from column
    5 on, with the generator's scale and shift. Relative error, so the far tails count too."""
    values = 1.875 * torch.arange(-32, 32, dtype=torch.float32)
    planes = (values / 3)[None, None, :, None, None].expand(1, 3, 64, 8, 8).contiguous()
    pts = torch.zeros(1, 5, 3)
    softplus = torch.nn.functional.softplus(values.double())
    y = softplus - 40
    sig = torch.cat([y[:5], torch.sigmoid(y[5:]) * 1.002 - 0.001])
    for mlp, want in ((PlaneMLP(None, torch.zeros(64), torch.eye(64), torch.zeros(64)), softplus),
                      (PlaneMLP(None, torch.zeros(64), torch.eye(64), torch.full((64,), -40.0), sigmoid_from=5,
                                sigmoid_scale=1.002, sigmoid_shift=-0.001), sig)):
        got = summed_plane_reader(planes, BOX, SummedDecode(lambda s: None, mlp, lambda y: y))(pts).double()
        rel = ((got - want) / want.abs().clamp_min(1e-30)).abs()
        assert rel.max() < 1e-6, (rel.max(), values[rel.argmax() % 64])
        assert torch.allclose(mlp(values[None]).double(), want[None], rtol=1e-6, atol=0)


@needs_native
def test_output_bytes_do_not_depend_on_the_thread_count():
    planes, dec = _planes(), _generator_decoder()
    read = summed_plane_reader(planes, BOX, dec.summed_decode(3))
    threads = torch.get_num_threads()
    try:
        with torch.no_grad():
            torch.set_num_threads(1)
            one = read(_points(p=5000))
            torch.set_num_threads(2)
            two = read(_points(p=5000))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


@needs_native
def test_points_per_subject_read_their_own_planes():
    """Each point set reads its subject's planes: swapping the subjects swaps the outputs."""
    planes, dec = _planes(n=3), _generator_decoder()
    pts = _points(n=3, p=100)
    with torch.no_grad():
        out = summed_plane_reader(planes, BOX, dec.summed_decode(3))(pts)[1]
        swapped = summed_plane_reader(planes.flip(0).contiguous(), BOX, dec.summed_decode(3))(pts.flip(0))[1]
    assert torch.equal(out, swapped.flip(0))


def test_eager_fallbacks_give_the_eager_numbers(monkeypatch):
    """Where the kernel does not run - switched off, float64, a gradient asked, a width it does not
    take, no kernel form - the reader is the eager decode itself."""
    dec = _generator_decoder()
    pts = _points()
    cases = [(_planes(dtype=torch.float64), _points(dtype=torch.float64)),  # float64
             (_planes(c=12), pts)]  # 12 channels: not a multiple of 8
    for planes, p in cases:
        decoder = TriPlaneDecoder(planes.shape[2], 64, 32).to(planes.dtype)
        with torch.no_grad():
            got = summed_plane_reader(planes, BOX, decoder.summed_decode(3))(p)
            want = decoder.decode_summed(summed_plane_lookup(planes, BOX)(p), 3)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    # a gradient asked of the decoder's weights: eager, and the gradient flows
    planes = _planes()
    out = summed_plane_reader(planes, BOX, dec.summed_decode(3))(pts)[0]
    assert out.requires_grad
    # no kernel form (a semantic decoder with a hidden -> hidden layer)
    deep = SemanticDecoder(96, 7, hidden_layers=1).summed_decode()
    assert deep.mlp is None
    # switched off
    monkeypatch.setenv(plane_mlp.DISABLE_ENV, "0")
    assert not native_available()
    with torch.no_grad():
        got = summed_plane_reader(planes, BOX, dec.summed_decode(3))(pts)
        want = dec.decode_summed(summed_plane_lookup(planes, BOX)(pts), 3)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_errors_name_the_mismatch():
    planes, dec = _planes(n=2), _generator_decoder()
    with torch.no_grad(), pytest.raises(ValueError, match="point sets"):
        summed_plane_reader(planes, BOX, dec.summed_decode(3))(_points(n=3))


def test_plane_mlp_call_is_the_decoders_own_math():
    """PlaneMLP's eager form (what the kernel computes) is the decoder's decode_summed with the
    gains and the mean folded in: the kernel's weights are the decoder's."""
    dec, planes, pts = _generator_decoder(), _planes(), _points()
    summed = summed_plane_lookup(planes, BOX)(pts)
    decode = dec.summed_decode(3)
    with torch.no_grad():
        sigma, feats = decode.finish(decode.mlp(summed))
        want = dec.decode_summed(summed, 3)
    assert torch.allclose(sigma, want[0], atol=1e-4) and torch.allclose(feats, want[1], atol=1e-5)
