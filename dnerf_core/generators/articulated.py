"""An articulated tri-plane generator (after GNARF; our own code): a canonical tri-plane from the
latent only, and a posed-to-canonical warp of every ray sample.

The backbone and decoder are TriPlaneGAN's (this class extends it and only replaces the field):
sample() makes one canonical tri-plane per latent, in the figure's rest pose. At render time each
posed-space sample is
  1. owned by the part whose posed proxy is nearest: the proxies are the bone capsules of the
     subject's skeleton (the capsule unions procedural/figure.py builds each part from, posed by
     the bone's rigid transform), compared by signed distance;
  2. mapped by that part's inverse rigid transform into the rest ("canonical") frame, where the
     tri-plane is sampled;
  3. masked (no density: the raw sigma is set to MASKED_SIGMA, whose density is exactly 0) when it
     lies farther than `margin` from every proxy (GNARF bounds rays by a body mesh pushed out by
     0.05), or, with `consistent_ownership`, when its canonical point belongs to another part at
     rest: a posed sample near a bent joint may map onto a neighbour's rest-pose volume, whose
     density the tri-plane holds, and rendering it would paste a ghost of that neighbour there.

Like GNARF's body model (SMPL pose and shape), the skeleton of a subject is known to the renderer:
it is the oracle figure of the same seed (whose proportions come from the same first latent
numbers as z), posed by a skeleton.Pose carried on the Subject. Because the proxies are the
oracle's own part solids, ownership and the inverse map agree exactly with the oracle's labels
and inverse map (FigureGenerator.to_canonical).

Weight files: {"format": "dnerf-articulated", "version": 1, "name", "config" (tri-plane),
"articulated" (ArticulatedConfig), "state_dict"}; torch.load(weights_only=True) reads them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import CheckpointError, DnerfError
from ..io.tagged_file import load_tagged, save_tagged
from ..render.raymarch import FieldFn
from ..render.plane_mlp import SummedDecode, summed_plane_reader
from ..render.triplane import sample_planes
from .base import RenderOutput, Subject
from .procedural.figure import (BOUNDS, ORBIT, RENDERING, Figure, PosedFigure, make_figure, random_pose,
                                sample_pose_angles)
from .procedural.skeleton import POSE_NAMES, Pose, PoseError, named_pose, resolve_pose
from .triplane_gan import TriPlaneConfig, TriPlaneGAN

FORMAT = "dnerf-articulated"
VERSION = 1
# Raw sigma of masked samples: density softplus(MASKED_SIGMA - 1) is exactly 0.0 in float32, and an
# interval between a masked and a kept sample (midpoint averaging) stays empty too.
MASKED_SIGMA = -1.0e4
# GNARF pushes its body mesh out by 0.05 to bound the rays; our figure is ~1.8 units tall.
DEFAULT_MARGIN = 0.05
# The rest pose plus the margin spans about x in [-0.45, 0.45], y in [-1.01, 0.83], z in [-0.19, 0.29]
# for every seed (procedural/figure.py); this maps it into the planes' [-1, 1] cube, 2x finer in x and
# 3x finer in z than the world box.
CANONICAL_PLANE_OFFSET = (0.0, 0.08, -0.03)
CANONICAL_PLANE_SCALE = (2.0, 1.0, 3.0)


@dataclass(frozen=True)
class ArticulatedConfig:
    """The warp's settings.

    margin: samples farther than this (world units) from every posed proxy get no density;
    consistent_ownership: also mask samples whose canonical point another part owns in the rest
    pose (no ghosts of a neighbour's volume near bent joints; see the module docstring);
    plane_offset / plane_scale: where a rest-frame point reads the tri-plane, (p + offset) * scale
    per axis: the rest-pose figure is tall and thin, so stretching x and z spends the planes'
    texels on it instead of on empty space (a fixed affine map, the same for every subject).
    """

    margin: float = DEFAULT_MARGIN
    consistent_ownership: bool = True
    plane_offset: tuple[float, float, float] = CANONICAL_PLANE_OFFSET
    plane_scale: tuple[float, float, float] = CANONICAL_PLANE_SCALE


@dataclass(frozen=True)
class Warp:
    """The warp of posed points [P,3]: canonical points [P,3], owning part [P] (index into the
    figure's parts), proxy distance [P] (signed, to the owner), keep [P] (False: masked)."""

    canonical: Tensor
    part: Tensor
    distance: Tensor
    keep: Tensor


def warp_points(posed: PosedFigure, points: Tensor, config: ArticulatedConfig) -> Warp:
    """Posed points [P,3] of one subject -> Warp (no gradients: the skeleton is not learned)."""
    with torch.no_grad():
        dist, owner = posed.distances(points).min(dim=0)  # the posed proxies: the bone capsules
        canonical = torch.empty_like(points)
        for k, part in enumerate(posed.figure.parts):
            sel = torch.nonzero(owner == k)[:, 0]
            if len(sel):
                canonical[sel] = posed.transforms.to_canonical(points[sel], part.joint)
        keep = dist <= config.margin
        if config.consistent_ownership:
            keep = keep & (posed.figure.rest.nearest_part(canonical) == owner)
    return Warp(canonical, owner, dist, keep)


def poses_for(figures: list[Figure], pose) -> list[Pose]:
    """One Pose per figure from a pose spec (resolve_pose) or a list of them."""
    poses = pose if isinstance(pose, (list, tuple)) else [pose] * len(figures)
    if len(poses) != len(figures):
        raise PoseError(f"{len(poses)} poses for {len(figures)} subjects: pass one pose or one per subject")
    return [resolve_pose(p, sampler=lambda seed, f=f: random_pose(f, seed)) for f, p in zip(figures, poses)]


class ArticulatedTriPlane(TriPlaneGAN):
    """The articulated tri-plane generator (Generator protocol; the pose travels on the Subject:
    sample(seeds, pose=...), repose(subject, pose), render(..., pose=...))."""

    def __init__(self, config: TriPlaneConfig, articulated: ArticulatedConfig = ArticulatedConfig(),
                 name: str = "articulated", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.articulated = articulated

    # --- subjects with poses -------------------------------------------------------------------
    def _posed(self, seeds: list[int], truncation: float, pose) -> list[PosedFigure]:
        figures = [make_figure(int(s), truncation) for s in seeds]
        return [f.posed(p) for f, p in zip(figures, poses_for(figures, pose))]

    @torch.no_grad()
    def sample(self, seeds: list[int], truncation: float = 1.0, conditioning=None, pose=None) -> Subject:
        subject = super().sample(seeds, truncation, conditioning)
        subject.params = self._posed(subject.seeds, truncation, pose)
        return subject

    def sample_for_training(self, seeds: list[int], pose=None) -> Subject:
        subject = super().sample_for_training(seeds)
        subject.params = self._posed(subject.seeds, 1.0, pose)
        return subject

    def repose(self, subject: Subject, pose) -> Subject:
        """The same canonical planes in another pose (a new Subject sharing the planes)."""
        figures = [p.figure for p in subject.params]
        params = [f.posed(p) for f, p in zip(figures, poses_for(figures, pose))]
        return Subject(seeds=list(subject.seeds), ws=subject.ws, planes=subject.planes,
                       features=subject.features, params=params)

    def poses(self, subject: Subject) -> list[Pose]:
        return [p.pose for p in subject.params]

    # --- the warped field ----------------------------------------------------------------------
    def plane_coordinates(self, canonical: Tensor) -> Tensor:
        """Rest-frame points -> where they read the tri-plane (ArticulatedConfig.plane_offset/scale)."""
        cfg = self.articulated
        return (canonical + canonical.new_tensor(cfg.plane_offset)) * canonical.new_tensor(cfg.plane_scale)

    def canonical_field(self, subject: Subject) -> FieldFn:
        """The unwarped field over the canonical planes (rest-frame points)."""
        planes, box_warp = subject.planes, self.rendering.box_warp

        def fn(points: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
            return self.decoder(sample_planes(planes, self.plane_coordinates(points), box_warp))

        return fn

    def warp(self, subject: Subject, points: Tensor) -> list[Warp]:
        """[N,P,3] posed points (row i: subject i, or the only subject) -> one Warp per row."""
        posed = subject.params
        if posed is None or not all(isinstance(p, PosedFigure) for p in posed):
            raise DnerfError("this subject has no skeleton pose: sample it with the articulated generator")
        return [warp_points(posed[i if len(posed) > 1 else 0], points[i], self.articulated) for i in range(len(points))]

    def plane_points(self, subject: Subject, points: Tensor) -> Tensor:
        """[N,P,3] posed points -> where they read the canonical tri-plane (warped to the owning
        part's rest frame, then plane_coordinates). Whatever else reads this subject's planes at a
        posed point (the semantic branch) reads them here, so its answers follow the pose."""
        return self.plane_coordinates(torch.stack([w.canonical for w in self.warp(subject, points)]))

    def _warped(self, subject: Subject, decode) -> FieldFn:
        planes, box_warp = subject.planes, self.rendering.box_warp

        def fn(points: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
            warps = self.warp(subject, points)
            canonical = torch.stack([w.canonical for w in warps])
            keep = torch.stack([w.keep for w in warps])[..., None]
            sigma, feats = decode(planes, self.plane_coordinates(canonical), box_warp)
            return torch.where(keep, sigma, torch.full_like(sigma, MASKED_SIGMA)), feats

        return fn

    def field(self, subject: Subject) -> FieldFn:
        """(posed points [N,P,3], directions) -> (raw sigma [N,P,1], features [N,P,F]): the canonical
        field at the warped points, masked samples at MASKED_SIGMA."""
        return self._warped(subject, lambda planes, pts, bw: self.decoder(sample_planes(planes, pts, bw)))

    def summed_field(self, subject: Subject, decode: SummedDecode) -> FieldFn:
        """TriPlaneGAN.summed_field at the warped points, masked samples at MASKED_SIGMA (what
        field_summed and density_summed read: the base class's would read the planes at posed
        points)."""
        read = summed_plane_reader(subject.planes, self.rendering.box_warp, decode)
        return self._warped(subject, lambda planes, pts, bw: read(pts))

    @torch.no_grad()
    def render(self, subject: Subject, cameras, resolution: int | None = None, *, path: str = "volume",
               pose=None) -> RenderOutput:
        if pose is not None:
            subject = self.repose(subject, pose)
        return super().render(subject, cameras, resolution, path=path)


def default_figure_config() -> TriPlaneConfig:
    """The small default of `default:figure`: the sizes of the other defaults (default_config.py),
    the figure world's cameras and ray settings, EG3D's upsampling order."""
    from .default_config import (DEFAULT_CHANNEL_BASE, DEFAULT_CHANNEL_MAX, DEFAULT_DECODER_LR_MULTIPLIER,
                                 DEFAULT_MAPPING_LR_MULTIPLIER, DEFAULT_PLANE_RESOLUTION, DEFAULT_W_DIM,
                                 DEFAULT_Z_DIM, surface_density)

    return TriPlaneConfig(
        z_dim=DEFAULT_Z_DIM, w_dim=DEFAULT_W_DIM, c_dim=0, img_resolution=RENDERING.neural_resolution,
        plane_resolution=DEFAULT_PLANE_RESOLUTION, plane_channels=32, channel_base=DEFAULT_CHANNEL_BASE,
        channel_max=DEFAULT_CHANNEL_MAX, mapping_layers=2, mapping_lr_multiplier=DEFAULT_MAPPING_LR_MULTIPLIER,
        decoder_lr_multiplier=DEFAULT_DECODER_LR_MULTIPLIER, superres=None, rendering=RENDERING, orbit=ORBIT,
        conditioning_zero=True, bounds=BOUNDS, density_threshold=surface_density(RENDERING), upconv_order="eg3d")


# --- weight files ----------------------------------------------------------------------------------
def save_articulated(path: str | Path, model: ArticulatedTriPlane) -> None:
    from .triplane_io import config_to_dict

    save_tagged(path, {"format": FORMAT, "version": VERSION, "name": model.name,
                       "config": config_to_dict(model.config), "articulated": asdict(model.articulated),
                       "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}})


def load_articulated(path: str | Path, name: str | None = None) -> ArticulatedTriPlane:
    """Load a file written by save_articulated (weights_only: nothing in it is executed)."""
    from .triplane_io import config_from_dict

    path = Path(path)
    payload = load_tagged(path, FORMAT, VERSION, "dnerf articulated weight file")
    try:
        settings = dict(payload["articulated"])
        for key in ("plane_offset", "plane_scale"):
            if key in settings:
                settings[key] = tuple(float(v) for v in settings[key])
        articulated = ArticulatedConfig(**settings)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: the articulated settings are not valid: {exc}") from exc
    model = ArticulatedTriPlane(config_from_dict(payload["config"]), articulated,
                                name=name or payload.get("name", path.stem))
    missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()


# --- distillation from procedural:figure in random poses --------------------------------------------
# Share of training subjects in a named pose (the rest in random poses within the joint limits).
NAMED_POSE_FRACTION = 0.25


def training_poses(rng: np.random.Generator, n: int) -> list[Pose]:
    """Poses for n training subjects: a quarter named poses, the rest angles uniform within the
    joint limits. Training skips the self-intersection test (it costs more than a step on 2 cores);
    the oracle stays exact in such poses (hard union, labels by the nearest part)."""
    out = []
    for _ in range(n):
        if rng.random() < NAMED_POSE_FRACTION:
            out.append(named_pose(POSE_NAMES[int(rng.integers(len(POSE_NAMES)))]))
        else:
            out.append(sample_pose_angles(np.random.RandomState(int(rng.integers(2 ** 31)))))
    return out


def articulated_distill_step(model: ArticulatedTriPlane, oracle, optimizer, cfg, rng: np.random.Generator,
                             gen: torch.Generator):
    """One step of distillation.py's recipe with the oracle and the model in the same random poses."""
    from .distill import field_step, point_targets, ray_targets, supervision_points, training_seeds

    seeds = training_seeds(rng, cfg.batch_subjects)
    poses = training_poses(rng, len(seeds))
    rendering = model.config.rendering
    with torch.no_grad():
        truth = oracle.sample(seeds, pose=poses)
        rays = ray_targets(oracle, truth, cfg.rays_per_subject, gen)
        pts = supervision_points(oracle, truth, rays.surface, cfg, gen)
        targets = point_targets(oracle, truth, pts, cfg)
    field = model.field(model.sample_for_training(seeds, pose=poses))
    return field_step(field, pts, targets, rays, rendering, cfg, gen, optimizer)
