"""Shared pytest fixtures."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GLTF_VALIDATE_SCRIPT = REPO / "tests" / "gltf_validate.mjs"
GLTF_VALIDATOR_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def gltf_validator():
    """A function path -> the Khronos glTF-Validator JSON report (dict) for that file.

    Fails (never skips) when node or the npm package is missing: the GLB check is part of the
    suite, and `scripts/setup.sh --dev` installs what it needs.
    """
    tools = Path(os.environ.get("DNERF_TOOLS", REPO / ".tools"))
    node = shutil.which("node")
    package = tools / "node_modules" / "gltf-validator" / "package.json"
    if node is None or not package.is_file():
        pytest.fail(f"the Khronos glTF validator is missing (node: {node or 'not on PATH'}, "
                    f"package: {package} {'found' if package.is_file() else 'not found'}); "
                    "run scripts/setup.sh --dev", pytrace=False)

    def validate(path: str | Path) -> dict:
        proc = subprocess.run([node, str(GLTF_VALIDATE_SCRIPT), str(path), str(tools)],
                              capture_output=True, text=True, timeout=GLTF_VALIDATOR_TIMEOUT_S)
        if proc.returncode != 0:
            pytest.fail(f"glTF validator failed on {path} (exit {proc.returncode}): {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    return validate


SMALL_RES = 16
# With this init the tiny generator's field is dense enough that views are opaque (> 0.5), so
# its renders back-project to points and the 3D measures have something to measure.
OPAQUE_INIT = 1


@pytest.fixture
def small_generator():
    """A factory: small_generator(seed) builds a fresh tiny random tri-plane generator (car config,
    16x16 neural resolution, 12+12 ray samples), the same for the same seed (default OPAQUE_INIT)."""
    from dataclasses import replace

    from dnerf_core.generators.default_config import default_config
    from dnerf_core.generators.triplane_gan import TriPlaneGAN

    def build(seed: int = OPAQUE_INIT) -> TriPlaneGAN:
        cfg = default_config("car")
        cfg = replace(cfg, img_resolution=SMALL_RES,
                      rendering=replace(cfg.rendering, neural_resolution=SMALL_RES, depth_resolution=12,
                                        depth_resolution_importance=12))
        torch.manual_seed(seed)
        return TriPlaneGAN(cfg).eval()

    return build


@pytest.fixture(scope="module")
def one_thread():
    """Tiny renders and many small tensor ops are dominated by thread synchronization; on a busy
    2-core machine two torch threads make them ~10x slower than one. Modules opt in with
    pytestmark = pytest.mark.usefixtures("one_thread")."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(items):
    # The quick tier (`pytest -m "not slow"`) is the in-process tier: a test that starts a
    # subprocess (e2e: the CLI, a script, Blender, a viewer) pays a fresh interpreter and torch import
    # each time, so every e2e test is slow too.
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
