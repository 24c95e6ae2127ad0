"""Transfer-learning baseline (the paper's Tab. 1 "transfer" row): a 2D segmentation network
pretrained where labels are plentiful, then fine-tuned on the same annotated views as the
semantic branch and applied to each generated RGB view on its own.

The paper's row starts from an ImageNet-pretrained segmenter. No pretrained weights can be
downloaded here, so the "elsewhere" is the other procedural world: the network learns to segment
a few hundred exactly labeled oracle renders of that world (for the face, cars; for the car,
faces), then its classifier is replaced by one for the target label set and every layer is
fine-tuned on the annotated views of the generator. Like the DatasetGAN-style baseline it sees
pixels only (here just the RGB, no generator features) and has no 3D field to query.

Network: a small U-Net (two poolings, 3x3 convolutions, bilinear upsampling, skip connections),
fully convolutional, so it runs at any view size divisible by 4.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dnerf_core import Cameras, IGNORE_ID, LabelSet
from dnerf_core.lab import (AnnotationError, LabelingWrapper, load_tagged, random_orbit_cameras, RenderOutput,
                            resize_masks, save_tagged, Subject, views_by_seed)

from .downstream.train import random_hflip

FORMAT = "dnerf-transfer-segmenter"
VERSION = 1
# The other world of each default category: where the network is pretrained.
SOURCE_WORLD = {"car": "face", "face": "car"}
# Source subjects are drawn from the training seed range, well away from the kits' first seeds.
SOURCE_SEED_START = 500_000
DOWNSAMPLING = 4  # two 2x poolings


@dataclass(frozen=True)
class TransferConfig:
    """widths: channels of the U-Net's three levels; source_images: oracle renders of the source
    world (one random orbit pose per subject) at source_resolution (None: the oracle's neural
    resolution); pretrain_steps / finetune_steps: Adam steps on
    batches of `batch` views; lr / finetune_lr: their learning rates; flip: random horizontal
    flips of training views (the label sets have no left/right parts); seed: initialization,
    source subjects and batch order."""

    widths: tuple[int, int, int] = (16, 32, 64)
    source_images: int = 720
    source_resolution: int | None = None
    pretrain_steps: int = 1200
    finetune_steps: int = 300
    batch: int = 16
    lr: float = 2e-3
    finetune_lr: float = 1e-3
    flip: bool = True
    seed: int = 0


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())


class Segmenter(nn.Module):
    """U-Net: [B,3,H,W] RGB in [0,1] -> [B,K,H,W] logits (H, W divisible by 4)."""

    def __init__(self, num_classes: int, widths: tuple[int, int, int]):
        super().__init__()
        c0, c1, c2 = widths
        # RGB standardization, set from the pretraining images and kept through fine-tuning
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("std", torch.ones(3))
        self.enc0, self.enc1, self.mid = _block(3, c0), _block(c0, c1), _block(c1, c2)
        self.dec1, self.dec0 = _block(c2 + c1, c1), _block(c1 + c0, c0)
        self.head = nn.Conv2d(c0, num_classes, 1)

    @property
    def num_classes(self) -> int:
        return self.head.out_channels

    def forward(self, rgb: Tensor) -> Tensor:
        if rgb.shape[-1] % DOWNSAMPLING or rgb.shape[-2] % DOWNSAMPLING:
            raise AnnotationError(f"the segmenter needs views whose size divides by {DOWNSAMPLING}, got "
                                  f"{tuple(rgb.shape[-2:])}")
        x = (rgb - self.mean[:, None, None]) / self.std[:, None, None]
        e0 = self.enc0(x)                                  # [B,c0,H,W]
        e1 = self.enc1(F.max_pool2d(e0, 2))                # [B,c1,H/2,W/2]
        m = self.mid(F.max_pool2d(e1, 2))                  # [B,c2,H/4,W/4]
        up = F.interpolate(m, scale_factor=2, mode="bilinear", align_corners=False)
        d1 = self.dec1(torch.cat([up, e1], 1))             # [B,c1,H/2,W/2]
        up = F.interpolate(d1, scale_factor=2, mode="bilinear", align_corners=False)
        return self.head(self.dec0(torch.cat([up, e0], 1)))

    def new_head(self, num_classes: int) -> None:
        """Replace the classifier for another label set; the trunk keeps what it learned."""
        self.head = nn.Conv2d(self.head.in_channels, num_classes, 1)


@dataclass(frozen=True)
class LabeledViews:
    """rgb [N,3,H,W] in [0,1]; labels [N,H,W] int64 (IGNORE_ID = not annotated)."""

    rgb: Tensor
    labels: Tensor


@torch.no_grad()
def source_views(category: str, n: int, seed: int = 0, resolution: int | None = None) -> LabeledViews:
    """n oracle renders of the procedural `category` (one subject each, random orbit pose) with
    their exact labels."""
    from dnerf_core.lab import ProceduralGenerator

    oracle = ProceduralGenerator(category)
    seeds = list(range(SOURCE_SEED_START + seed * n, SOURCE_SEED_START + (seed + 1) * n))
    cams = random_orbit_cameras(n, oracle.orbit, torch.Generator().manual_seed(SOURCE_SEED_START + seed))
    res = resolution or oracle.rendering.neural_resolution
    rgb, labels = [], []
    for idx in torch.arange(n).split(32):
        out = oracle.render(oracle.sample([seeds[i] for i in idx.tolist()]), cams[idx.tolist()], res)
        rgb.append(out.rgb.float())
        labels.append(out.labels)
    return LabeledViews(torch.cat(rgb), torch.cat(labels))


@torch.no_grad()
def annotated_views(generator, seeds: list[int], cameras: Cameras, masks: Tensor) -> LabeledViews:
    """The generator's RGB at the annotated views, masks resized to the render size; each subject
    is sampled once and its views rendered together."""
    groups = views_by_seed(seeds)
    order = [i for idx in groups.values() for i in idx]
    rgb = torch.cat([generator.render(generator.sample([s]), cameras[idx]).rgb.float() for s, idx in groups.items()])
    labels = resize_masks(masks[order], tuple(rgb.shape[-2:]))
    return LabeledViews(rgb, labels)


def fit_segmenter(net: Segmenter, views: LabeledViews, steps: int, lr: float, cfg: TransferConfig,
                  order: torch.Generator, progress: Callable[[int, float], None] | None = None) -> Segmenter:
    """Adam on cross-entropy over every labeled pixel (IGNORE_ID skipped) of random batches."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for step in range(steps):
        pick = torch.randint(len(views.rgb), (min(cfg.batch, len(views.rgb)),), generator=order)
        rgb, lab = views.rgb[pick], views.labels[pick]
        if cfg.flip:
            rgb, lab = random_hflip(rgb, lab, order)
        loss = F.cross_entropy(net(rgb), lab, ignore_index=IGNORE_ID)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step + 1, loss.item())
    return net.eval()


def _check_views(views: LabeledViews, num_classes: int, what: str) -> None:
    keep = views.labels != IGNORE_ID
    if not keep.any():
        raise AnnotationError(f"no annotated pixels in the {what} (every mask pixel is {IGNORE_ID} = ignore)")
    top = int(views.labels[keep].max())
    if top >= num_classes:
        raise AnnotationError(f"{what}: mask label {top} is not in the label set of {num_classes} labels")


def pretrain_segmenter(source: LabeledViews, num_classes: int, cfg: TransferConfig = TransferConfig(),
                       progress: Callable[[int, float], None] | None = None) -> Segmenter:
    """A segmenter trained from scratch on the source views (num_classes: the source label set's)."""
    _check_views(source, num_classes, "source views")
    torch.manual_seed(cfg.seed)
    net = Segmenter(num_classes, cfg.widths)
    net.mean.copy_(source.rgb.mean((0, 2, 3)))
    net.std.copy_(source.rgb.std((0, 2, 3)).clamp_min(1e-3))
    return fit_segmenter(net, source, cfg.pretrain_steps, cfg.lr, cfg, torch.Generator().manual_seed(cfg.seed), progress)


def finetune_segmenter(net: Segmenter, target: LabeledViews, num_classes: int, cfg: TransferConfig = TransferConfig(),
                       progress: Callable[[int, float], None] | None = None) -> Segmenter:
    """The pretrained net with a fresh classifier for the target label set, every layer fine-tuned
    on the annotated views (changes `net` in place and returns it)."""
    _check_views(target, num_classes, "annotated views")
    torch.manual_seed(cfg.seed + 1)
    net.new_head(num_classes)
    return fit_segmenter(net, target, cfg.finetune_steps, cfg.finetune_lr, cfg,
                         torch.Generator().manual_seed(cfg.seed + 1), progress)


def train_transfer(generator, label_set: LabelSet, seeds: list[int], cameras: Cameras, masks: Tensor,
                   source_category: str, cfg: TransferConfig = TransferConfig(),
                   progress: Callable[[str, int, float], None] | None = None) -> Segmenter:
    """Pretrain on `source_category`'s oracle, fine-tune on the annotated views (masks [N,H,W]) of
    `generator`. progress(stage, step, loss), stage 'pretrain' or 'finetune'."""
    from dnerf_core.lab import ProceduralGenerator

    if len(seeds) != len(cameras) or len(seeds) != len(masks):
        raise AnnotationError(f"{len(seeds)} seeds, {len(cameras)} cameras and {len(masks)} masks must match")
    if source_category not in SOURCE_WORLD:
        raise AnnotationError(f"unknown source world {source_category!r}; known: {', '.join(SOURCE_WORLD)}")
    target = annotated_views(generator, seeds, cameras, masks)
    _check_views(target, len(label_set), "annotated views")  # before minutes of pretraining
    source = source_views(source_category, cfg.source_images, cfg.seed, cfg.source_resolution)
    stage = (lambda name: (lambda s, l: progress(name, s, l))) if progress else (lambda name: None)
    net = pretrain_segmenter(source, len(ProceduralGenerator(source_category).label_set), cfg, stage("pretrain"))
    return finetune_segmenter(net, target, len(label_set), cfg, stage("finetune"))


def save_transfer(path: str | Path, net: Segmenter, label_set: LabelSet, cfg: TransferConfig,
                  extra: dict | None = None) -> None:
    save_tagged(path, {"format": FORMAT, "version": VERSION, "config": asdict(cfg), "labels": label_set.to_json(),
                       "state_dict": net.state_dict(), "extra": extra or {}})


def load_transfer(path: str | Path) -> tuple[Segmenter, LabelSet, dict]:
    """(segmenter, label set, extra) saved by save_transfer (plain data, weights_only)."""
    payload = load_tagged(path, FORMAT, VERSION, "transfer checkpoint")
    label_set = LabelSet.from_json(payload["labels"])
    cfg = TransferConfig(**{**payload["config"], "widths": tuple(payload["config"]["widths"])})
    net = Segmenter(len(label_set), cfg.widths)
    net.load_state_dict(payload["state_dict"])
    return net.eval(), label_set, payload["extra"]


class TransferBaseline(LabelingWrapper):
    """The fine-tuned segmenter as a Generator (generators/base.py): the generator's RGB, depth and
    opacity, labels from segmenting each rendered view."""

    def __init__(self, generator, net: Segmenter, label_set: LabelSet):
        super().__init__(generator, label_set, "transfer")
        self.net = net

    def labels_at(self, subject: Subject, points: Tensor) -> None:
        return None  # a 2D segmenter has no 3D field to query

    @torch.no_grad()
    def render(self, subject: Subject, cameras: Cameras, resolution: int | None = None, *,
               path: str = "volume") -> RenderOutput:
        out = self.generator.render(subject, cameras, resolution, path=path)
        probs = torch.softmax(self.net(out.rgb.float()), dim=1)
        return RenderOutput(rgb=out.rgb, rgb_raw=out.rgb_raw, depth=out.depth, opacity=out.opacity,
                            features=out.features, labels=probs.argmax(1), semantic=probs)
