"""Small assertions several test files share."""
import pytest
import torch

from dnerf_core import DnerfError


def raises_naming_file(call, path, message: str) -> None:
    """call(path) raises a DnerfError matching `message` whose text names the file."""
    with pytest.raises(DnerfError, match=message) as info:
        call(path)
    assert str(path) in str(info.value)


def figure_interior_points(figure, n_per_part: int, seed: int, margin: float = 2e-3):
    """Rest-frame points at least `margin` inside each part of a procedural figure (a random subset
    of its check grid) -> (points [P,3], part index [P])."""
    gen = torch.Generator().manual_seed(seed)
    pts, idx = [], []
    for k, grid in enumerate(figure.check_points):
        inside = grid[figure.parts[k].sdf(grid) < -margin]
        pick = torch.randperm(len(inside), generator=gen)[:n_per_part]
        pts.append(inside[pick])
        idx.append(torch.full((len(pick),), k))
    return torch.cat(pts), torch.cat(idx)
