"""Occupancy grids: smoke, errors, lookup vs its slow twin, conservativeness (measured against a
much finer sampling of the real density), the tri-plane clamping claim, ray/box culling."""
import pytest
import torch

from dnerf_core.render.config import RenderingConfig
from dnerf_core.render.occupancy import (FULL_PROBE_POINTS, OccupancyGrid, build_occupancy, grid_half_extent, lattice, occupied,
                                         occupied_slow, ray_box_hits, triplane_reach)

RADIUS = 0.3
SHELL = 0.02


def shell_density(points):
    """A thin spherical shell of radius RADIUS (density 50 within SHELL of it, 0 elsewhere)."""
    r = points.norm(dim=-1)
    return torch.where((r - RADIUS).abs() < SHELL, torch.full_like(r, 50.0), torch.zeros_like(r))


def test_smoke_shapes_and_fields():
    grid = build_occupancy(shell_density, 2, 0.5, 16, 1e-3)
    assert isinstance(grid, OccupancyGrid) and grid.cells.shape == (2, 16, 16, 16) and grid.cells.dtype == torch.bool
    assert grid.resolution == 16 and len(grid) == 2 and grid.threshold == 1e-3
    assert grid.half_extent == pytest.approx(grid_half_extent(0.5, 16)) and grid.half_extent > 0.5
    frac = grid.occupied_fraction()
    assert frac.shape == (2,) and 0 < frac[0] < 0.5 and torch.equal(frac[0], frac[1])
    # the shell's centre and the corners of the cube are empty, a point on the shell is not
    pts = torch.tensor([[[0.0, 0.0, 0.0], [0.49, 0.49, 0.49], [RADIUS, 0.0, 0.0]]])
    assert occupied(grid, pts.expand(2, -1, -1)).tolist() == [[False, False, True]] * 2


def test_errors():
    with pytest.raises(ValueError, match="at least 3 cells"):
        build_occupancy(shell_density, 1, 0.5, 2, 1e-3)
    with pytest.raises(ValueError, match="subsamples"):
        build_occupancy(shell_density, 1, 0.5, 8, 1e-3, subsamples=0)
    grid = build_occupancy(shell_density, 2, 0.5, 8, 1e-3)
    with pytest.raises(ValueError, match=r"\[N,P,3\]"):
        occupied(grid, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="cannot answer"):
        occupied(grid, torch.zeros(3, 5, 3))
    for bad in ({"occupancy_resolution": 2}, {"occupancy_threshold": -1.0}, {"termination_transmittance": 1.0}):
        with pytest.raises(ValueError):
            RenderingConfig(8, 8, 1.0, 2.0, 1.0, False, 8, **bad)


def test_lookup_matches_slow_twin_inside_and_outside_the_cube():
    g = torch.Generator().manual_seed(0)
    cells = torch.rand(2, 6, 6, 6, generator=g) > 0.6
    grid = OccupancyGrid(cells, 0.5, 1e-3)
    pts = (torch.rand(2, 300, 3, generator=g) - 0.5) * 1.6  # a third of them outside the cube
    assert torch.equal(occupied(grid, pts), occupied_slow(grid, pts))
    one = OccupancyGrid(cells[:1], 0.5, 1e-3)  # one subject broadcast over both rows
    assert torch.equal(occupied(one, pts), occupied_slow(one, pts))


def test_conservative_on_an_analytic_shell():
    grid = build_occupancy(shell_density, 1, 0.5, 16, 1e-3)
    fine = lattice(grid.half_extent, 16 * 8 + 1)[None]
    dense = shell_density(fine) > 1e-3
    assert dense.sum() > 1000 and occupied(grid, fine)[dense].all()


@pytest.fixture(scope="module")
def car():
    """The default car generator and a held-out subject whose grid is built once (gen.occupancy)."""
    from dnerf_core.generators import load_generator

    gen = load_generator("default:car")
    subject = gen.sample([1_000_007])
    assert subject.occupancy is None
    gen.occupancy(subject)
    return gen, subject


# What the build may miss (module doc of render/occupancy.py): bumps narrower than the lattice
# spacing whose whole 27-cell neighbourhood reads below the threshold. Measured on 1M random
# points (two held-out seeds each): none on the default car; on the default face about 0.1% of
# the points above the threshold, all below density 0.02, i.e. an alpha under 4e-4 across a cell.
MAX_MISSED_ALPHA = 1e-3


@pytest.mark.slow
def test_conservative_on_the_default_car_against_a_much_finer_sampling(car):
    """Points where the real density exceeds the threshold lie in occupied cells: 200k random points
    (4 per cell on average at the default resolution, none on the build lattice); any miss would
    be invisible (its density across one cell gives an alpha under MAX_MISSED_ALPHA)."""
    gen, subject = car
    grid = subject.occupancy
    cfg = gen.rendering
    assert grid.resolution == cfg.occupancy_resolution and grid.threshold == cfg.occupancy_threshold
    pts = (torch.rand(1, 200_000, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1) * grid.half_extent
    with torch.no_grad():
        dens = gen.density(subject, pts)[0]
    dense, occ = dens > grid.threshold, occupied(grid, pts)[0]
    assert dense.sum() > 2000
    assert (dense & ~occ).sum() <= dense.sum() // 1000
    assert (dens[~occ].max() * grid.cell_size) < MAX_MISSED_ALPHA
    assert 0.02 < grid.occupied_fraction().item() < 0.4  # it does skip most of the cube


def test_triplane_density_beyond_the_reach_is_that_of_the_clamped_point(car):
    """The claim lookups rest on: past the planes' reach along an axis the field does not change
    along that axis, so clamping a point onto the grid keeps its density exactly."""
    gen, subject = car
    h = grid_half_extent(triplane_reach(gen.rendering.box_warp, subject.planes.shape[-1]),
                         gen.rendering.occupancy_resolution)
    g = torch.Generator().manual_seed(2)
    pts = (torch.rand(1, 4000, 3, generator=g) * 2 - 1) * h * 3
    with torch.no_grad():
        far, clamped = gen.density(subject, pts), gen.density(subject, pts.clamp(-h, h))
    assert torch.equal(far, clamped)


def test_cached_on_the_subject_and_rebuilt_only_for_other_settings(car):
    from dataclasses import replace

    gen, subject = car
    grid = subject.occupancy
    assert gen.occupancy(subject) is grid  # built once (in the fixture), then reused
    small = replace(gen.rendering, occupancy_resolution=8)
    other = type(gen)(replace(gen.config, rendering=small)).eval()
    other.load_state_dict(gen.state_dict())
    rebuilt = other.occupancy(subject)
    assert rebuilt is not grid and rebuilt.resolution == 8 and subject.occupancy is rebuilt
    subject.occupancy = grid  # leave the fixture as found


def test_build_is_deterministic():
    a = build_occupancy(shell_density, 1, 0.5, 12, 1e-3)
    b = build_occupancy(shell_density, 1, 0.5, 12, 1e-3)
    assert torch.equal(a.cells, b.cells)


def test_ray_box_culling_keeps_every_ray_that_meets_an_occupied_cell():
    grid = build_occupancy(shell_density, 1, 0.5, 16, 1e-3)
    g = torch.Generator().manual_seed(3)
    origins = torch.randn(1, 500, 3, generator=g) * 0.2 + torch.tensor([0.0, 0.0, -2.0])
    dirs = torch.nn.functional.normalize(torch.randn(1, 500, 3, generator=g) * 0.3 + torch.tensor([0, 0, 1.0]), dim=-1)
    hits = ray_box_hits(grid.box, origins, dirs, 0.5, 4.0)
    t = torch.linspace(0.5, 4.0, 400)
    pts = origins[:, :, None] + t[:, None] * dirs[:, :, None]
    meets = occupied(grid, pts.reshape(1, -1, 3)).reshape(1, 500, 400).any(-1)
    assert meets.any() and (~meets).any()
    assert hits[meets].all()  # culling never drops a ray that meets an occupied cell
    empty = OccupancyGrid(torch.zeros(1, 8, 8, 8, dtype=torch.bool), 0.5, 1e-3)
    assert not ray_box_hits(empty.box, origins, dirs, 0.5, 4.0).any()


def test_a_field_with_no_empty_space_is_recognised_by_the_probe_alone():
    """A density above the threshold everywhere (random EG3D weights) gives a full grid from the
    probe's points alone, and the same grid the full lattice would give; one empty probe point
    sends the build through the lattice."""
    calls = []

    def everywhere(points):
        calls.append(points.shape[1])
        return 0.2 + points.norm(dim=-1)

    grid = build_occupancy(everywhere, 2, 0.5, 16, 1e-3)
    assert sum(calls) == FULL_PROBE_POINTS ** 3 and grid.cells.shape == (2, 16, 16, 16) and grid.cells.all()
    assert not grid.skips_anything()
    calls.clear()
    grid = build_occupancy(lambda p: calls.append(p.shape[1]) or shell_density(p), 1, 0.5, 16, 1e-3)
    assert sum(calls) == FULL_PROBE_POINTS ** 3 + (16 * 2 + 1) ** 3 and grid.skips_anything()
