"""What a fit compares: per-pixel terms on one view, each over its own set of pixels, evaluated on
random ray subsets rendered with gradients.

- "rgb": squared error of the volume-rendered RGB at the neural resolution;
- "labels": cross-entropy of the semantic branch's final logits at the output resolution. The
  semantic super-resolution is a small conv net, so its logits at a pixel depend only on a few
  rendered neighbors: the term renders random square patches of rays, runs the super-resolution on
  each patch and scores the patch's interior, where the logits equal the full image's exactly.

The march is differentiable in the latent (through the tri-plane) and in the camera (through the
rays); semantic terms composite the branch with the generator's own weights (density prior), so a
label loss moves geometry as well as the semantic field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from ..cameras import Cameras, ray_bundle
from ..render.config import RenderingConfig
from ..render.raymarch import march
from ..semantic.branch import plane_frame
from ..semantic.render import log_probs, semantic_composite

NO_TARGET = -1  # dense label target outside the term's pixels (skipped by the cross-entropy)
PATCH_INTERIOR = 8  # scored neural pixels per side of a label patch (plus the margin on each side)


@dataclass(frozen=True)
class PixelTerm:
    """One loss term of a view.

    kind: "rgb" (target [P,3] in [0,1] at the neural resolution), "labels" (target ids [P] at
    the output resolution) or "labels_raw" (target ids [P] at the neural resolution, scored on the
    composited class probabilities before super-resolution: the cheap proxy of pose searches); pixels: [P] row-major indices the term covers (the target rows match);
    weight: its factor in the total; draw: optional [P] relative chances of the pixels to be
    drawn into a step's subset (rgb) or to center a patch (labels); None: uniform;
    share: the fraction of a step's ray budget this term renders (a side term can be cheaper);
    settled: "labels" only: a pixel whose target label already has at least this probability adds
    nothing to the cross-entropy (settled_cross_entropy); None: every pixel pulls.
    """

    kind: str
    pixels: Tensor
    target: Tensor
    weight: float = 1.0
    draw: Tensor | None = None
    share: float = 1.0
    settled: float | None = None


@dataclass(frozen=True)
class ViewObjective:
    """Terms of one view: RGB at `resolution` (the neural resolution), labels at
    `resolution * scale` (the output resolution of the semantic super-resolution)."""

    resolution: int
    terms: tuple[PixelTerm, ...]
    scale: int = 1


def fitting_rendering(rendering: RenderingConfig, samples: tuple[int, int], resolution: int) -> RenderingConfig:
    return replace(rendering, depth_resolution=samples[0], depth_resolution_importance=samples[1],
                   neural_resolution=resolution)


def draw_pixels(term: PixelTerm, n: int, gen: torch.Generator | None) -> Tensor:
    """Row indices into term.pixels: n random ones (all of them when there are fewer or gen is None)."""
    if gen is None or len(term.pixels) <= n:
        return torch.arange(len(term.pixels))
    if term.draw is None:
        return torch.randperm(len(term.pixels), generator=gen)[:n]
    return torch.multinomial(term.draw, n, replacement=False, generator=gen)


def term_rays(term: PixelTerm, rays_per_term: int) -> int:
    """Rays the term renders per step: its share of the budget, at least one."""
    return max(1, round(rays_per_term * term.share))


def sr_margin(branch) -> int:
    """Neural pixels at a patch's border whose super-resolved logits see the patch's edge."""
    return 2 + len(branch.superres.ups)


def patch_corners(centers: Tensor, patch: int, res: int) -> Tensor:
    """[N,2] (row, col) top-left corners of patch x patch windows around centers, inside the image."""
    return (centers - patch // 2).clamp(0, res - patch)


def _march_pixels(generator, subject, rays, index: Tensor, rendering, gen):
    """(origins, directions, march) of the view's rays at pixel indices [R], on the subject's device
    (the pose and the pixel bookkeeping stay on the CPU; autograd carries the pose's gradient back)."""
    device = subject.planes.device
    o, d = rays.origins[:, index].to(device), rays.directions[:, index].to(device)
    return o, d, march(generator.field(subject), o, d, rendering, generator=gen)


def _rgb_loss(generator, subject, rays, term: PixelTerm, rendering, n_rays, gen) -> Tensor:
    rows = draw_pixels(term, n_rays, gen)
    _, _, marched = _march_pixels(generator, subject, rays, term.pixels[rows], rendering, gen)
    return F.mse_loss(marched.features[0, :, :3], term.target[rows].to(marched.features.device))


def _raw_label_loss(generator, branch, subject, rays, term: PixelTerm, rendering, n_rays, gen, field) -> Tensor:
    rows = draw_pixels(term, n_rays, gen)
    o, d, marched = _march_pixels(generator, subject, rays, term.pixels[rows], rendering, gen)
    probs, _ = semantic_composite(field, marched, o, d, branch.config.num_classes)
    return F.nll_loss(log_probs(probs[0]), term.target[rows].to(probs.device))


def patch_logits(generator, branch, subject, rays, corners: Tensor, patch: int, res: int, rendering,
                 gen: torch.Generator | None, field=None) -> Tensor:
    """[N,K,patch*s,patch*s] super-resolved class logits of patch x patch windows of the view
    (corners [N,2] top-left neural pixels); away from a patch's edge (sr_margin) they equal the
    whole view's logits there. field: the branch's field of this subject, when already built."""
    offs = torch.arange(patch)
    rr = corners[:, 0, None, None] + offs[None, :, None]
    cc = corners[:, 1, None, None] + offs[None, None, :]
    o, d, marched = _march_pixels(generator, subject, rays, (rr * res + cc).reshape(-1), rendering, gen)
    field = branch.field(branch.planes(subject), plane_frame(generator, subject)) if field is None else field
    probs, feats = semantic_composite(field, marched, o, d, branch.config.num_classes)
    img = lambda x: x[0].reshape(len(corners), patch, patch, -1).permute(0, 3, 1, 2)  # noqa: E731
    return branch.superres(log_probs(img(probs)), img(feats))


def _label_loss(generator, branch, subject, rays, objective: ViewObjective, term: PixelTerm, rendering,
                n_rays: int, gen, field) -> Tensor:
    res, scale = objective.resolution, objective.scale
    margin = sr_margin(branch)
    # a budget of the whole view renders it as one patch (the slow twin of the patch path)
    patch = res if n_rays >= res * res else min(res, 2 * margin + PATCH_INTERIOR)
    n_patches = max(1, n_rays // (patch * patch))
    out_res = res * scale
    dense = torch.full((out_res * out_res,), NO_TARGET, dtype=torch.long)
    dense[term.pixels] = term.target
    dense = dense.reshape(out_res, out_res)
    if gen is None:  # deterministic: tile the whole image
        starts = torch.arange(0, res, patch).clamp_max(res - patch)
        corners = torch.cartesian_prod(starts, starts)
    else:
        centers = term.pixels[draw_pixels(term, n_patches, gen)]
        rc = torch.stack([centers // out_res, centers % out_res], -1) // scale
        corners = patch_corners(rc, patch, res)
    logits = patch_logits(generator, branch, subject, rays, corners, patch, res, rendering, gen, field)
    targets = torch.stack([dense[r * scale:(r + patch) * scale, c * scale:(c + patch) * scale]
                           for r, c in corners.tolist()])
    valid = torch.ones_like(targets, dtype=torch.bool)
    cut = margin * scale
    for i, (r, c) in enumerate(corners.tolist()):  # a patch side on the image border sees the same zero padding
        if r > 0:
            valid[i, :cut] = False
        if r + patch < res:
            valid[i, -cut:] = False
        if c > 0:
            valid[i, :, :cut] = False
        if c + patch < res:
            valid[i, :, -cut:] = False
    targets = torch.where(valid, targets, torch.full_like(targets, NO_TARGET)).to(logits.device)
    if not (targets != NO_TARGET).any():
        return logits.sum() * 0.0
    return settled_cross_entropy(logits, targets, term.settled)


def settled_cross_entropy(logits: Tensor, targets: Tensor, settled: float | None) -> Tensor:
    """Cross-entropy of logits [N,K,...] vs targets [N,...] (NO_TARGET skipped), averaged over the
    scored pixels; with `settled`, pixels whose target probability is at least `settled` count as
    zero. Plain cross-entropy never stops pushing a label that is already right; an edit's pixels
    that are already right then keep moving the subject and cost the RGB outside the region."""
    if settled is None:
        return F.cross_entropy(logits, targets, ignore_index=NO_TARGET)
    per_pixel = F.cross_entropy(logits, targets, ignore_index=NO_TARGET, reduction="none")
    scored = targets != NO_TARGET
    pulling = scored & (per_pixel.detach() > -math.log(settled))
    return (per_pixel * pulling).sum() / scored.sum().clamp_min(1)


def objective_loss(generator, branch, subject, cameras: Cameras, objective: ViewObjective, rendering: RenderingConfig,
                   rays_per_term: int, gen: torch.Generator | None) -> Tensor:
    """Scalar loss of one view (cameras of length 1): random pixels / patches of every term (the
    whole view, deterministic samples, when gen is None)."""
    rays = ray_bundle(cameras, objective.resolution)
    # the branch's planes of this subject, built once for every label term of the step
    field = None
    if any(t.kind != "rgb" for t in objective.terms):
        field = branch.field(branch.planes(subject), plane_frame(generator, subject))
    total = 0.0
    for term in objective.terms:
        if not len(term.pixels):  # e.g. an edit whose mask is "don't care" everywhere outside the region
            continue
        n_rays = term_rays(term, rays_per_term)
        if term.kind == "rgb":
            value = _rgb_loss(generator, subject, rays, term, rendering, n_rays, gen)
        elif term.kind == "labels_raw":
            value = _raw_label_loss(generator, branch, subject, rays, term, rendering, n_rays, gen, field)
        else:
            value = _label_loss(generator, branch, subject, rays, objective, term, rendering, n_rays, gen, field)
        total = total + term.weight * value
    return total
