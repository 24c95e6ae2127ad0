"""An analytic world: parts with exact labels, a hard-union SDF, albedo and fixed-light shading."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

SdfFn = Callable[[Tensor], Tensor]  # points [P,3] -> signed distance [P]

# A fixed world-space light: shading is a property of the surface point, not of the view, so a
# tri-plane generator can reproduce it exactly.
LIGHT_DIRECTION = (0.35, 0.8, 0.5)
AMBIENT = 0.4
DIFFUSE = 0.6
NORMAL_EPS = 1e-3  # central-difference step for normals (world units)


@dataclass(frozen=True)
class Part:
    label: int
    sdf: SdfFn
    color: tuple[float, float, float]  # linear albedo in [0,1]


@dataclass(frozen=True)
class World:
    """One subject: its parts (hard union, so every point has exactly one nearest part)."""

    parts: tuple[Part, ...]

    def part_sdfs(self, points: Tensor) -> Tensor:
        """[P,3] -> [P,n_parts]."""
        return torch.stack([part.sdf(points) for part in self.parts], dim=-1)

    def sdf(self, points: Tensor) -> Tensor:
        return self.part_sdfs(points).min(dim=-1).values

    def nearest_part(self, points: Tensor) -> Tensor:
        return self.part_sdfs(points).argmin(dim=-1)

    def labels(self, points: Tensor) -> Tensor:
        """[P] int64 label of the part with the smallest signed distance (defined everywhere)."""
        table = torch.tensor([part.label for part in self.parts], dtype=torch.int64, device=points.device)
        return table[self.nearest_part(points)]

    def albedo(self, points: Tensor) -> Tensor:
        table = points.new_tensor([part.color for part in self.parts])
        return table[self.nearest_part(points)]

    def normals(self, points: Tensor) -> Tensor:
        """[P,3] unit gradient of the SDF by central differences."""
        eye = torch.eye(3, dtype=points.dtype, device=points.device) * NORMAL_EPS
        grads = [self.sdf(points + e) - self.sdf(points - e) for e in eye]
        n = torch.stack(grads, dim=-1)
        return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def shaded_color(self, points: Tensor) -> Tensor:
        """[P,3] albedo * (ambient + diffuse * max(0, n.L)) in [0,1]."""
        light = points.new_tensor(LIGHT_DIRECTION)
        light = light / light.norm()
        lambert = (self.normals(points) @ light).clamp_min(0)
        return (self.albedo(points) * (AMBIENT + DIFFUSE * lambert[:, None])).clamp(0, 1)
