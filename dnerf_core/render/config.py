"""Ray-marching settings shared by every volume-rendered generator."""
from __future__ import annotations

from dataclasses import dataclass

# Rays marched at once per render chunk. Small enough that a chunk's per-point tensors (rays x
# samples x channels floats) stay in cache, since the point-wise MLPs are memory-bound; large enough
# to keep two threads busy. Against 8192, 512 rendered face views 1.3x (RGB) and 1.4x (semantic)
# faster at 2 threads, at 30% less peak memory, with the same bytes out on the machine measured
# (scripts/bench.py --only chunks, results/bench_chunks.json); on some CPUs (an AMD EPYC) chunk
# sizes differ in the last float32 bit of a few pixels.
DEFAULT_CHUNK_RAYS = 512


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
