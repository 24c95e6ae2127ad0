"""Shared by the evaluation tests: a tiny random tri-plane generator whose views are opaque."""
from dataclasses import replace

import pytest
import torch

from dnerf_core.generators.default_config import default_config
from dnerf_core.generators.triplane_gan import TriPlaneGAN

SMALL_RES = 16
# With this init the tiny generator's field is dense enough that views are opaque (> 0.5), so
# its renders back-project to points and the 3D measures have something to measure.
OPAQUE_INIT = 1


def _build_small_generator() -> TriPlaneGAN:
    cfg = default_config("car")
    cfg = replace(cfg, img_resolution=SMALL_RES,
                  rendering=replace(cfg.rendering, neural_resolution=SMALL_RES, depth_resolution=12,
                                    depth_resolution_importance=12))
    torch.manual_seed(OPAQUE_INIT)
    return TriPlaneGAN(cfg).eval()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny renders are dominated by thread synchronization; on a busy machine two torch threads
    make them ~10x slower than one. Modules opt in with pytestmark = usefixtures("one_thread")."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def small_generator():
    """A factory: each call builds the same fresh tiny generator (car config, 16x16, 12+12 samples)."""
    return _build_small_generator
