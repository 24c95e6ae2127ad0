"""One training schedule for every row: the same network, initialization, steps, batch and
learning-rate schedule, whatever the data (only the data differ between rows).

2D: random batches of labeled images, horizontal flips (left and right parts share a label in
both worlds), Adam with a cosine learning-rate decay, plain cross-entropy (255 = ignore).
3D: random batches of clouds, `points` points drawn from each (with replacement when a cloud is
smaller), coordinates divided by the world's bounds; cross-entropy over the category's parts
(label 0, background, is never a point of a cloud: back-projection drops it).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from dnerf_core import IGNORE_ID

from .data import Cloud, ImageSet
from .pointnet import PointNetConfig, PointNetSeg
from .seg2d import Seg2D, Seg2DConfig


@dataclass(frozen=True)
class TrainConfig:
    """steps_2d / batch_2d / lr_2d: the 2D schedule (Adam, cosine decay to 0); steps_3d /
    batch_3d / points / lr_3d: the 3D schedule; seed: initialization and batch order (the same
    for every row)."""

    steps_2d: int = 500
    batch_2d: int = 8
    lr_2d: float = 3e-3
    steps_3d: int = 400
    batch_3d: int = 8
    points: int = 1024
    lr_3d: float = 2e-3
    seed: int = 0
    seg2d: Seg2DConfig = Seg2DConfig(width=8)
    pointnet: PointNetConfig = PointNetConfig()


@dataclass
class Fit:
    """What one training run cost and where it ended: wall seconds, CPU seconds of this process
    (on a shared machine the wall time depends on the other jobs, the CPU time much less), and the
    final loss smoothed over ~20 steps."""

    seconds: float
    cpu_seconds: float
    final_loss: float


@dataclass
class Trained2D:
    model: Seg2D
    seconds: float
    final_loss: float
    cpu_seconds: float


@dataclass
class Trained3D:
    model: PointNetSeg
    seconds: float
    final_loss: float
    scale: float  # coordinates were divided by this
    cpu_seconds: float


def _cosine(step: int, steps: int) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / steps))


def random_hflip(images: Tensor, labels: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Each image [B,C,H,W] and its labels [B,H,W] mirrored left-right with probability 1/2."""
    flip = torch.rand(len(images), generator=gen) < 0.5
    return (torch.where(flip[:, None, None, None], images.flip(-1), images),
            torch.where(flip[:, None, None], labels.flip(-1), labels))


def fit_schedule(model: torch.nn.Module, lr: float, steps: int, seed: int,
                 batch_loss: Callable[[torch.Generator], Tensor]) -> Fit:
    """Adam with a cosine decay of `lr` to 0 over `steps` steps of batch_loss(batch order
    generator); leaves the model in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    start, cpu_start = time.time(), time.process_time()
    loss_avg = float("nan")
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * _cosine(step, steps)
        loss = batch_loss(order)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_avg = loss.item() if step == 0 else 0.95 * loss_avg + 0.05 * loss.item()
    model.eval()
    return Fit(time.time() - start, time.process_time() - cpu_start, loss_avg)


def train_seg2d(images: ImageSet, num_classes: int, cfg: TrainConfig = TrainConfig()) -> Trained2D:
    """Fit Seg2D to images.rgb [N,H,W,3] uint8 / images.labels [N,H,W]."""
    if len(images) == 0:
        raise ValueError("no training images")
    torch.manual_seed(cfg.seed)
    model = Seg2D(num_classes, cfg.seg2d)
    rgb = images.rgb.permute(0, 3, 1, 2)  # uint8 [N,3,H,W]; converted per batch to save memory

    def batch_loss(order: torch.Generator) -> Tensor:
        pick = torch.randint(len(images), (cfg.batch_2d,), generator=order)
        x, y = random_hflip(rgb[pick].float() / 255, images.labels[pick], order)
        return F.cross_entropy(model(x), y, ignore_index=IGNORE_ID)

    fit = fit_schedule(model, cfg.lr_2d, cfg.steps_2d, cfg.seed, batch_loss)
    return Trained2D(model, fit.seconds, fit.final_loss, fit.cpu_seconds)


@torch.no_grad()
def predict_seg2d(model: Seg2D, rgb: Tensor, batch: int = 64) -> Tensor:
    """rgb [N,H,W,3] uint8 -> [N,H,W] int64 labels."""
    model.eval()
    out = [model(x.permute(0, 3, 1, 2).float() / 255).argmax(1) for x in rgb.split(batch)]
    return torch.cat(out)


def _sample_points(cloud: Cloud, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    m = len(cloud.labels)
    idx = torch.randperm(m, generator=gen)[:n] if m >= n else torch.randint(m, (n,), generator=gen)
    return cloud.points[idx], cloud.labels[idx]


def train_pointnet(clouds: list[Cloud], num_parts: int, scale: float, cfg: TrainConfig = TrainConfig()) -> Trained3D:
    """Fit PointNetSeg to clouds whose labels are 1..num_parts (part p -> output p-1)."""
    clouds = [c for c in clouds if len(c.labels)]
    if not clouds:
        raise ValueError("no training points")
    torch.manual_seed(cfg.seed)
    model = PointNetSeg(num_parts, cfg.pointnet)

    def batch_loss(order: torch.Generator) -> Tensor:
        pick = torch.randint(len(clouds), (cfg.batch_3d,), generator=order)
        pts, labs = zip(*(_sample_points(clouds[int(i)], cfg.points, order) for i in pick))
        x = torch.stack(pts) / scale
        y = torch.stack(labs) - 1
        return F.cross_entropy(model(x).reshape(-1, num_parts), y.reshape(-1))

    fit = fit_schedule(model, cfg.lr_3d, cfg.steps_3d, cfg.seed, batch_loss)
    return Trained3D(model, fit.seconds, fit.final_loss, scale, fit.cpu_seconds)


@torch.no_grad()
def predict_pointnet(trained: Trained3D, cloud: Cloud) -> Tensor:
    """Part labels (1..K) of every point of the cloud, the whole cloud in one pass."""
    trained.model.eval()
    logits = trained.model((cloud.points / trained.scale)[None])[0]
    return logits.argmax(-1) + 1
