"""Ray-marching settings shared by every volume-rendered generator."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderingConfig:
    """How rays are marched through a generator's volume.

    depth_resolution / depth_resolution_importance: stratified and importance samples per ray;
    ray_start / ray_end: ray depth range (world units along unit rays);
    box_warp: side of the cube mapped onto the tri-plane's [-1,1] extent;
    white_back: composite over white instead of black;
    neural_resolution: image size of the raw volume render (before super-resolution).
    """

    depth_resolution: int
    depth_resolution_importance: int
    ray_start: float
    ray_end: float
    box_warp: float
    white_back: bool
    neural_resolution: int
