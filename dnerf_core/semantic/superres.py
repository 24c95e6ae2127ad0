"""Semantic super-resolution: raw class log-probabilities + rendered semantic features at the
neural resolution -> class logits at the output resolution (a residual over the upsampled raw map)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.2


class SemanticSuperRes(nn.Module):
    """scale must be a power of two (1 refines at the neural resolution)."""

    def __init__(self, num_classes: int, feature_channels: int, scale: int = 1, hidden: int = 32):
        super().__init__()
        if scale < 1 or scale & (scale - 1):
            raise ValueError(f"super-resolution scale must be a power of two, got {scale}")
        self.scale = scale
        self.stem = nn.Conv2d(num_classes + feature_channels, hidden, 3, padding=1)
        self.ups = nn.ModuleList(nn.Conv2d(hidden, hidden, 3, padding=1) for _ in range(int(math.log2(scale))))
        self.refine = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.out = nn.Conv2d(hidden, num_classes, 1)
        nn.init.zeros_(self.out.weight)  # starts as the identity on the raw map
        nn.init.zeros_(self.out.bias)

    def forward(self, log_probs: Tensor, features: Tensor) -> Tensor:
        """log_probs [B,K,h,w], features [B,F,h,w] -> logits [B,K,h*scale,w*scale]."""
        x = F.leaky_relu(self.stem(torch.cat([log_probs, features], dim=1)), LRELU_SLOPE)
        for conv in self.ups:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
        x = F.leaky_relu(self.refine(x), LRELU_SLOPE)
        skip = log_probs if self.scale == 1 else F.interpolate(log_probs, scale_factor=self.scale, mode="bilinear",
                                                                align_corners=False)
        return skip + self.out(x)
