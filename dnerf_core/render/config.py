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
# Where the importance pass puts its pdf bins: "eg3d" = between the midpoints of the coarse samples
# with the inner smoothed weights (what EG3D checkpoints are rendered with); "samples" = between the
# coarse samples themselves (dnerf's renderer before EG3D parity; generators trained with it keep it).
IMPORTANCE_BINS = ("eg3d", "samples")
# How labeled views are rendered: "volume" = the full two-pass march (the reference, slow twin of
# the others); "fast" = the same march with empty-space skipping (a per-subject occupancy grid) and
# early ray termination; "surface" = each pixel's ray cast against the subject's baked labeled
# mesh, the field evaluated only at the hit.
RENDER_PATHS = ("volume", "fast", "surface")


@dataclass(frozen=True)
class RenderingConfig:
    """How rays are marched through a generator's volume.

    depth_resolution / depth_resolution_importance: stratified and importance samples per ray;
    ray_start / ray_end: ray depth range (world units along unit rays);
    box_warp: side of the cube mapped onto the tri-plane's [-1,1] extent;
    white_back: composite over white instead of black;
    neural_resolution: image size of the raw volume render (before super-resolution);
    importance_bins: pdf bins of the importance pass, one of IMPORTANCE_BINS.
    """

    depth_resolution: int
    depth_resolution_importance: int
    ray_start: float
    ray_end: float
    box_warp: float
    white_back: bool
    neural_resolution: int
    importance_bins: str = "eg3d"

    def __post_init__(self) -> None:
        if self.importance_bins not in IMPORTANCE_BINS:
            raise ValueError(f"importance_bins must be one of {IMPORTANCE_BINS}, got {self.importance_bins!r}")
