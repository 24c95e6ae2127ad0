"""The surface render path: labeled views of a cached subject by casting rays against its baked mesh.

A subject is baked once (marching cubes on the frozen density: the surface the labeled mesh
export extracts, plus the ray caster's acceleration structure) and cached on `Subject.surface`.
Each view then casts one ray per pixel (render/surface_cast.py) and evaluates the fields only
around the hit instead of along 48 + 48 samples of every ray:

- RGB / features: the generator's decoder (first 3 features = RGB), or the oracle's colors;
- part labels: for the semantic branch, its field's class probabilities around the hit go through
  the branch's own semantic super-resolution, as the volume path's composited probabilities do;
  for any other labeler (the procedural oracle, baselines) its labels_at() at the hit point;
- depth: the hit distance along the unit ray; opacity / mask: hit or miss; normals: the mesh's.

`samples_per_hit` > 1 evaluates a short ray segment around the hit and composites it with the
generator's own density (a few evaluations per opaque pixel, none for empty ones, instead of
48 + 48 for every pixel): the volume path's labels, colors, depth and opacity come from the same
thin shell of weights, so this agrees far better with it than the iso-surface point alone
(numbers at DEFAULT_SAMPLES_PER_HIT; scripts/bench.py --only surface measures the full figure).
The oracle (no density field) is shaded at the hit point alone.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

import torch
from torch import Tensor

from ..cameras import Cameras, ray_bundle
from ..errors import DnerfError
from ..generators.base import SURFACE_OPACITY, RenderOutput, Subject
from ..generators.posing import base_generator
from ..labels import BACKGROUND_ID
from ..render.fast_march import Selection, sample_coefficients
from ..render.plane_mlp import native_available
from ..render.raymarch import compute_weights
from ..render.surface_cast import DEFAULT_CASTER, MeshCaster, RayHits, check_caster
from ..semantic.branch import plane_frame
from ..semantic.render import class_labels, composite_kept, kept_shares, log_probs
from .mesh import MeshConfig, SurfaceGeometry, extract_surface

# Marching-cubes grid of the bake (the labeled mesh export's default grid; the bake's level is
# lower than the mesh's, see WINDOW_LEVEL_SCALE, so the two are separate extractions).
SURFACE_MESH_RESOLUTION = 128
# The bake's iso level as a fraction of the generator's density threshold. A window (several
# samples per hit) wants a mesh around the whole faint outer shell: a ray whose volume composite
# gathers some opacity there (silhouettes, grazing rays) must hit the mesh, or the pixel turns
# background, and its neighbours' labels with it (the semantic super-resolution reads them).
# Held-out default:car seeds 1000000-1, 3 views each, 128^2, mIoU vs the volume path with 17
# samples over (-2, 10) steps: level 0.25 0.975 / 0.959, 0.1 0.982 / 0.975, 0.03 0.988 / 0.978,
# 0.01 0.988 / 0.977. One opaque point per hit wants the surface itself: at 0.03 its
# silhouettes are fat (mIoU 0.73-0.79), at 0.25 0.85.
WINDOW_LEVEL_SCALE = 0.03
POINT_LEVEL_SCALE = 0.25
# Where one point per hit sits, in coarse volume sample spacings behind the hit: 1 labels best of
# 0..3 (default:car training seeds 7 and 11, 64^2, level 0.25: mIoU 0.85 vs the volume path).
POINT_HIT_OFFSET = 1.0
# The window: DEFAULT_SAMPLES_PER_HIT evaluations per hit pixel from WINDOW_BEFORE coarse volume
# sample spacings in front of the hit to WINDOW_AFTER behind it, composited with the generator's
# own density as the volume path composites its samples; all but TAIL_SAMPLES of them evenly up
# to WINDOW_DENSE (where the shell's weight lies, as the volume path's importance samples do),
# the tail evenly beyond (grazing rays gather their opacity behind the hit). Same held-out views,
# car / face mIoU at level 0.03: 17 even over (-2, 10) 0.987 / 0.978 and 0.978 / 0.947; 25 even
# 0.992 / 0.985 and 0.989 / 0.974; 19 = 14 over (-1, 4) + 5 to 10: 0.993 / 0.987 and
# 0.994 / 0.981; 15 = 11 over (-1, 3) + 4 to 10: 0.984 / 0.978 and 0.980 / 0.955. Skipping the
# tail of hits whose transmittance over the dense part is below the fast path's termination
# threshold (1e-4) was measured and dropped: no faster (a second field call per block) and the face's
# second seed fell to 0.970, as the skipped opacity (up to 1e-4) reaches the semantic
# super-resolution as a background share 100x over its log floor (semantic/render.PROB_FLOOR).
DEFAULT_SAMPLES_PER_HIT = 19
WINDOW_BEFORE, WINDOW_DENSE, WINDOW_AFTER = 1.0, 4.0, 10.0
TAIL_SAMPLES = 5
# The share of a hit's blend below which a window sample skips the semantic field (its share
# goes to the pixel's kept samples, as on the fast volume path, whose floor is
# semantic/render.SEMANTIC_MIN_COEFFICIENT = 1e-4). Held-out car / face mIoU vs the volume path at
# 128^2 (seeds 1000000-1, 3 views each): 1e-4 0.993, 0.987 / 0.994, 0.981; 1e-3 the same;
# 3e-3 0.992, 0.987 / 0.994, 0.982 at 7% more views/s; 1e-2 0.989, 0.985 / 0.992, 0.977.
SURFACE_SEMANTIC_FLOOR = 3e-3
# Samples one shading pass takes at a time on a CPU: the plane features, hidden units and
# per-sample outputs of this many samples stay in the caches from the lookup to the blend.
# default:car, 16 views at 128^2, 17 samples per hit: 3.6 views/s in one pass over all hits,
# 8.2 in blocks of 2048 hits (35k samples), 7.3 with 1024, 6.8 with 4096, 5.4 with 8192.
SHADE_BLOCK_POINTS = 2048 * 17
# The same where the native field kernel runs (render/plane_mlp.py: its lookups and hidden units
# never leave a tile, so larger blocks only save per-block overhead). 19 samples per hit, 16
# views, interleaved: blocks of 1.8k hits 15.2-17.2 views/s, 7.3k 17.2-21.6, 14.7k 17.1-18.6,
# one pass 16.0-16.3.
NATIVE_SHADE_BLOCK_POINTS = 8192 * 17


@dataclass(frozen=True)
class SurfaceConfig:
    """How the surface path bakes and shades.

    mesh_resolution: marching-cubes grid per axis of the bake; level_scale: the bake's iso level
    over the generator's density threshold (None: WINDOW_LEVEL_SCALE with a window,
    POINT_LEVEL_SCALE for one point per hit); caster: ray-casting library
    (render/surface_cast.CASTERS); samples_per_hit: field evaluations per hit pixel (1 = one
    point, opaque); window_before / window_dense / window_after / tail_samples: the segment
    around the hit in coarse volume sample spacings and how its samples spread (see
    TAIL_SAMPLES); hit_offset: where a single evaluation sits, in coarse volume sample spacings
    behind the hit; semantic_floor: the share of a hit's blend below which a window sample skips
    the semantic field (see SURFACE_SEMANTIC_FLOOR; 0 evaluates it at every sample).

    The default window agrees with the volume path to mIoU >= 0.98 at 128^2; fewer samples or one
    point per hit trade agreement for speed (scripts/bench.py --only surface measures each). A
    first pass of one point or a short window, refined with the full window only near label
    borders and silhouettes, was measured and dropped: it misses small parts (held-out car / face
    mIoU 0.954 / 0.952 at 62% / 68% of the window's evaluations) where 11 samples (8 up to
    window_dense, 3 beyond) give 0.984 / 0.976 at 58% / 66%."""

    mesh_resolution: int = SURFACE_MESH_RESOLUTION
    level_scale: float | None = None
    caster: str = DEFAULT_CASTER
    samples_per_hit: int = DEFAULT_SAMPLES_PER_HIT
    window_before: float = WINDOW_BEFORE
    window_dense: float = WINDOW_DENSE
    window_after: float = WINDOW_AFTER
    tail_samples: int = TAIL_SAMPLES
    hit_offset: float = POINT_HIT_OFFSET
    semantic_floor: float = SURFACE_SEMANTIC_FLOOR

    def __post_init__(self) -> None:
        if self.samples_per_hit < 1:
            raise DnerfError(f"samples_per_hit must be at least 1, got {self.samples_per_hit}")
        if self.level_scale is not None and not 0 < self.level_scale <= 1:
            raise DnerfError(f"level_scale must be in (0, 1], got {self.level_scale}")
        if not 0 <= self.semantic_floor < 1:
            raise DnerfError(f"semantic_floor must be in [0, 1), got {self.semantic_floor}")
        if not -self.window_before <= self.window_dense <= self.window_after or self.tail_samples < 0:
            raise DnerfError("the window needs -window_before <= window_dense <= window_after and tail_samples >= 0")

    @property
    def bake_level(self) -> float:
        """The bake's iso level over the generator's density threshold (level_scale resolved)."""
        if self.level_scale is not None:
            return self.level_scale
        return WINDOW_LEVEL_SCALE if self.samples_per_hit > 1 else POINT_LEVEL_SCALE


@dataclass
class SurfaceBake:
    """A subject's baked surface: geometry (the labeled mesh's marching cubes), the caster built
    over it, what it cost (seconds), and per-labeler caches (e.g. the semantic branch's planes)."""

    geometry: SurfaceGeometry
    caster: MeshCaster
    seconds: float
    cache: dict = field(default_factory=dict)


@dataclass
class SurfaceRender:
    """A surface-path render: `output` as generator.render() gives it (opacity 0/1, depth the hit
    distance), normals [V,3,h,w] world-space unit normals of the hit faces (0 where missed),
    face [V,h,w] int64 hit face ids (-1 where missed)."""

    output: RenderOutput
    normals: Tensor
    face: Tensor


def bake_surface(generator, subject: Subject, config: SurfaceConfig = SurfaceConfig()) -> SurfaceBake:
    """The subject's baked surface, built once and cached on subject.surface (rebuilt only when a
    different mesh resolution or caster is asked for)."""
    if len(subject) != 1:
        raise DnerfError(f"the surface path bakes one subject at a time, got {len(subject)}")
    bake = subject.surface
    if (isinstance(bake, SurfaceBake) and bake.geometry.resolution == config.mesh_resolution
            and bake.geometry.level_scale == config.bake_level and bake.caster.caster == config.caster):
        return bake
    check_caster(config.caster)  # a missing extra fails before the (slow) marching cubes
    start = time.perf_counter()
    # the oracle's exact surface has no thin shell to catch: its bake is the labeled mesh's level
    scale = config.bake_level if hasattr(base_generator(generator), "field") else 1.0
    geometry = extract_surface(base_generator(generator), subject, MeshConfig(resolution=config.mesh_resolution), scale)
    geometry.level_scale = config.bake_level
    caster = MeshCaster(geometry.vertices, geometry.faces, config.caster)
    subject.surface = SurfaceBake(geometry, caster, time.perf_counter() - start)
    return subject.surface


def _step(generator) -> float:
    """The generator's coarse volume sample spacing along a ray."""
    rc = base_generator(generator).rendering
    return (rc.ray_end - rc.ray_start) / max(rc.depth_resolution - 1, 1)


def _window(generator, config: SurfaceConfig, device) -> Tensor:
    """[S] offsets along the ray around the hit (the point's alone for one sample): S - tail
    evenly over [-window_before, window_dense], the tail evenly up to window_after."""
    if config.samples_per_hit == 1:
        return _point(generator, config, device)
    tail = min(config.tail_samples, config.samples_per_hit - 2)
    dense = torch.linspace(-config.window_before, config.window_dense, config.samples_per_hit - tail)
    far = torch.linspace(config.window_dense, config.window_after, tail + 1)[1:]
    return (torch.cat([dense, far]) * _step(generator)).to(device)


def _point(generator, config: SurfaceConfig, device) -> Tensor:
    """[1] the one sample's offset along the ray from the hit."""
    return torch.full((1,), config.hit_offset * _step(generator), device=device)


def _blend(values: Tensor, weights: Tensor) -> Tensor:
    """Per-sample values [P,S,C] and interval weights [P,S-1] (or [P,1] for one sample) -> [P,C]:
    each interval's weight times its end samples' mean, summed, as each sample's coefficient
    (half its two intervals' weights) times its value: one batched [1,S] @ [S,C] product, no
    [P,S-1,C] temporaries (0.35 vs 1.3 ms for 2048 hits x 19 samples x 32 channels)."""
    if values.shape[1] == 1:
        return weights * values[:, 0]
    dtype = torch.promote_types(values.dtype, weights.dtype)
    coef = weights.new_zeros(weights.shape[0], weights.shape[1] + 1, dtype=dtype)
    coef[:, 1:] += weights
    coef[:, :-1] += weights
    return torch.bmm(coef.mul_(0.5)[:, None, :], values.to(dtype))[:, 0]


@dataclass
class _HitShading:
    """What the fields give each hit pixel [P]: features [P,C] (or None: no field), class
    probabilities [P,K] and semantic features [P,F] (or None: no branch), opacity [P], depth [P]."""

    features: Tensor | None
    probs: Tensor | None
    sem_features: Tensor | None
    alpha: Tensor
    depth: Tensor


def _semantic_planes(branch, subject, bake: SurfaceBake) -> Tensor:
    """The branch's projected planes of the subject, cached on the bake."""
    planes = bake.cache.get("semantic_planes")
    if planes is None or bake.cache.get("semantic_branch") is not branch:
        planes = bake.cache["semantic_planes"] = branch.planes(subject)
        bake.cache["semantic_branch"] = branch
    return planes


def _shade_hits(generator, subject, bake: SurfaceBake, o: Tensor, d: Tensor, t: Tensor, offsets: Tensor,
                config: SurfaceConfig) -> _HitShading:
    """_shade_block over all the hits; on a CPU in blocks of about SHADE_BLOCK_POINTS samples
    (NATIVE_SHADE_BLOCK_POINTS where the native field kernel runs; see there), concatenated."""
    step = max(1, (NATIVE_SHADE_BLOCK_POINTS if native_available() else SHADE_BLOCK_POINTS) // len(offsets))
    if t.device.type != "cpu" or len(t) <= step:
        return _shade_block(generator, subject, bake, o, d, t, offsets, config)
    parts = [_shade_block(generator, subject, bake, o[a:a + step], d[a:a + step], t[a:a + step], offsets, config)
             for a in range(0, len(t), step)]
    cat = lambda xs: None if xs[0] is None else torch.cat(xs)  # noqa: E731
    return _HitShading(*(cat([getattr(x, f.name) for x in parts]) for f in fields(_HitShading)))


def _shade_block(generator, subject, bake: SurfaceBake, o: Tensor, d: Tensor, t: Tensor, offsets: Tensor,
                 config: SurfaceConfig) -> _HitShading:
    """Evaluate the fields at depths t + offsets [S] along the rays o, d [P,3] of P hit pixels:
    with a window (config.samples_per_hit > 1), blended over the segment with the generator's own
    density (opacity = the segment's); else the one point, opaque, depth = that point's."""
    base = base_generator(generator)
    rc = base.rendering
    depths = (t[:, None] + offsets[None]).clamp(rc.ray_start, rc.ray_end)  # [P,S]
    seg = o[:, None] + depths[..., None] * d[:, None]  # [P,S,3]
    p, s = depths.shape
    feats = None
    if hasattr(base, "field"):  # one decoder pass gives the density (weights) and the features
        field = base.field_summed(subject) if hasattr(base, "field_summed") else base.field(subject)
        flat = seg.reshape(1, -1, 3)
        sigma, feats = field(flat, flat)  # no decoder here reads view directions
        sigma, feats = sigma[0].reshape(p, s, 1), feats[0].reshape(p, s, -1)
    if config.samples_per_hit > 1 and s > 1:
        w, mid = compute_weights(sigma[None], depths[None, ..., None])
        weights, mid = w[0, ..., 0], mid[0, ..., 0]  # [P,S-1]
        alpha = weights.sum(dim=1)
        hit_depth = (weights * mid).sum(dim=1) / alpha.clamp_min(1e-6)
        hit_depth = torch.where(alpha > 1e-6, hit_depth, t)
    else:  # the point itself, opaque
        weights, alpha, hit_depth = torch.ones(p, 1, device=t.device), torch.ones(p, device=t.device), depths[:, 0]
    probs = sem = None
    branch = getattr(generator, "branch", None)
    if branch is not None:
        probs, sem = _shade_semantics(generator, subject, bake, seg, weights, alpha, config.semantic_floor)
    return _HitShading(None if feats is None else _blend(feats, weights), probs, sem, alpha, hit_depth)


def _shade_semantics(generator, subject, bake: SurfaceBake, seg: Tensor, weights: Tensor,
                     alpha: Tensor, floor: float) -> tuple[Tensor, Tensor]:
    """The branch's class probabilities [P,K] and semantic features [P,F] of P hit pixels, blended
    over their samples seg [P,S,3] with interval weights [P,S-1] ([P,1]: one opaque point each)
    of opacity alpha [P]. As on the fast volume path (semantic/render.semantic_composite_fast),
    the semantic field is evaluated only at samples whose share of the blend is at least floor,
    the skipped shares spread over the kept samples of their pixel."""
    branch = generator.branch
    k, (p, s) = branch.config.num_classes, seg.shape[:2]
    shares = sample_coefficients(weights) if s > 1 else weights  # [P,S] each sample's share
    keep, coef, covered = kept_shares(shares[None], torch.ones_like(shares[None], dtype=torch.bool), alpha[None],
                                      floor)
    sel = Selection.of(keep)
    # an articulated subject's branch reads its canonical planes where the generator does
    field = branch.field(_semantic_planes(branch, subject, bake), plane_frame(generator, subject), fast=True)
    if not len(sel):  # nothing visible: all background; one point gives the feature count
        sf = field(seg[None, :1, 0])[0][0]
        return torch.nn.functional.one_hot(torch.full((p,), BACKGROUND_ID, device=seg.device), k).to(seg.dtype), \
            sf.new_zeros(p, sf.shape[-1])
    probs, feats = composite_kept(field(seg[keep[0]][None])[0][0], sel, coef, covered, k, BACKGROUND_ID)
    return probs[0], feats[0]


@torch.no_grad()
def render_surface(generator, subject: Subject, cameras: Cameras, resolution: int | None = None,
                   config: SurfaceConfig = SurfaceConfig(), *, superres: bool = True) -> SurfaceRender:
    """Render len(cameras) views of the one-subject `subject` through its baked surface.

    superres=False skips both super-resolutions (the generator's RGB one, the branch's semantic
    one): rgb is the raw RGB, labels and semantic are the composited class probabilities' (what
    the volume path gives before its super-resolution; an EG3D-size one spends ~3.7 s a view in it)."""
    bake = bake_surface(generator, subject, config)
    base = base_generator(generator)
    rc = base.rendering
    res = resolution or rc.neural_resolution
    n = len(cameras)
    device = subject.planes.device if subject.planes is not None else torch.device("cpu")
    rays = ray_bundle(cameras.to(device, torch.float32), res)
    origins, dirs = rays.origins.reshape(-1, 3), rays.directions.reshape(-1, 3)
    hits: RayHits = bake.caster.cast(origins, dirs)
    # a hit outside the volume path's ray range is one the volume path cannot see either
    hit = hits.hit & (hits.distance >= rc.ray_start) & (hits.distance <= rc.ray_end)
    idx = torch.nonzero(hit)[:, 0]
    t = hits.distance[idx]
    o, d = origins[idx], dirs[idx]
    hit_points = o + t[:, None] * d
    has_field = hasattr(base, "field")
    r = len(origins)
    if not has_field:  # the oracle: its exact surface, shaded at the hit point
        shading = _HitShading(None, None, None, torch.ones(len(idx), device=device), t)
    else:
        shading = _shade_hits(generator, subject, bake, o, d, t, _window(generator, config, device), config)

    features = _shade_features(base, subject, shading, hit_points, r, idx, rc.white_back, device)
    depth = torch.full((r, 1), float(rc.ray_end), device=device)
    depth[idx, 0] = shading.depth
    opacity = torch.zeros(r, 1, device=device)
    opacity[idx, 0] = shading.alpha

    def img(x: Tensor) -> Tensor:
        return x.reshape(n, res, res, -1).permute(0, 3, 1, 2).contiguous()

    feature_image = img(features)
    rgb_raw = feature_image[:, :3]
    rgb = base.super_resolve(subject, feature_image) if superres and hasattr(base, "super_resolve") else rgb_raw
    labels, semantic = _labels(generator, subject, bake, shading, hit_points, idx, r, n, res, device, superres)
    out = RenderOutput(rgb=rgb, rgb_raw=rgb_raw, depth=img(depth), opacity=img(opacity),
                       features=feature_image if has_field else None, labels=labels, semantic=semantic)
    normals = torch.zeros(r, 3, device=device)
    normals[idx] = hits.normal[idx]
    face = torch.where(hit, hits.face, torch.full_like(hits.face, -1))
    return SurfaceRender(out, img(normals), face.reshape(n, res, res))


def _shade_features(base, subject, shading: _HitShading, hit_points: Tensor, r: int, idx: Tensor,
                    white_back: bool, device) -> Tensor:
    """[R,C] per-pixel features (RGB first): the decoder's at / around the hit (over white for the
    unoccupied share when the generator renders on white), background elsewhere (the volume
    path's empty ray: 1 with a white background, else 0)."""
    if shading.features is not None:
        per_hit = shading.features
        if white_back:
            per_hit = per_hit + (1 - shading.alpha)[:, None]
    elif hasattr(base, "colors_at"):
        per_hit = base.colors_at(subject, hit_points[None])[0]
    else:
        raise DnerfError(f"{getattr(base, 'name', base)} has neither a field nor colors: no surface path")
    out = torch.full((r, per_hit.shape[-1]), 1.0 if white_back else 0.0, device=device, dtype=per_hit.dtype)
    out[idx] = per_hit
    return out


def _receptive_radius(superres) -> int | None:
    """Pixels of input on each side that one output pixel of the semantic super-resolution reads
    (its convolutions' half kernels added up), or None when it upsamples (no crop then)."""
    if superres.scale != 1:
        return None
    return sum((m.kernel_size[0] - 1) // 2 for m in superres.modules() if isinstance(m, torch.nn.Conv2d))


def _superres_cropped(branch, bake: SurfaceBake, log_p: Tensor, feats: Tensor, hit: Tensor) -> Tensor:
    """branch.superres(log_p, feats) [V,K,h,w], the same numbers computed only over the hit
    pixels' bounding box: a pixel farther than the network's receptive radius from every hit
    pixel reads nothing but empty rays (a constant input), so its output is that of an all-empty
    image (computed once per resolution and cached on the bake; it still differs near the
    image border, where the convolutions pad with zeros). A crop's own border is padded with
    zeros too, so the crop reaches a radius further and only its inner part is kept."""
    rad = _receptive_radius(branch.superres)
    if rad is None or not hit.any():
        return branch.superres(log_p, feats)
    n, _, h, w = log_p.shape
    key = ("superres_background", h, w)
    if bake.cache.get("superres_branch") is not branch:
        bake.cache = {k: v for k, v in bake.cache.items() if not (isinstance(k, tuple) and k[0] == key[0])}
        bake.cache["superres_branch"] = branch
    empty = bake.cache.get(key)
    if empty is None:  # the empty ray's inputs everywhere (a missed pixel's, from _labels), in
        # the layout _labels hands over (channels-last): the convolutions round alike
        cl = torch.channels_last
        empty = bake.cache[key] = branch.superres(
            _empty_log_probs(log_p).expand(1, -1, h, w).contiguous(memory_format=cl),
            feats.new_zeros(1, feats.shape[1], h, w).contiguous(memory_format=cl))
    rows, cols = hit.any(dim=(0, 2)).nonzero()[:, 0], hit.any(dim=(0, 1)).nonzero()[:, 0]
    y0, y1 = max(int(rows[0]) - 2 * rad, 0), min(int(rows[-1]) + 1 + 2 * rad, h)
    x0, x1 = max(int(cols[0]) - 2 * rad, 0), min(int(cols[-1]) + 1 + 2 * rad, w)
    crop = branch.superres(log_p[..., y0:y1, x0:x1], feats[..., y0:y1, x0:x1])
    # keep the crop's inner part (its border rows read the crop's zero padding), except where
    # the crop's border is the image's own
    iy0, iy1 = (y0 + rad if y0 > 0 else 0), (y1 - rad if y1 < h else h)
    ix0, ix1 = (x0 + rad if x0 > 0 else 0), (x1 - rad if x1 < w else w)
    out = empty.expand(n, -1, -1, -1).clone()
    out[..., iy0:iy1, ix0:ix1] = crop[..., iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
    return out


def _empty_log_probs(log_p: Tensor) -> Tensor:
    """[1,K,1,1] the log probabilities of an empty ray (all background)."""
    probs = torch.zeros(1, log_p.shape[1], 1, 1, dtype=log_p.dtype, device=log_p.device)
    probs[:, BACKGROUND_ID] = 1
    return log_probs(probs)


def _labels(generator, subject, bake: SurfaceBake, shading: _HitShading, hit_points, idx, r, n, res, device,
            superres: bool = True):
    """(labels [V,H,W] int64 or None, class probabilities [V,K,H,W] or None); superres=False: the
    composited probabilities' own, without the branch's super-resolution."""
    branch = getattr(generator, "branch", None)
    if branch is not None:
        k = branch.config.num_classes
        probs = torch.zeros(r, k, device=device)
        probs[:, BACKGROUND_ID] = 1  # a missed ray is all background, as the volume path's empty ray
        probs[idx] = shading.probs
        sem_feats = torch.zeros(r, shading.sem_features.shape[-1], device=device)
        sem_feats[idx] = shading.sem_features
        # [V,C,H,W] views of the per-pixel rows: channels-last, no copy; the super-resolution's
        # convolutions run faster on that layout (8 views' crop: 37-46 vs 55-63 ms), same numbers
        img = lambda x: x.reshape(n, res, res, -1).permute(0, 3, 1, 2)  # noqa: E731
        if not superres:
            probs = img(probs).contiguous()
            return class_labels(probs), probs
        logits = _superres_cropped(branch, bake, log_probs(img(probs)), img(sem_feats),
                                   torch.zeros(r, dtype=torch.bool, device=device).index_fill_(0, idx, True)
                                   .reshape(n, res, res))
        return class_labels(logits), torch.softmax(logits, dim=1).contiguous()
    if getattr(generator, "label_set", None) is None:
        return None, None
    labels = torch.full((r,), BACKGROUND_ID, dtype=torch.int64, device=device)
    if len(idx):
        opaque = shading.alpha >= SURFACE_OPACITY  # what the volume path's opacity mask would call surface
        labels[idx[opaque]] = generator.labels_at(subject, hit_points[opaque][None])[0].long()
    return labels.reshape(n, res, res), None
