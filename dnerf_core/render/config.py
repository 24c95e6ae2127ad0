"""Ray-marching settings shared by every volume-rendered generator."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import DnerfError

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
# mesh, the field evaluated only at the hit; "auto" = "fast" for a generator that marches it
# (every tri-plane generator), else "volume" (factory/views.resolve_render_path).
RENDER_PATHS = ("auto", "volume", "fast", "surface")
# The paths a generator's render() takes itself (the surface path is built on top of them).
MARCH_PATHS = ("volume", "fast")


def check_march_path(path: str) -> None:
    """Refuse a render path a generator cannot march itself (the surface path is built on top)."""
    if path not in MARCH_PATHS:
        raise DnerfError(f"render path must be one of {MARCH_PATHS}, got {path!r}"
                         + (" (the surface path casts rays against a baked mesh: the factory renders it)"
                            if path == "surface" else ""))


# Rays the fast path marches at once: it evaluates the field only at a few percent of the samples,
# so a chunk's dense per-sample buffers (rays x samples x channels) are what bounds it, not the
# MLP's working set; larger chunks mean fewer python-level steps per view.
FAST_CHUNK_RAYS = 4096
# Memory a fast-path chunk's per-sample buffers may take (MB): the dense [rays, samples] scalars
# plus the evaluated samples' plane features and MLP activations. A grid that leaves most samples
# to evaluate (large occupied share) gets proportionally fewer rays per chunk.
FAST_CHUNK_MEMORY_MB = 96
# float32 scalars kept per sample and ray by the fast march whether evaluated or not (depths,
# sigma, flags, alphas, transmittance, weights, coefficients, sort order and their temporaries)
FAST_DENSE_FLOATS_PER_SAMPLE = 16


def fast_chunk_rays(config: "RenderingConfig", floats_per_evaluation: int, evaluated_share: float,
                    floor: int = DEFAULT_CHUNK_RAYS) -> int:
    """Rays per fast-path chunk so its buffers stay within FAST_CHUNK_MEMORY_MB: each ray has
    depth_resolution + depth_resolution_importance samples, of which about `evaluated_share` are
    evaluated, each evaluation holding `floats_per_evaluation` floats (plane features, hidden
    units, outputs of every field evaluated there). Between `floor` and FAST_CHUNK_RAYS."""
    samples = config.depth_resolution + config.depth_resolution_importance
    per_ray = 4 * samples * (FAST_DENSE_FLOATS_PER_SAMPLE + evaluated_share * floats_per_evaluation)
    return int(min(FAST_CHUNK_RAYS, max(floor, FAST_CHUNK_MEMORY_MB * 2 ** 20 // per_ray)))


@dataclass(frozen=True)
class RenderingConfig:
    """How rays are marched through a generator's volume.

    depth_resolution / depth_resolution_importance: stratified and importance samples per ray;
    ray_start / ray_end: ray depth range (world units along unit rays);
    box_warp: side of the cube mapped onto the tri-plane's [-1,1] extent;
    white_back: composite over white instead of black;
    neural_resolution: image size of the raw volume render (before super-resolution);
    importance_bins: pdf bins of the importance pass, one of IMPORTANCE_BINS.

    The fast path (render/fast_march.py) only; the volume path never reads these:
    occupancy_resolution: cells per axis of the per-subject occupancy grid (render/occupancy.py);
        64 puts about one cell on a 64x64-plane texel (default generators) and costs one build
        of (2*64+1)^3 density evaluations per subject;
    occupancy_threshold: activated density (per world unit) above which a cell is occupied. A ray
        crossing a fog just below it through the whole grid (length L) loses at most
        1 - exp(-threshold * L) of its transmittance: 1e-3 keeps that under 0.3% for every
        generator shipped, far below what a picture or a mask can show;
    occupancy_subsamples: lattice points per cell edge the grid is built from (render/occupancy.py):
        2 costs (2*64+1)^3 = 2.1M density evaluations per subject (about 2.5 s on one core for the
        default generators) and missed, on 1M random points of held-out default subjects, nothing
        on the car and only floaters below density 0.02 on the face; 1 costs 8x less (0.3 s) and
        misses floaters up to density 0.07 on the face (an alpha under 1e-3 across a cell: still
        invisible), the choice for datasets that render one or two views per subject;
    termination_transmittance: a ray whose transmittance drops below this stops (its later
        samples are not evaluated); everything it skips weighs less than this in any output.
    """

    depth_resolution: int
    depth_resolution_importance: int
    ray_start: float
    ray_end: float
    box_warp: float
    white_back: bool
    neural_resolution: int
    importance_bins: str = "eg3d"
    occupancy_resolution: int = 64
    occupancy_threshold: float = 1e-3
    occupancy_subsamples: int = 2
    termination_transmittance: float = 1e-4

    def __post_init__(self) -> None:
        if self.importance_bins not in IMPORTANCE_BINS:
            raise ValueError(f"importance_bins must be one of {IMPORTANCE_BINS}, got {self.importance_bins!r}")
        if not 3 <= self.occupancy_resolution <= 1024:
            raise ValueError(f"occupancy_resolution must be in [3, 1024], got {self.occupancy_resolution}")
        if not self.occupancy_threshold >= 0:
            raise ValueError(f"occupancy_threshold must be >= 0, got {self.occupancy_threshold}")
        if not 1 <= self.occupancy_subsamples <= 8:
            raise ValueError(f"occupancy_subsamples must be in [1, 8], got {self.occupancy_subsamples}")
        if not 0 <= self.termination_transmittance < 1:
            raise ValueError(f"termination_transmittance must be in [0, 1), got {self.termination_transmittance}")
