"""The table lookup of summed tri-plane features (render/plane_taps.py) against the answer key
(render/triplane.sample_planes_slow summed over the planes)."""
from dataclasses import replace

import pytest
import torch

from dnerf_core.render.plane_taps import plane_table, plane_taps, sample_table_summed, summed_plane_lookup
from dnerf_core.render.triplane import channels_innermost, sample_planes_slow, sample_planes_summed


def _case(n=2, c=4, h=5, w=6, p=40, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    planes = torch.randn(n, 3, c, h, w, generator=g, dtype=dtype)
    # well outside the box too: the zero padding
    pts = torch.rand(n, p, 3, generator=g, dtype=dtype) * 3.2 - 1.6
    return planes, pts


def test_smoke_shapes():
    planes, pts = _case()
    table = plane_table(planes)
    assert table.rows.shape == (2 * 3 * 5 * 6, 4)
    taps = plane_taps(table, pts, 1.6)
    assert taps.index.shape == taps.weight.shape == (2 * 40, 12)
    assert sample_table_summed(table, pts, 1.6).shape == (2, 40, 4)


def test_values_match_the_answer_key_inside_outside_and_on_the_edges():
    planes, pts = _case()
    # texel centres, the planes' edges (coordinate +-1) and just beyond them, on every axis
    edges = torch.tensor([[0.8, 0.8, 0.8], [-0.8, -0.8, -0.8], [0.8001, 0.0, -0.8001], [0.0, 0.7999, 0.3],
                          [1e6, 0.1, -1e6], [0.8 / 6, -0.8 / 5, 0.0]], dtype=planes.dtype)
    pts = torch.cat([pts, edges[None].expand(2, -1, -1)], dim=1)
    got = sample_table_summed(plane_table(planes), pts, 1.6)
    want = sample_planes_slow(planes, pts, 1.6).sum(dim=1)
    assert torch.allclose(got, want, atol=1e-12)


def test_taps_point_into_the_table_and_weigh_one_per_plane_inside_it():
    planes, pts = _case(p=400)
    table = plane_table(planes)
    taps = plane_taps(table, pts, 1.6)
    assert int(taps.index.min()) >= 0 and int(taps.index.max()) < table.rows.shape[0]
    # well inside every plane (|coordinate| < 1 - one texel): all four taps inside, weights sum to 1
    inside = (pts.abs() < 0.8 * (1 - 2 / 5)).all(dim=-1).reshape(-1)
    assert inside.sum() > 3
    sums = taps.weight.reshape(-1, 3, 4).sum(dim=-1)[inside]
    assert torch.allclose(sums, torch.ones((), dtype=planes.dtype))


def test_the_table_is_a_view_of_planes_kept_channels_innermost():
    planes = channels_innermost(torch.randn(2, 3, 8, 5, 6))
    assert plane_table(planes).rows.data_ptr() == planes.data_ptr()


def test_non_finite_points_read_zeros_through_taps_inside_the_table():
    planes, _ = _case(n=1)
    pts = torch.tensor([[[float("nan"), 0.0, 0.0], [float("inf"), 0.1, 0.2], [-float("inf"), 0.0, 0.0],
                         [0.1, float("nan"), 0.2]]], dtype=planes.dtype)
    table = plane_table(planes)
    taps = plane_taps(table, pts, 1.6)
    assert int(taps.index.min()) >= 0 and int(taps.index.max()) < table.rows.shape[0]
    got = sample_table_summed(table, pts, 1.6)
    assert torch.isfinite(got).all()
    # x is read by all three planes: nothing left to read; y only by plane 0: planes 1, 2 remain
    assert torch.equal(got[0, :3], torch.zeros_like(got[0, :3]))
    want = sample_planes_slow(planes, pts[:, 3:].nan_to_num(1e6), 1.6)[0, 1:, 0].sum(dim=0)
    assert torch.allclose(got[0, 3], want, atol=1e-12)


def test_float32_planes_laid_out_channels_innermost():
    planes, pts = _case(c=64, h=16, w=16, p=500, dtype=torch.float32, seed=3)
    packed = channels_innermost(planes)
    got = sample_table_summed(plane_table(packed), pts, 2.0)
    assert torch.allclose(got, sample_planes_summed(planes, pts, 2.0), atol=1e-5)


def test_errors():
    planes, pts = _case(n=2)
    with pytest.raises(ValueError, match="2 subjects"):
        sample_table_summed(plane_table(planes), pts[:1], 1.6)


def test_lookup_takes_the_table_without_gradients_and_grid_sample_with_them():
    planes, pts = _case(dtype=torch.float32)
    with torch.no_grad():
        fast = summed_plane_lookup(planes, 1.6)(pts)
    assert torch.allclose(fast, sample_planes_summed(planes, pts, 1.6), atol=1e-5)
    # a gradient asked of the planes or of the points goes through grid_sample, exactly
    p = planes.clone().requires_grad_(True)
    out = summed_plane_lookup(p, 1.6)(pts)
    assert out.requires_grad and torch.equal(out, sample_planes_summed(p, pts, 1.6))
    q = pts.clone().requires_grad_(True)
    out = summed_plane_lookup(planes, 1.6)(q)
    grad, = torch.autograd.grad(out.sum(), q)
    want, = torch.autograd.grad(sample_planes_summed(planes, q, 1.6).sum(), q)
    assert torch.equal(grad, want)


def test_rows_beyond_float32_precision_are_counted_in_float64():
    planes, pts = _case(n=3, dtype=torch.float32)
    table = plane_table(planes)
    want = plane_taps(table, pts, 1.6)
    # a table of more rows than float32 counts exactly: its rows are computed in float64
    big = replace(table, rows=table.rows[:1].expand(2 ** 24 + 1, -1))
    got = plane_taps(big, pts, 1.6)
    assert torch.equal(got.index, want.index) and got.weight.dtype == torch.float32
    assert torch.allclose(got.weight, want.weight, atol=1e-7)

