"""Mapping network: z (and an embedded camera label) -> w, broadcast to num_ws, with truncation."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from . import ops
from .layers import FullyConnected

# Exponential moving average decay of w_avg (the truncation center) during training.
W_AVG_BETA = 0.998


class MappingNetwork(nn.Module):
    """z [B,z_dim], c [B,c_dim] -> ws [B,num_ws,w_dim].

    z and the embedding of c are each normalized by their second moment and concatenated;
    `num_layers` leaky-ReLU FC layers with a reduced learning rate follow.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        if c_dim > 0:
            self.embed = FullyConnected(c_dim, w_dim)
        dims = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(dims[i], dims[i + 1], "lrelu", lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None, truncation: float = 1.0, update_w_avg: bool = False) -> Tensor:
        parts = [ops.normalize_2nd_moment(z)] if self.z_dim > 0 else []
        if self.c_dim > 0:
            parts.append(ops.normalize_2nd_moment(self.embed(c)))
        x = torch.cat(parts, dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.copy_(torch.lerp(x.detach().mean(0), self.w_avg, W_AVG_BETA))
        if truncation != 1.0:
            x = self.w_avg.lerp(x, truncation)
        return x[:, None].expand(-1, self.num_ws, -1)
