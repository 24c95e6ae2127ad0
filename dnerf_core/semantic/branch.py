"""The DatasetNeRF semantic branch as one module over a frozen tri-plane generator."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from ..cameras import Cameras, ray_bundle
from ..errors import DnerfError
from ..generators.base import Subject
from ..generators.posing import base_generator
from ..render.config import DEFAULT_CHUNK_RAYS, check_march_path
from ..render.plane_mlp import summed_plane_reader
from ..render.plane_taps import summed_plane_lookup
from ..render.triplane import channels_innermost, sample_planes, sample_planes_summed
from . import augmented
from .augmented import AugmentedLayout
from .config import SemanticConfig
from .decoder import SemanticDecoder
from .position import encode_positions, position_features
from .render import SemanticFieldFn, class_labels, log_probs, render_semantic_rays
from .superres import SemanticSuperRes


@dataclass
class SemanticRender:
    """logits [B,K,H,W] (output resolution), probs_raw [B,K,h,w], features [B,F,h,w] (neural
    resolution), and the generator's own feature image [B,C,h,w] (RGB first), depth / opacity
    [B,1,h,w] from the same march."""

    logits: Tensor
    probs_raw: Tensor
    features: Tensor
    generator_features: Tensor
    depth: Tensor
    opacity: Tensor

    @property
    def rgb_raw(self) -> Tensor:
        return self.generator_features[:, :3]

    @property
    def labels(self) -> Tensor:
        return class_labels(self.logits)


# points [N,P,3] where a subject is seen -> points [N,P,3] where its planes are read
PlaneFrame = Callable[[Tensor], Tensor]


def plane_frame(generator, subject: Subject) -> PlaneFrame | None:
    """How `subject`'s world points map to where its planes are read: None for a rigid generator
    (the same points), the posed-to-canonical warp for an articulated one (its `plane_points`).
    The branch reads the generator's planes, so it must read them where the generator does: a
    posed point's label is then the label of its canonical point, and labels follow the pose."""
    to_planes = getattr(base_generator(generator), "plane_points", None)
    if to_planes is None:
        return None
    return lambda points: to_planes(subject, points)


def backbone_features(subject: Subject, multiscale: bool) -> list[Tensor]:
    """What the augmented tri-plane is built from: every block's output, or only the planes."""
    if subject.planes is None:
        raise DnerfError("the semantic branch needs a tri-plane generator (this subject has no planes)")
    return list(subject.features) if multiscale else [subject.planes.flatten(1, 2)]


class SemanticBranch(nn.Module):
    def __init__(self, config: SemanticConfig, layout: AugmentedLayout, box_warp: float, sr_scale: int = 1):
        super().__init__()
        self.config = config
        self.layout = layout
        self.box_warp = box_warp
        self.decoder = SemanticDecoder(layout.channels_per_plane, config.num_classes, config.hidden,
                                       config.features, own_density=not config.density_prior,
                                       hidden_layers=config.hidden_layers,
                                       position_features=position_features(config.position_frequencies),
                                       latent_features=config.latent_dim)
        self.superres = SemanticSuperRes(config.num_classes, config.features, sr_scale, config.sr_hidden)

    @classmethod
    def for_generator(cls, generator, config: SemanticConfig) -> "SemanticBranch":
        probe = generator.sample([0])
        layout = AugmentedLayout.from_features(backbone_features(probe, config.multiscale))
        scale = generator.config.img_resolution // generator.rendering.neural_resolution
        # the branch lives where the generator's subjects are computed
        return cls(config, layout, generator.rendering.box_warp, scale).to(probe.features[0].device if probe.features
                                                                           else "cpu")

    # --- the augmented tri-plane: lazy (product) and materialized (reference) -----------------------
    def planes(self, subject: Subject) -> Tensor:
        """[B,3,hidden,R,R] augmented planes already projected by the decoder's first layer."""
        planes = augmented.project(backbone_features(subject, self.config.multiscale), self.layout,
                                   self.decoder.fc0_weight)
        if self.config.latent_dim:
            # a third of the shift on each plane: the three samples of a point sum to it
            shift = self._latent(subject) @ self.decoder.latent_weight.T  # [B,hidden]
            planes = planes + shift[:, None, :, None, None]
        # the same values with each texel's features side by side: every render path's bilinear
        # lookup of the 64 channels is about 25% faster, bit-identical (render/triplane.py)
        return channels_innermost(planes)

    def planes_materialized(self, subject: Subject) -> Tensor:
        """[B,3,D,R,R] the paper's augmented tri-plane (reference path; large), then the latent as
        constant channels when the decoder reads one."""
        planes = augmented.materialize(backbone_features(subject, self.config.multiscale), self.layout)
        if self.config.latent_dim:
            b, k, _, r, _ = planes.shape
            latent = self._latent(subject)[:, None, :, None, None].expand(b, k, -1, r, r)
            planes = torch.cat([planes, latent.to(planes.dtype)], dim=2)
        return planes

    def _latent(self, subject: Subject) -> Tensor:
        """[B,latent_dim] the subject's first w over the number of planes."""
        if subject.ws is None or subject.ws.shape[-1] != self.config.latent_dim:
            raise DnerfError(f"this semantic branch reads a latent w of {self.config.latent_dim} numbers; the "
                             "subject has " + ("none" if subject.ws is None else f"{subject.ws.shape[-1]}"))
        return subject.ws[:, 0] / augmented.N_PLANES

    def position(self, points: Tensor) -> Tensor | None:
        """[...,P] the positional encoding the decoder reads at points [...,3], or None."""
        if self.config.position_frequencies == 0:
            return None
        return encode_positions(points, self.box_warp / 2, self.config.position_frequencies)

    def field(self, planes: Tensor, frame: PlaneFrame | None = None, fast: bool = False) -> SemanticFieldFn:
        """The semantic field over projected planes; frame: plane_frame(generator, subject) when
        the points are posed world points of an articulated subject (None: read them as given);
        fast: read the planes through render/plane_mlp.summed_plane_reader (the native kernel or
        the table lookup: the fast and surface paths; the same numbers up to float rounding)
        instead of grid_sample (the volume path, the reference)."""
        if fast and self.config.position_frequencies == 0:
            read = summed_plane_reader(planes, self.box_warp, self.decoder.summed_decode())
        else:
            lookup = (summed_plane_lookup(planes, self.box_warp) if fast
                      else lambda points: sample_planes_summed(planes, points, self.box_warp))
            read = lambda points: self.decoder.head(lookup(points), self.position(points))  # noqa: E731

        def fn(points: Tensor):
            return read(points if frame is None else frame(points))
        return fn

    def field_materialized(self, planes: Tensor, frame: PlaneFrame | None = None) -> SemanticFieldFn:
        def fn(points: Tensor):
            if frame is not None:
                points = frame(points)
            return self.decoder(sample_planes(planes, points, self.box_warp).sum(dim=1), self.position(points))
        return fn

    def logits_at(self, planes: Tensor, points: Tensor, frame: PlaneFrame | None = None) -> Tensor:
        """[B,P,K] class logits of the semantic field at world points [B,P,3] (frame: see field)."""
        return self.field(planes, frame)(points)[0][..., :self.config.num_classes]

    # --- images --------------------------------------------------------------------------------
    def render(self, generator, subject: Subject, cameras: Cameras, resolution: int | None = None,
               planes: Tensor | None = None, field: SemanticFieldFn | None = None,
               chunk_rays: int = DEFAULT_CHUNK_RAYS, *, path: str = "volume") -> SemanticRender:
        """Semantic views (one subject broadcast over the cameras, or one subject per camera).

        planes: precomputed self.planes(subject); field: another semantic field (the reference; it
        gets world points: build it with plane_frame(generator, subject) for an articulated one);
        chunk_rays: rays marched at once (the materialized reference needs small chunks);
        path: the generator's "volume" march or its "fast" twin (semantic/render.py). A branch
        with its own density (no density prior) cannot ride on the generator's weights: it is
        always rendered on the volume path."""
        n_views, n_subj = len(cameras), len(subject)
        if n_subj not in (1, n_views):
            raise DnerfError(f"{n_subj} subjects for {n_views} cameras: pass one subject or one per camera")
        res = resolution or generator.rendering.neural_resolution
        check_march_path(path)
        if not self.config.density_prior:
            path = "volume"
        if field is None:
            field = self.field(self.planes(subject) if planes is None else planes, plane_frame(generator, subject),
                               fast=path == "fast")
        rays = ray_bundle(cameras.to(dtype=torch.float32), res)
        o, d = rays.origins, rays.directions
        if n_subj == 1:
            o, d = o.reshape(1, -1, 3), d.reshape(1, -1, 3)
        out = render_semantic_rays(generator, subject, field, o, d, self.config.num_classes, chunk_rays, path)
        img = lambda x: x.reshape(n_views, res, res, -1).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        probs, feats = img(out.probs), img(out.features)
        logits = self.superres(log_probs(probs), feats)
        return SemanticRender(logits, probs, feats, img(out.rgb_features), img(out.depth), img(out.opacity))
