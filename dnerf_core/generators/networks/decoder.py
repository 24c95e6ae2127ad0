"""The tri-plane decoder: averaged plane features -> raw density + 32 features (RGB first)."""
from __future__ import annotations

from torch import Tensor, nn

from ...render.plane_mlp import PlaneMLP, SummedDecode
from .layers import FullyConnected

# Features are squashed into a range a little wider than [0,1] so sigmoid never has to saturate
# to reach pure black or white.
FEATURE_MARGIN = 0.001


class TriPlaneDecoder(nn.Module):
    """[N,3,P,C] sampled plane features -> (sigma [N,P,1] raw, features [N,P,out]).

    net.0 and net.2 are equalized-lr FCs with a softplus between (EG3D's OSGDecoder layout).
    """

    def __init__(self, in_features: int = 32, hidden: int = 64, out_features: int = 32, lr_multiplier: float = 1.0):
        super().__init__()
        self.out_features = out_features
        self.net = nn.Sequential(FullyConnected(in_features, hidden, lr_multiplier=lr_multiplier), nn.Softplus(),
                                 FullyConnected(hidden, 1 + out_features, lr_multiplier=lr_multiplier))

    def forward(self, plane_features: Tensor) -> tuple[Tensor, Tensor]:
        return self.decode_mean(plane_features.mean(dim=1))

    def decode_summed(self, summed: Tensor, n_planes: int = 3) -> tuple[Tensor, Tensor]:
        """The same outputs from the planes' features already summed [N,P,C] (the fast render
        path samples them summed: no [N,3,P,C] intermediate and no strided mean over it)."""
        return self.decode_mean(summed / n_planes)

    def sigma_summed(self, summed: Tensor, n_planes: int = 3) -> Tensor:
        """decode_summed's raw sigma [N,P,1] alone, the output layer computing only its density row
        (density grids: the occupancy grid, the surface bake and the mesh read no features)."""
        first, activation, last = self.net
        return last.forward_outputs(activation(first(summed / n_planes)), slice(0, 1))

    def summed_decode(self, n_planes: int = 3, density_only: bool = False) -> SummedDecode:
        """decode_summed (density_only: sigma_summed, features None) with its form for the native
        kernel (render/plane_mlp.py): the mean over planes and the equalized-lr gains folded into
        the weights, the features' sigmoid and margin as the kernel's output activation."""
        first, _, last = self.net
        w_in, b_in = first.effective()
        w_out, b_out = last.effective(slice(0, 1) if density_only else slice(None))
        w_in, w_out = (w_in / n_planes).T, w_out.T
        if density_only:
            return SummedDecode(lambda summed: (self.sigma_summed(summed, n_planes), None),
                                PlaneMLP(w_in, b_in, w_out, b_out), lambda y: (y, None))
        return SummedDecode(lambda summed: self.decode_summed(summed, n_planes),
                            PlaneMLP(w_in, b_in, w_out, b_out, sigmoid_from=1, sigmoid_scale=1 + 2 * FEATURE_MARGIN,
                                     sigmoid_shift=-FEATURE_MARGIN),
                            lambda y: (y[..., :1], y[..., 1:]))

    def decode_mean(self, mean_features: Tensor) -> tuple[Tensor, Tensor]:
        x = self.net(mean_features)
        sigma = x[..., :1]
        feats = x[..., 1:].sigmoid() * (1 + 2 * FEATURE_MARGIN) - FEATURE_MARGIN
        return sigma, feats
