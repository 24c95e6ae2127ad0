"""The generator contract (DESIGN sec. 2): sample() once per latent, render() many views cheaply."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from ..cameras import Cameras, OrbitSpec
from ..labels import LabelSet
from ..render.config import RenderingConfig

__all__ = ["Generator", "LabelingWrapper", "RenderOutput", "RenderingConfig", "SURFACE_OPACITY", "Subject"]

# Pixels at least this opaque show the surface: the point-cloud exporter keeps them, annotation
# kits and the label scores label them.
SURFACE_OPACITY = 0.5


@dataclass
class Subject:
    """A batch of sampled latents with everything render() needs cached.

    seeds:    one integer seed per subject (B).
    ws:       [B,num_ws,w_dim] intermediate latents (learned generators) or None.
    planes:   [B,3,C,H,W] tri-plane features (learned generators) or None.
    features: per-block backbone feature maps [B,C_i,H_i,W_i] (learned generators; the semantic
              branch learns from them), empty for procedural worlds.
    params:   generator-specific extras (procedural: the analytic world description per seed).
    occupancy: the subject's occupancy grid (render/occupancy.py), built once on the first fast
              render and reused by every later view; None until then.
    surface:  the subject's baked labeled surface for the surface render path, built once on
              the first surface render; None until then.
    """

    seeds: list[int]
    ws: Tensor | None = None
    planes: Tensor | None = None
    features: list[Tensor] = field(default_factory=list)
    params: Any = None
    occupancy: Any = None
    surface: Any = None

    def __len__(self) -> int:
        return len(self.seeds)


@dataclass
class RenderOutput:
    """Images of B views (one subject per view, or one subject broadcast over all views).

    rgb:      [B,3,H,W] in [0,1], final resolution (after super-resolution if any).
    rgb_raw:  [B,3,h,w] in [0,1], neural (volume-rendered) resolution.
    depth:    [B,1,h,w] expected distance along the unit ray (world units).
    opacity:  [B,1,h,w] accumulated alpha in [0,1].
    features: [B,C,h,w] volume-rendered feature image (learned generators) or None.
    labels:   [B,H,W] int64 part ids (exact ground truth for procedural worlds, argmax of the
              semantic branch for learned ones) or None.
    semantic: [B,K,H,W] per-class probabilities, or None.
    """

    rgb: Tensor
    rgb_raw: Tensor
    depth: Tensor
    opacity: Tensor
    features: Tensor | None = None
    labels: Tensor | None = None
    semantic: Tensor | None = None

    def cpu(self) -> "RenderOutput":
        """The same images on the CPU (numpy-ready), whatever device rendered them."""
        return RenderOutput(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name).cpu()
                               for f in fields(self)})


@runtime_checkable
class Generator(Protocol):
    """What every generator (procedural, tri-plane GAN, EG3D checkpoint) provides."""

    name: str
    z_dim: int
    c_dim: int
    label_set: LabelSet | None
    rendering: RenderingConfig
    orbit: OrbitSpec
    # Half the side of the cube (centered at the origin) that holds the whole subject:
    # marching cubes and point-cloud cropping work inside it.
    bounds: float
    # The density value at which the surface is taken (marching cubes level).
    density_threshold: float

    def sample(self, seeds: list[int], truncation: float = 1.0) -> Subject: ...

    def render(self, subject: Subject, cameras: Cameras, resolution: int | None = None, *,
               path: str = "volume") -> RenderOutput:
        """Render len(cameras) views. A one-subject batch is broadcast over all cameras;
        otherwise len(subject) must equal len(cameras).

        path: "volume", the full two-pass march (the reference), or "fast", the same march
        skipping empty space (the subject's occupancy grid, built on the first fast render and
        cached in subject.occupancy) and stopping rays at opaque surfaces; it agrees with the
        volume render within the figures tests/render/test_fast_march.py pins. Anything else
        (render.config.MARCH_PATHS) raises DnerfError."""
        ...

    def density(self, subject: Subject, points: Tensor) -> Tensor:
        """[B,P] non-negative volume density at world points [B,P,3]."""
        ...

    def labels_at(self, subject: Subject, points: Tensor) -> Tensor | None:
        """[B,P] int64 part ids at world points [B,P,3] (None when the generator has no labels)."""
        ...


class LabelingWrapper:
    """A generator seen through a labeler (semantic branch, pixel classifier): geometry, cameras
    and subjects are the wrapped generator's; subclasses add render() labels and labels_at()."""

    def __init__(self, generator, label_set: LabelSet, suffix: str):
        self.generator = generator
        self.label_set = label_set
        self.name = f"{generator.name}+{suffix}"
        self.z_dim, self.c_dim = generator.z_dim, generator.c_dim
        self.rendering, self.orbit = generator.rendering, generator.orbit
        self.bounds, self.density_threshold = generator.bounds, generator.density_threshold

    @property
    def spec(self):
        """The spec of the wrapped generator (generators/spec.py), None for one built by hand."""
        return getattr(self.generator, "spec", None)

    def sample(self, seeds: list[int], truncation: float = 1.0, **kwargs) -> Subject:
        # kwargs: what the wrapped generator's sample takes beyond these (an articulated one's pose)
        return self.generator.sample(seeds, truncation, **kwargs)

    def density(self, subject: Subject, points: Tensor) -> Tensor:
        return self.generator.density(subject, points)
