"""Semantic branch: lazy == materialized rendered logits, density prior, shapes."""

import pytest
import torch

from dnerf_core.cameras import random_orbit_cameras
from dnerf_core.generators.default_config import default_config
from dnerf_core.generators.triplane_gan import PRESETS, TriPlaneGAN
from dnerf_core.semantic.branch import SemanticBranch, SemanticConfig

# DESIGN sec. 5 / the issue: both constructions give the same rendered logits within this.
LAZY_VS_MATERIALIZED_TOL = 1e-4


@pytest.fixture(scope="module")
def default_gen():
    torch.manual_seed(0)
    return TriPlaneGAN(default_config("car")).eval()


def _compare(gen, branch, res, chunk):
    subject = gen.sample([11])
    cams = random_orbit_cameras(2, gen.orbit, torch.Generator().manual_seed(1))
    with torch.no_grad():
        lazy = branch.render(gen, subject, cams, res)
        ref = branch.render(gen, subject, cams, res, chunk_rays=chunk,
                            field=branch.field_materialized(branch.planes_materialized(subject)))
    return lazy, ref


@pytest.mark.slow
def test_lazy_equals_materialized_on_default_generator(default_gen):
    torch.manual_seed(1)
    branch = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=7)).eval()
    lazy, ref = _compare(default_gen, branch, 32, 4096)
    assert (lazy.logits - ref.logits).abs().max() < LAZY_VS_MATERIALIZED_TOL
    assert (lazy.probs_raw - ref.probs_raw).abs().max() < LAZY_VS_MATERIALIZED_TOL


@pytest.mark.slow
def test_chunk_size_does_not_change_the_semantic_render(default_gen):
    torch.manual_seed(3)
    branch = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=7)).eval()
    subject = default_gen.sample([12])
    cams = random_orbit_cameras(2, default_gen.orbit, torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = (branch.render(default_gen, subject, cams, 16, chunk_rays=c) for c in (1 << 20, 37))
    assert torch.equal(a.logits, b.logits) and torch.equal(a.depth, b.depth)


@pytest.mark.slow
def test_lazy_equals_materialized_on_ffhq_preset():
    torch.manual_seed(2)
    gen = TriPlaneGAN(PRESETS["ffhq512-128"]).eval()
    branch = SemanticBranch.for_generator(gen, SemanticConfig(num_classes=9)).eval()
    assert branch.layout.channels_per_plane == 982  # 2944 block channels, padded to 3 x 982
    assert branch.superres.scale == 4
    lazy, ref = _compare(gen, branch, 8, 16)
    assert lazy.logits.shape == (2, 9, 32, 32)
    assert (lazy.logits - ref.logits).abs().max() < LAZY_VS_MATERIALIZED_TOL


@pytest.mark.slow
def test_density_prior_uses_the_generator_opacity(default_gen):
    branch = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=7)).eval()
    # a field that is class 3 everywhere: its rendered share must be the generator's opacity
    with torch.no_grad():
        branch.decoder.fc1.weight.zero_()
        branch.decoder.fc1.bias.zero_()
        branch.decoder.fc1.bias[3] = 50.0
    cams = random_orbit_cameras(1, default_gen.orbit, torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = branch.render(default_gen, default_gen.sample([3]), cams, 16)
        rgb = default_gen.render(default_gen.sample([3]), cams, 16)
    assert torch.allclose(out.probs_raw.sum(1), torch.ones(1, 16, 16), atol=1e-5)
    assert torch.allclose(out.probs_raw[:, 3:4], rgb.opacity, atol=1e-5)
    assert torch.allclose(out.probs_raw[:, 0:1], 1 - rgb.opacity, atol=1e-5)
    assert torch.allclose(out.depth, rgb.depth) and out.labels.shape == (1, 16, 16)


def test_ablations_change_the_structure(default_gen):
    no_prior = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=7, density_prior=False))
    assert no_prior.decoder.own_density and no_prior.decoder.fc1.out_features == 33
    single = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=7, multiscale=False))
    assert single.layout.block_channels == (96,) and single.layout.channels_per_plane == 32
    cams = random_orbit_cameras(1, default_gen.orbit, torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = no_prior.render(default_gen, default_gen.sample([3]), cams, 16)
    assert torch.allclose(out.probs_raw.sum(1), torch.ones(1, 16, 16), atol=1e-5)


def test_gradients_reach_only_the_branch(default_gen):
    branch = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=7))
    cams = random_orbit_cameras(1, default_gen.orbit, torch.Generator().manual_seed(4))
    out = branch.render(default_gen, default_gen.sample([5]), cams, 8)
    out.logits.sum().backward()
    assert branch.decoder.fc0_weight.grad is not None and branch.decoder.fc0_weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in default_gen.parameters())


@pytest.mark.slow
def test_deeper_decoder_lazy_equals_materialized(default_gen):
    torch.manual_seed(5)
    config = SemanticConfig(num_classes=7, hidden=48, hidden_layers=2)
    branch = SemanticBranch.for_generator(default_gen, config).eval()
    assert len(branch.decoder.mid) == 2 and branch.decoder.fc0_weight.shape[0] == 48
    lazy, ref = _compare(default_gen, branch, 16, 4096)
    assert (lazy.logits - ref.logits).abs().max() < LAZY_VS_MATERIALIZED_TOL


def test_deeper_decoder_is_the_plain_mlp():
    from dnerf_core.semantic.decoder import SemanticDecoder

    torch.manual_seed(6)
    dec = SemanticDecoder(20, 5, hidden=16, out_features=8, hidden_layers=1).double()
    x = torch.randn(4, 20, dtype=torch.float64)
    h = torch.nn.functional.softplus(x @ dec.fc0_weight.T + dec.fc0_bias)
    h = torch.nn.functional.softplus(h @ dec.mid[0].weight.T + dec.mid[0].bias)
    expected = h @ dec.fc1.weight.T + dec.fc1.bias
    assert torch.allclose(dec(x)[0], expected)
    with pytest.raises(ValueError, match="hidden_layers"):
        SemanticDecoder(20, 5, hidden_layers=-1)


def test_position_encoding_values():
    from dnerf_core.semantic.position import encode_positions, position_features

    pts = torch.tensor([[0.25, -0.5, 0.0]], dtype=torch.float64)
    enc = encode_positions(pts, 0.5, 2)  # box units: (0.5, -1, 0)
    assert enc.shape == (1, position_features(2)) == (1, 15)
    x = torch.tensor([0.5, -1.0, 0.0], dtype=torch.float64)
    expected = torch.cat([x, torch.sin(torch.pi * x), torch.sin(2 * torch.pi * x),
                          torch.cos(torch.pi * x), torch.cos(2 * torch.pi * x)])
    assert torch.allclose(enc[0], expected) and position_features(0) == 0


def test_decoder_with_position_is_the_plain_mlp_and_refuses_a_missing_encoding():
    from dnerf_core.semantic.decoder import SemanticDecoder

    torch.manual_seed(7)
    dec = SemanticDecoder(20, 5, hidden=16, out_features=8, position_features=9).double()
    assert torch.equal(dec.pos_weight, torch.zeros(16, 9))  # starts as the features-only decoder
    torch.nn.init.normal_(dec.pos_weight)
    x, pos = torch.randn(4, 20, dtype=torch.float64), torch.randn(4, 9, dtype=torch.float64)
    h = torch.nn.functional.softplus(x @ dec.fc0_weight.T + pos @ dec.pos_weight.T + dec.fc0_bias)
    assert torch.allclose(dec(x, pos)[0], h @ dec.fc1.weight.T + dec.fc1.bias)
    with pytest.raises(ValueError, match="position encoding"):
        dec(x)
    with pytest.raises(ValueError, match="position encoding"):
        SemanticDecoder(20, 5, hidden=16, out_features=8).double()(x, pos)


@pytest.mark.slow
def test_branch_with_position_lazy_equals_materialized_and_learns_it(default_gen):
    torch.manual_seed(8)
    branch = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=7, position_frequencies=3)).eval()
    torch.nn.init.normal_(branch.decoder.pos_weight, std=0.5)
    lazy, ref = _compare(default_gen, branch, 16, 4096)
    assert (lazy.logits - ref.logits).abs().max() < LAZY_VS_MATERIALIZED_TOL
    # the encoding changes the logits (it is read), and its weights get gradients
    plain = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=7)).eval()
    plain.load_state_dict({k: v for k, v in branch.state_dict().items() if k != "decoder.pos_weight"})
    assert not torch.allclose(_compare(default_gen, plain, 16, 4096)[0].logits, lazy.logits)
    cams = random_orbit_cameras(1, default_gen.orbit, torch.Generator().manual_seed(4))
    branch.render(default_gen, default_gen.sample([5]), cams, 8).logits.sum().backward()
    assert branch.decoder.pos_weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_branch_with_latent_lazy_equals_materialized_and_shifts_per_subject(default_gen):
    from dataclasses import replace

    from dnerf_core.errors import DnerfError
    from dnerf_core.semantic import augmented
    from dnerf_core.semantic.branch import backbone_features

    torch.manual_seed(9)
    config = SemanticConfig(num_classes=7, latent_dim=default_gen.config.w_dim)
    branch = SemanticBranch.for_generator(default_gen, config).eval()
    assert torch.equal(branch.decoder.latent_weight, torch.zeros(64, default_gen.config.w_dim))
    torch.nn.init.normal_(branch.decoder.latent_weight, std=0.05)
    lazy, ref = _compare(default_gen, branch, 16, 4096)
    assert (lazy.logits - ref.logits).abs().max() < LAZY_VS_MATERIALIZED_TOL
    # the shift is the same at every point of a subject: planes differ from the plain ones by a constant
    subject = default_gen.sample([11])
    features_only = augmented.project(backbone_features(subject, True), branch.layout, branch.decoder.fc0_weight)
    diff = branch.planes(subject) - features_only
    expected = (subject.ws[:, 0] @ branch.decoder.latent_weight.T / 3)[:, None, :, None, None]
    assert torch.allclose(diff, expected.expand_as(diff), atol=1e-5)
    with pytest.raises(DnerfError, match="reads a latent w"):
        branch.planes(replace(subject, ws=None))
def test_class_labels_are_argmax_over_classes_ties_to_the_first():
    from dnerf_core.semantic.render import class_labels

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 7, 9, generator=g)
    logits[:, 2] = logits[:, 4] = logits.max(dim=1).values + 1  # a tie: class 2 wins
    logits[0, :, 0, 0] = 0.5  # all equal: class 0
    want = logits.argmax(dim=1)
    got = class_labels(logits)
    assert torch.equal(got, want) and bool((got[:, 1:, 1:] == 2).all()) and int(got[0, 0, 0]) == 0


def test_fast_field_is_the_field_through_the_table_lookup(default_gen):
    """field(fast=True) reads the planes through render/plane_taps (no gradient asked): the same
    semantic features to float rounding; asked for gradients it is grid_sample's, exactly."""
    torch.manual_seed(2)
    branch = SemanticBranch.for_generator(default_gen, SemanticConfig(num_classes=5)).eval()
    subject = default_gen.sample([3])
    pts = (torch.rand(1, 500, 3, generator=torch.Generator().manual_seed(4)) * 2 - 1) * default_gen.bounds
    with torch.no_grad():
        planes = branch.planes(subject)
        ref, fast = branch.field(planes)(pts)[0], branch.field(planes, fast=True)(pts)[0]
    assert ref.shape == fast.shape and not torch.equal(ref, fast)
    assert torch.allclose(ref, fast, atol=1e-5)
    trained = branch.planes(subject)  # grad-tracked through the branch's weights
    assert trained.requires_grad
    assert torch.equal(branch.field(trained, fast=True)(pts)[0], branch.field(trained)(pts)[0])
