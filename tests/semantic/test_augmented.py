"""The lazy augmented tri-plane equals the paper's materialized construction."""
import pytest
import torch

from dnerf_core.semantic.augmented import N_PLANES, AugmentedLayout, materialize, project


def _features(spec, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, r, r, generator=g, dtype=torch.float64) for c, r in spec]


@pytest.mark.parametrize("spec", [[(10, 4), (10, 8), (7, 16)], [(6, 8)], [(5, 4), (4, 4), (3, 8)]])
def test_project_equals_projected_materialized(spec):
    feats = _features(spec)
    layout = AugmentedLayout.from_features(feats)
    w = torch.randn(5, layout.channels_per_plane, dtype=torch.float64)
    reference = torch.einsum("hd,bkdxy->bkhxy", w, materialize(feats, layout))
    assert torch.allclose(project(feats, layout, w), reference, atol=1e-12)


def test_upsampling_a_few_channels_at_a_time_changes_no_bit(monkeypatch):
    """project upsamples UPSAMPLE_CHANNELS hidden channels at a time to bound its temporaries: in
    float32, as the product runs it, any group size gives the same bits as one group."""
    from dnerf_core.semantic import augmented

    feats = [f.float() for f in _features([(10, 4), (10, 8), (7, 16), (5, 16)])]
    layout = AugmentedLayout.from_features(feats)
    w = torch.randn(7, layout.channels_per_plane)
    monkeypatch.setattr(augmented, "UPSAMPLE_CHANNELS", 7)
    whole = project(feats, layout, w)
    for group in (1, 2, 3):
        monkeypatch.setattr(augmented, "UPSAMPLE_CHANNELS", group)
        assert torch.equal(project(feats, layout, w), whole), group


def test_projected_planes_are_stored_channels_innermost():
    """The lazy planes come out in the layout the bilinear lookups read fastest (no reordered copy)."""
    from dnerf_core.render.triplane import channels_innermost

    feats = _features([(10, 4), (7, 16)])
    planes = project(feats, AugmentedLayout.from_features(feats), torch.randn(5, 6, dtype=torch.float64))
    assert planes.stride() == channels_innermost(planes.contiguous()).stride()


def test_materialize_is_upsample_concat_reshape():
    feats = _features([(4, 2), (4, 4)], batch=1)
    layout = AugmentedLayout.from_features(feats)
    assert layout.channels_per_plane == 3 and layout.plane_resolution == 4
    planes = materialize(feats, layout)
    assert planes.shape == (1, N_PLANES, 3, 4, 4)
    # channel 4 of the concatenation is block 1's channel 0, which lands in plane 1, channel 1
    assert torch.equal(planes[0, 1, 1], feats[1][0, 0])
    assert torch.equal(planes[0, 2, 2], torch.zeros(4, 4))  # 8 channels padded to 3 x 3


def test_layout_pieces_cover_every_channel_once():
    layout = AugmentedLayout.from_features(_features([(10, 4), (10, 8), (7, 16)]))
    seen = []
    for blk, k, (c0, c1), off in layout.pieces():
        start = sum(layout.block_channels[:blk])
        seen += [(start + c, k, off + c - c0) for c in range(c0, c1)]
    assert [s[0] for s in seen] == list(range(27))
    assert all(k * layout.channels_per_plane + o == c for c, k, o in seen)


def test_gradients_with_respect_to_the_weight_agree():
    feats = _features([(6, 4), (6, 8)])
    layout = AugmentedLayout.from_features(feats)
    w = torch.randn(3, layout.channels_per_plane, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 3, 3, 8, 8, dtype=torch.float64)
    (gl,) = torch.autograd.grad((project(feats, layout, w) * g).sum(), w)
    (gm,) = torch.autograd.grad((torch.einsum("hd,bkdxy->bkhxy", w, materialize(feats, layout)) * g).sum(), w)
    assert torch.allclose(gl, gm, atol=1e-12)
