"""RGB inversion: the latent and camera pose of a learned generator that reproduce an image."""
from __future__ import annotations

from torch import Tensor

from .config import FitConfig
from .fit import FitResult, Progress, fit_view
from .inputs import check_rgb_tensor, unwrap
from .objective import ViewObjective
from .pose import Pose
from .targets import rgb_term


def average_latent(generator) -> Tensor:
    """[1,1,w_dim] the mapping network's tracked average w: the neutral start of every fit."""
    return generator.backbone.mapping.w_avg.detach().clone()[None, None]


def invert_rgb(generator, image: Tensor, config: FitConfig = FitConfig(), pose: Pose | None = None,
               progress: Progress | None = None) -> FitResult:
    """Fit w (or w+) and yaw/pitch(/radius) so the generator renders `image` [3,H,W] in [0,1].

    The fit compares the volume-rendered RGB at the neural resolution with the image resized to
    it; pose=None searches the orbit for starting poses."""
    gen, _ = unwrap(generator)
    image = check_rgb_tensor(image)
    res = gen.rendering.neural_resolution
    objective = ViewObjective(res, (rgb_term(image, res),))
    return fit_view(gen, None, objective, average_latent(gen), config, pose, progress)
