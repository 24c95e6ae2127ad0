"""How well can ANY per-point labeler do from what a surface shows locally, across subjects?

A semantic branch labels each 3D point from what the frozen generator gives it there. This
measures the best such a labeler can do without rendering losses in the way: the surface points
of annotated views (the kit's 30 subjects x frontal + two side views) are labeled with the
oracle's exact 3D parts (image truth, as `annotate-kit --oracle` draws them), a small MLP is
trained on local attributes of each point, and it is scored on the surface points of views of
held-out subjects. Attribute letters:

  p  where the point is (positional encoding, 6 octaves: the category's canonical frame)
  n  the unit surface normal (the field's density gradient; the oracle's exact SDF gradient)
  c  the color the surface has there (the field's decoded RGB; the oracle's shaded albedo)
  f  the generator's raw tri-plane features at the point (3 x C; generator surfaces only)

Surfaces come from the oracle itself (exact geometry and color: what a perfect generator would
show), from a learned generator, or from free planes fitted to each subject (eval.plane_fit: the
best this representation holds per subject). Comparing them says whether the labels are limited
by the branch or by what the generator shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dnerf_core import Cameras, ray_bundle
from dnerf_core.lab import (BACKGROUND_ID, class_weights, confusion_matrix, encode_positions, march_chunked,
                            position_features, sample_planes, segmentation_scores, SURFACE_OPACITY)

ATTRIBUTES = "pncf"
MARCH_CHUNK_RAYS = 1024


@dataclass
class SurfaceSamples:
    """The opaque pixels of some views as 3D points: points / normals / colors [P,3], raw plane
    features [P,D] or None, labels [P] (oracle parts, never background) and n_background (the
    views' transparent pixels, labeled background in image truth)."""

    points: Tensor
    normals: Tensor
    colors: Tensor
    features: Tensor | None
    labels: Tensor
    n_background: int


def _surface_points(cameras: Cameras, depth: Tensor, opacity: Tensor) -> tuple[Tensor, Tensor]:
    """depth / opacity [V,1,H,H] -> (points [P,3] of the opaque pixels, opaque mask [V,H*H])."""
    n, _, h, _ = depth.shape
    rays = ray_bundle(cameras.to(dtype=torch.float32), h)
    points = rays.origins + depth.reshape(n, h * h, 1).float() * rays.directions
    opaque = opacity.reshape(n, h * h) >= SURFACE_OPACITY
    return points[opaque], opaque


def oracle_surface(oracle, seed: int, cameras: Cameras) -> SurfaceSamples:
    """The oracle's own surface of `seed` in `cameras` with its exact normals and shaded colors."""
    out = oracle.render(oracle.sample([seed] * len(cameras)), cameras)
    points, opaque = _surface_points(cameras, out.depth, out.opacity)
    world = oracle.sample([seed]).params[0]
    return SurfaceSamples(points, world.normals(points), world.shaded_color(points), None, world.labels(points),
                          int((~opaque).sum()))


def field_surface(field: Callable, rendering, oracle, seed: int, cameras: Cameras,
                  planes: Tensor | None = None) -> SurfaceSamples:
    """The surface a tri-plane field (points [1,P,3], directions) -> (raw sigma, features) renders
    of `seed`, labeled with the oracle's parts there; planes [1,3,C,R,R]: also read raw features."""
    res = rendering.neural_resolution
    rays = ray_bundle(cameras.to(dtype=torch.float32), res)
    o, d = rays.origins.reshape(1, -1, 3), rays.directions.reshape(1, -1, 3)
    with torch.no_grad():
        marched = march_chunked(field, o, d, rendering, MARCH_CHUNK_RAYS)
    shape = (len(cameras), res, res, 1)
    depth = marched.depth.reshape(shape).permute(0, 3, 1, 2)
    opacity = marched.opacity.reshape(shape).permute(0, 3, 1, 2)
    points, opaque = _surface_points(cameras, depth, opacity)
    # the kits' image masks: the oracle's part at each opaque pixel's surface point
    labels = oracle.labels_at(oracle.sample([seed]), points[None])[0]
    p = points[None].clone().requires_grad_(True)
    with torch.enable_grad():
        sigma, feats = field(p, p)
        grad, = torch.autograd.grad(sigma.sum(), p)
    normals = -grad[0] / grad[0].norm(dim=-1, keepdim=True).clamp_min(1e-12)  # density rises inward
    raw = None
    if planes is not None:
        raw = sample_planes(planes, points[None], rendering.box_warp)[0].permute(1, 0, 2).flatten(1)  # [P,3C]
    return SurfaceSamples(points, normals, feats[0, :, :3].detach(), raw, labels, int((~opaque).sum()))


@dataclass(frozen=True)
class LocalClassifierConfig:
    """The per-point MLP: hidden width and layers, Adam steps / lr over batches of points,
    class_balance P (semantic.train.class_weights, as train-semantic's), octaves of the encoding."""

    hidden: int = 128
    layers: int = 2
    steps: int = 1500
    batch: int = 4096
    lr: float = 3e-3
    class_balance: float = 0.5
    position_frequencies: int = 6
    seed: int = 0


def check_attributes(attributes: str) -> str:
    if not attributes or any(a not in ATTRIBUTES for a in attributes) or len(set(attributes)) != len(attributes):
        raise ValueError(f"attributes must be distinct letters of {ATTRIBUTES!r}, got {attributes!r}")
    return attributes


def attribute_matrix(samples: SurfaceSamples, attributes: str, half_size: float, frequencies: int) -> Tensor:
    """[P,A] the chosen local attributes of every surface point."""
    cols = []
    for a in check_attributes(attributes):
        if a == "p":
            cols.append(encode_positions(samples.points, half_size, frequencies))
        elif a == "n":
            cols.append(samples.normals)
        elif a == "c":
            cols.append(samples.colors)
        else:
            if samples.features is None:
                raise ValueError("attribute 'f' needs a generator surface (raw tri-plane features)")
            cols.append(samples.features)
    return torch.cat(cols, dim=-1).float()


def attribute_width(attributes: str, feature_width: int, frequencies: int) -> int:
    widths = {"p": position_features(frequencies), "n": 3, "c": 3, "f": feature_width}
    return sum(widths[a] for a in check_attributes(attributes))


class LocalClassifier(nn.Module):
    """Standardized attributes -> MLP -> class logits."""

    def __init__(self, width: int, num_classes: int, config: LocalClassifierConfig):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))
        layers, w = [], width
        for _ in range(config.layers):
            layers += [nn.Linear(w, config.hidden), nn.Softplus()]
            w = config.hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(w, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp((x - self.mean) / self.std)


def train_local_classifier(x: Tensor, y: Tensor, num_classes: int, config: LocalClassifierConfig) -> LocalClassifier:
    """x [P,A] attributes, y [P] labels -> a trained classifier."""
    if len(x) == 0:
        raise ValueError("no surface points to train on")
    torch.manual_seed(config.seed)
    net = LocalClassifier(x.shape[1], num_classes, config)
    net.mean.copy_(x.mean(0))
    net.std.copy_(x.std(0).clamp_min(1e-6))
    weight = class_weights(y, num_classes, config.class_balance)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    order = torch.Generator().manual_seed(config.seed)
    for _ in range(config.steps):
        idx = torch.randint(len(x), (config.batch,), generator=order)
        loss = F.cross_entropy(net(x[idx]), y[idx], weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@dataclass
class LocalBound:
    """Scores of the local classifier on the held-out surfaces: parts_miou over the part classes
    (surface pixels), image_miou with the views' background pixels counted as labeled exactly
    (comparable to a branch's image-truth mIoU: a labeler with this surface's silhouette gets
    background right by construction), per-class IoU (NaN: absent), and train_parts_miou on the
    training surfaces (how well the attributes separate the parts at all)."""

    parts_miou: float
    image_miou: float
    per_class_iou: list[float]
    train_parts_miou: float


def _scores(pred: Tensor, truth: Tensor, n_background: int, num_classes: int):
    conf = confusion_matrix(pred, truth, num_classes)
    conf[BACKGROUND_ID, BACKGROUND_ID] += n_background
    return segmentation_scores(conf), segmentation_scores(conf, include_background=False)


@torch.no_grad()
def local_label_bound(train: list[SurfaceSamples], test: list[SurfaceSamples], attributes: str, num_classes: int,
                      half_size: float, config: LocalClassifierConfig = LocalClassifierConfig()) -> LocalBound:
    """Train on `train`'s surface points, score on `test`'s."""
    def stack(samples):
        x = torch.cat([attribute_matrix(s, attributes, half_size, config.position_frequencies) for s in samples])
        return x, torch.cat([s.labels for s in samples]), sum(s.n_background for s in samples)

    x, y, _ = stack(train)
    with torch.enable_grad():
        net = train_local_classifier(x, y, num_classes, config)
    train_parts = _scores(net(x).argmax(-1), y, 0, num_classes)[1]
    xt, yt, bg = stack(test)
    full, parts = _scores(net(xt).argmax(-1), yt, bg, num_classes)
    return LocalBound(parts.miou, full.miou, full.iou.tolist(), train_parts.miou)
