"""A tri-plane generator (EG3D's architecture, written from DESIGN sec. 4, not from its code).

sample() runs mapping + synthesis once per latent and caches planes and every block's feature
map in a Subject; render() ray-marches any number of cameras through the cached planes, then
applies super-resolution. Pure PyTorch, CPU-friendly: no custom ops, no fp16; float32 throughout
unless the super-resolution is asked to run in bfloat16 (superres_dtype).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ..cameras import Cameras, OrbitSpec, focal_from_fov, orbit_cameras, ray_bundle
from ..device import low_precision_dtype
from ..errors import DnerfError
from ..render.config import DEFAULT_CHUNK_RAYS, FAST_CHUNK_RAYS, RenderingConfig, check_march_path
from ..render.fast_march import march_fast_chunked
from ..render.occupancy import OccupancyGrid, build_occupancy, grid_half_extent, triplane_reach
from ..render.raymarch import eg3d_density, march_chunked
from ..render.plane_mlp import SummedDecode, summed_plane_reader
from ..render.triplane import channels_innermost, sample_planes
from .base import RenderOutput, Subject
from .networks.decoder import TriPlaneDecoder
from .networks.layers import NoiseMode
from .networks.mapping import MappingNetwork
from .networks.superres import HYBRID_2X, HYBRID_8X, SuperResConfig, SuperResolution
from .networks.synthesis import SynthesisNetwork

N_PLANES = 3
# Precisions the super-resolution can run in: float32 (exact), or reduced-precision autocast for
# its convolutions (bfloat16 on CPUs, about 2x faster at 512^2 with AMX; on CUDA the device's
# low_precision_dtype; scripts/bench.py reports both).
SUPERRES_DTYPES = (torch.float32, torch.bfloat16)


@dataclass(frozen=True)
class TriPlaneConfig:
    """Sizes and rendering settings of one tri-plane generator.

    z_dim / w_dim / c_dim: latent, intermediate latent and camera-label sizes (c_dim 0: unconditional);
    img_resolution: final image size (after super-resolution, or the neural resolution without it);
    plane_resolution / plane_channels: each of the 3 planes is plane_channels x R x R;
    channel_base / channel_max: backbone channels at resolution r = min(base // r, max);
    mapping_layers / mapping_lr_multiplier: the mapping MLP;
    decoder_hidden / decoder_features / decoder_lr_multiplier: the tri-plane decoder MLP;
    conv_clamp: clamp of the backbone's conv outputs (256 when EG3D trains it in float16) or None;
    superres: super-resolution after volume rendering, None to output the raw render;
    rendering: ray marching settings (incl. the neural rendering resolution);
    orbit: the camera distribution the generator was trained on;
    conditioning_zero: feed a zero camera label to the mapping network (EG3D's ShapeNet setting);
    bounds: half side of the cube holding the subject (marching cubes, cloud cropping);
    density_threshold: density (after activation) at which the surface is taken;
    upconv_order: filter order of the upsampling convolutions (networks.ops.UPCONV_ORDERS): "eg3d",
    or "fir_first" for generators trained with dnerf before EG3D parity (weight files version 1).
    """

    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 25
    img_resolution: int = 512
    plane_resolution: int = 256
    plane_channels: int = 32
    channel_base: int = 32768
    channel_max: int = 512
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    decoder_hidden: int = 64
    decoder_features: int = 32
    decoder_lr_multiplier: float = 1.0
    conv_clamp: float | None = 256.0
    superres: SuperResConfig | None = HYBRID_8X
    rendering: RenderingConfig = field(default_factory=lambda: RenderingConfig(48, 48, 2.25, 3.3, 1.0, False, 128))
    orbit: OrbitSpec = field(default_factory=lambda: OrbitSpec(2.7, (0.0, 0.0, 0.2), focal_from_fov(18.837),
                                                               (-0.6, 0.6), (-0.3, 0.3)))
    conditioning_zero: bool = False
    bounds: float | None = None
    density_threshold: float = 10.0
    upconv_order: str = "eg3d"

    @property
    def half_extent(self) -> float:
        return self.bounds if self.bounds is not None else self.rendering.box_warp / 2


# EG3D's released configurations (DESIGN sec. 4). Poses: FFHQ looks at (0,0,0.2), AFHQ at
# (0,0,-0.06), ShapeNet cars orbit the full circle at radius 1.7.
_FACE_FOCAL = focal_from_fov(18.837)
PRESETS: dict[str, TriPlaneConfig] = {
    "ffhq512-128": TriPlaneConfig(),
    "afhqcats512-128": TriPlaneConfig(orbit=OrbitSpec(2.7, (0.0, 0.0, -0.06), _FACE_FOCAL, (-0.6, 0.6), (-0.3, 0.3))),
    "shapenetcars128-64": TriPlaneConfig(
        img_resolution=128, superres=HYBRID_2X, conditioning_zero=True,
        rendering=RenderingConfig(64, 64, 0.1, 2.6, 1.6, True, 64),
        orbit=OrbitSpec(1.7, (0.0, 0.0, 0.0), focal_from_fov(18.837 * 2.4), (0.0, 2 * math.pi), (-0.6, 0.6))),
}


def seed_latents(seeds: list[int], z_dim: int) -> Tensor:
    """[B,z_dim] z of each seed: RandomState(seed).randn(z_dim) (EG3D's convention; the procedural
    oracle reads the first numbers of the same stream, so seeds name the same subject in both)."""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])).float()


class Backbone(nn.Module):
    """mapping + synthesis (kept as one module so state-dict names read backbone.mapping.*, ...)."""

    def __init__(self, cfg: TriPlaneConfig):
        super().__init__()
        self.synthesis = SynthesisNetwork(cfg.w_dim, cfg.plane_resolution, N_PLANES * cfg.plane_channels,
                                          cfg.channel_base, cfg.channel_max, cfg.conv_clamp, cfg.upconv_order)
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.synthesis.num_ws,
                                      cfg.mapping_layers, cfg.mapping_lr_multiplier)


def _config_attribute(name: str) -> property:
    """A read-only attribute of the generator that is its config's `name`."""
    return property(lambda self: getattr(self.config, name), doc=f"config.{name}")


class TriPlaneGAN(nn.Module):
    """The tri-plane generator; implements the Generator protocol (generators/base.py)."""

    label_set = None

    def __init__(self, config: TriPlaneConfig, name: str = "triplane", chunk_rays: int = DEFAULT_CHUNK_RAYS,
                 superres_dtype: torch.dtype = torch.float32):
        """chunk_rays: rays marched at once; superres_dtype: float32, or bfloat16 to run the
        super-resolution's convolutions in bfloat16 (faster, not bit-identical)."""
        super().__init__()
        if config.superres is None and config.img_resolution != config.rendering.neural_resolution:
            raise DnerfError("without super-resolution img_resolution must equal the neural resolution")
        if superres_dtype not in SUPERRES_DTYPES:
            raise DnerfError(f"superres_dtype must be one of {SUPERRES_DTYPES}, got {superres_dtype}")
        self.config = config
        self.name = name
        self.chunk_rays = chunk_rays
        self.superres_dtype = superres_dtype
        self.backbone = Backbone(config)
        self.decoder = TriPlaneDecoder(config.plane_channels, config.decoder_hidden, config.decoder_features,
                                       config.decoder_lr_multiplier)
        self.superresolution = (SuperResolution(config.superres, config.decoder_features, config.w_dim,
                                                config.upconv_order) if config.superres else None)

    # --- Generator protocol attributes ----------------------------------------------------------
    # read from the config: z_dim, c_dim (int), rendering (RenderingConfig), orbit (OrbitSpec),
    # bounds (float, the config's half_extent), density_threshold (float)
    z_dim = _config_attribute("z_dim")
    c_dim = _config_attribute("c_dim")
    rendering = _config_attribute("rendering")
    orbit = _config_attribute("orbit")
    bounds = _config_attribute("half_extent")
    density_threshold = _config_attribute("density_threshold")

    @property
    def device(self) -> torch.device:
        return self.backbone.mapping.w_avg.device

    @property
    def num_ws(self) -> int:
        return self.backbone.mapping.num_ws

    # --- latents -> subjects -----------------------------------------------------------------------
    def conditioning_label(self, n: int, cameras: Cameras | None = None) -> Tensor | None:
        """[n,c_dim] camera labels for the mapping network: the given cameras, else the frontal
        pose of the orbit; zeros when the config says so; None for unconditional generators."""
        if self.c_dim == 0:
            return None
        if self.config.conditioning_zero:
            return torch.zeros(n, self.c_dim, device=self.device)
        if cameras is None:
            cameras = orbit_cameras(0.0, 0.0, self.orbit)
        label = cameras.to_eg3d_label().to(self.device, torch.float32)
        return label.expand(n, -1) if len(label) == 1 else label

    def mapping(self, z: Tensor, c: Tensor | None, truncation: float = 1.0, update_w_avg: bool = False) -> Tensor:
        return self.backbone.mapping(z, c, truncation, update_w_avg)

    def synthesize(self, ws: Tensor, seeds: list[int], noise_mode: NoiseMode = "const") -> Subject:
        img, features = self.backbone.synthesis(ws, noise_mode)
        b, _, h, w = img.shape
        planes = channels_innermost(img.reshape(b, N_PLANES, self.config.plane_channels, h, w))
        return Subject(seeds=list(seeds), ws=ws, planes=planes, features=features)

    def _latents(self, seeds: list[int]) -> Tensor:
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise DnerfError("need at least one seed")
        if any(s < 0 or s >= 2 ** 32 for s in seeds):
            raise DnerfError(f"seeds must be integers in [0, 2**32), got {seeds}")
        return seed_latents(seeds, self.z_dim).to(self.backbone.mapping.w_avg)

    @torch.no_grad()
    def sample(self, seeds: list[int], truncation: float = 1.0, conditioning: Cameras | None = None) -> Subject:
        """Mapping + synthesis once per seed; the Subject caches ws, planes and block features."""
        z = self._latents(seeds)
        ws = self.mapping(z, self.conditioning_label(len(z), conditioning), truncation)
        return self.synthesize(ws, seeds)

    def sample_for_training(self, seeds: list[int]) -> Subject:
        """Like sample() but differentiable, and w_avg tracks the batch while training."""
        z = self._latents(seeds)
        ws = self.mapping(z, self.conditioning_label(len(z)), update_w_avg=self.training)
        return self.synthesize(ws, seeds)

    # --- fields and rendering --------------------------------------------------------------------
    def field(self, subject: Subject):
        """(points [N,P,3], directions [N,P,3]) -> (raw sigma [N,P,1], features [N,P,F]) over the
        subject's planes (N = len(subject))."""
        planes, box_warp = subject.planes, self.rendering.box_warp

        def fn(points: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
            return self.decoder(sample_planes(planes, points, box_warp))

        return fn

    def summed_field(self, subject: Subject, decode: SummedDecode):
        """(points [N,P,3], directions) -> decode's outputs from the planes' features at the points,
        summed over the planes (render/plane_mlp.summed_plane_reader: the native kernel where it
        runs, else the table lookup and decode.eager): what field_summed and density_summed read;
        a generator that reads its planes elsewhere than at the given points (the articulated
        one) overrides this alone."""
        read = summed_plane_reader(subject.planes, self.rendering.box_warp, decode)

        def fn(points: Tensor, directions: Tensor) -> tuple:
            return read(points)

        return fn

    def field_summed(self, subject: Subject):
        """field(), the planes sampled summed: the same numbers up to float rounding, faster; what
        the fast and surface paths evaluate."""
        return self.summed_field(subject, self.decoder.summed_decode(N_PLANES))

    def density(self, subject: Subject, points: Tensor) -> Tensor:
        """[B,P] activated density at world points [B,P,3] (chunked)."""
        sig = [self.field(subject)(p, p)[0][..., 0] for p in points.split(self.chunk_rays * 16, dim=1)]
        return eg3d_density(torch.cat(sig, dim=1))

    def density_summed(self, subject: Subject, points: Tensor) -> Tensor:
        """density() with the planes sampled summed and no features decoded (what the occupancy
        grid and the marching-cubes grids are built from: faster, the same numbers up to float
        rounding)."""
        field = self.summed_field(subject, self.decoder.summed_decode(N_PLANES, density_only=True))
        sig = [field(p, p)[0][..., 0] for p in points.split(self.chunk_rays * 16, dim=1)]
        return eg3d_density(torch.cat(sig, dim=1))

    def labels_at(self, subject: Subject, points: Tensor) -> None:
        return None

    @torch.no_grad()
    def occupancy(self, subject: Subject) -> OccupancyGrid:
        """The subject's occupancy grid (render/occupancy.py): built from the frozen density on the
        first call, cached on the Subject, rebuilt only when the rendering config asks for another."""
        cfg = self.rendering
        reach = triplane_reach(cfg.box_warp, subject.planes.shape[-1])
        half = grid_half_extent(reach, cfg.occupancy_resolution)
        grid = subject.occupancy
        if not (isinstance(grid, OccupancyGrid)
                and grid.matches(cfg.occupancy_resolution, cfg.occupancy_threshold, half, len(subject),
                                 cfg.occupancy_subsamples)):
            grid = build_occupancy(lambda p: self.density_summed(subject, p), len(subject), reach,
                                   cfg.occupancy_resolution, cfg.occupancy_threshold, cfg.occupancy_subsamples,
                                   device=subject.planes.device)
            subject.occupancy = grid
        return grid

    def march_rays(self, subject: Subject, origins: Tensor, directions: Tensor, path: str = "volume"):
        """MarchedRays of rays [N,R,3] through the subject: the reference march ("volume") or its
        fast twin ("fast": occupancy grid + early termination, render/fast_march.py, and the
        planes looked up through render/plane_taps.py)."""
        check_march_path(path)
        if path == "fast":
            grid = self.occupancy(subject)
            if not grid.skips_anything():  # a full grid: the compaction would only cost time
                return march_chunked(self.field_summed(subject), origins, directions, self.rendering,
                                     self.chunk_rays)
            return march_fast_chunked(self.field_summed(subject), origins, directions, self.rendering, grid,
                                      max(self.chunk_rays, FAST_CHUNK_RAYS))
        return march_chunked(self.field(subject), origins, directions, self.rendering, self.chunk_rays)

    @torch.no_grad()
    def render(self, subject: Subject, cameras: Cameras, resolution: int | None = None, *,
               path: str = "volume") -> RenderOutput:
        """Render len(cameras) views; `resolution` overrides the neural rendering resolution (the
        super-resolved output keeps the config's img_resolution); path: "volume" (the reference
        march) or "fast" (the same march skipping empty space and stopping at opaque surfaces)."""
        check_march_path(path)
        n_views, n_subj = len(cameras), len(subject)
        if n_subj not in (1, n_views):
            raise DnerfError(f"{n_subj} subjects for {n_views} cameras: pass one subject or one per camera")
        res = resolution or self.rendering.neural_resolution
        rays = ray_bundle(cameras.to(subject.planes.device, torch.float32), res)
        origins, dirs = rays.origins, rays.directions
        if n_subj == 1:  # all views through one set of planes: one long batch of rays
            origins, dirs = origins.reshape(1, -1, 3), dirs.reshape(1, -1, 3)
        marched = self.march_rays(subject, origins, dirs, path)
        feats, depth, opacity = marched.features, marched.depth, marched.opacity
        img = lambda x: x.reshape(n_views, res, res, -1).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        feature_image, depth, opacity = img(feats), img(depth), img(opacity)
        return RenderOutput(rgb=self.super_resolve(subject, feature_image), rgb_raw=feature_image[:, :3], depth=depth,
                            opacity=opacity, features=feature_image)

    def super_resolve(self, subject: Subject, feature_image: Tensor) -> Tensor:
        """[V,F,h,w] volume-rendered features (RGB first, in [0,1]) -> [V,3,H,W] final RGB in [0,1].

        EG3D's super-resolution works in [-1,1] and reads only the subject's last w."""
        rgb_raw = feature_image[:, :3]
        if self.superresolution is None:
            return rgb_raw
        ws = subject.ws if len(subject) == len(feature_image) else subject.ws.expand(len(feature_image), -1, -1)
        device = feature_image.device
        with torch.autocast(device.type, dtype=low_precision_dtype(device),
                            enabled=self.superres_dtype != torch.float32):
            out = self.superresolution(rgb_raw * 2 - 1, feature_image * 2 - 1, ws)
        return (out.float().contiguous() + 1) / 2


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
