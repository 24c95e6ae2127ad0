"""A PointNet-style part segmenter, written here: a shared per-point MLP, a global feature by max
pooling over the cloud, concatenated back onto every point's local feature, and a per-point MLP
head (the segmentation network of PointNet, without its input/feature transform nets: every
cloud here is already in its world's canonical frame, as ShapeNet-part's are).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class PointNetConfig:
    """local: widths of the shared per-point MLP (its last output is the local feature);
    global_width: the max-pooled global feature; head: widths of the per-point head."""

    local: tuple[int, ...] = (32, 64)
    global_width: int = 128
    head: tuple[int, ...] = (128, 64)


def _mlp(widths: list[int]) -> nn.Sequential:
    """1x1 convolutions over [B,C,P] with BatchNorm + ReLU after each."""
    mods = []
    for a, b in zip(widths[:-1], widths[1:]):
        mods += [nn.Conv1d(a, b, 1, bias=False), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*mods)


class PointNetSeg(nn.Module):
    """[B,P,3] points (normalized coordinates) -> [B,P,K] logits for K part classes."""

    def __init__(self, num_parts: int, cfg: PointNetConfig = PointNetConfig()):
        super().__init__()
        self.cfg = cfg
        self.local = _mlp([3, *cfg.local])
        self.lift = _mlp([cfg.local[-1], cfg.global_width])
        self.head = nn.Sequential(_mlp([cfg.local[-1] + cfg.global_width, *cfg.head]),
                                  nn.Conv1d(cfg.head[-1], num_parts, 1))

    def forward(self, points: Tensor) -> Tensor:
        x = points.transpose(1, 2)  # [B,3,P]
        local = self.local(x)
        glob = self.lift(local).amax(dim=2, keepdim=True)  # order-invariant summary of the whole cloud
        x = torch.cat([local, glob.expand(-1, -1, local.shape[2])], dim=1)
        return self.head(x).transpose(1, 2)
