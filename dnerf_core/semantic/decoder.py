"""The semantic decoder: summed augmented-plane features of a 3D point -> semantic features.

Its first layer (weight [hidden, D]) is applied lazily through augmented.project, so the decoder
itself starts from the summed projected features. The first K of its outputs are class logits;
all of them are volume-rendered into the feature image the super-resolution network reads.
`hidden_layers` adds hidden -> hidden layers before the output one (0: EG3D's and the paper's
one-hidden-layer decoder).
With `own_density` (the ablation without the density prior) it also predicts a raw density.
With `position_features` > 0 the first layer also reads an encoding of the point's position
(semantic/position.py), added to the projected plane features (linear, so the lazy path holds).
With `latent_features` > 0 it also reads the subject's latent w: a per-subject shift of its hidden
units, carried as constant extra plane channels (see SemanticBranch.planes).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..render.plane_mlp import PlaneMLP, SummedDecode


class SemanticDecoder(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: int = 64, out_features: int = 32,
                 own_density: bool = False, hidden_layers: int = 0, position_features: int = 0,
                 latent_features: int = 0):
        super().__init__()
        if num_classes > out_features:
            raise ValueError(f"{num_classes} classes do not fit in {out_features} semantic features")
        self.num_classes = num_classes
        self.own_density = own_density
        self.fc0_weight = nn.Parameter(torch.randn(hidden, in_features) / math.sqrt(in_features))
        self.fc0_bias = nn.Parameter(torch.zeros(hidden))
        # zeros: training starts from the features-only decoder and learns what position adds
        self.pos_weight = nn.Parameter(torch.zeros(hidden, position_features)) if position_features else None
        self.latent_weight = nn.Parameter(torch.zeros(hidden, latent_features)) if latent_features else None
        if hidden_layers < 0:
            raise ValueError(f"hidden_layers must be >= 0, got {hidden_layers}")
        self.mid = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(hidden_layers))
        self.fc1 = nn.Linear(hidden, out_features + int(own_density))

    def head(self, projected: Tensor, position: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """projected [...,hidden] (fc0 without bias, summed over planes), position [...,P] (the
        encoding, when the decoder reads one) -> (features [...,F], sigma [...,1] | None)."""
        if (position is None) != (self.pos_weight is None):
            raise ValueError("pass a position encoding exactly when the decoder was built with position_features")
        if position is not None:
            projected = projected + position @ self.pos_weight.T
        x = F.softplus(projected + self.fc0_bias)
        for layer in self.mid:
            x = F.softplus(layer(x))
        return self._outputs(self.fc1(x))

    def _outputs(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """The output layer's [...,F(+1)] -> (features, own raw density or None)."""
        return (x[..., 1:], x[..., :1]) if self.own_density else (x, None)

    def summed_decode(self) -> SummedDecode:
        """head() of projected features without a position encoding, with its form for the native
        kernel (render/plane_mlp.py) when the decoder has one hidden layer (else eager only)."""
        mlp = None if len(self.mid) else PlaneMLP(None, self.fc0_bias, self.fc1.weight.T, self.fc1.bias)
        return SummedDecode(lambda projected: self.head(projected), mlp, self._outputs)

    def forward(self, summed: Tensor, position: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Reference: summed raw augmented features [...,D] (then the latent's [...,L] when the
        decoder reads one) -> the same as head(summed @ [fc0 | latent].T)."""
        d = self.fc0_weight.shape[1]
        projected = summed[..., :d] @ self.fc0_weight.T
        if self.latent_weight is not None:
            projected = projected + summed[..., d:] @ self.latent_weight.T
        return self.head(projected, position)
