"""research/scripts/semantic_ceiling.py: one subject, many views; free semantic planes start where the
branch on the generator's features starts."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "research" / "scripts" / "semantic_ceiling.py"
SMALL = ["--category", "face", "--train-views", "2", "--test-views", "2"]


def _run(tmp_path, *args) -> dict:
    out = tmp_path / f"ceiling_{len(list(tmp_path.iterdir()))}.json"
    res = subprocess.run([sys.executable, str(SCRIPT), *SMALL, *args, "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(out.read_text())


def test_free_planes_start_at_the_generator_features_and_train(tmp_path):
    features = _run(tmp_path, "--mode", "features", "--steps", "0")
    free = _run(tmp_path, "--mode", "free", "--steps", "0")
    assert features["plane_resolution"] is None and free["plane_resolution"] == 64
    assert free["test"] == features["test"] and free["train"] == features["train"]
    trained = _run(tmp_path, "--mode", "free", "--steps", "2", "--plane-resolution", "32")
    assert trained["plane_resolution"] == 32 and math.isfinite(trained["final_loss"])
    assert 0.0 <= trained["test"]["miou"] <= 1.0 and set(trained["test"]["per_class_iou"]) >= {"background", "eye"}


def test_a_given_branch_is_scored_on_the_same_views(tmp_path):
    from dnerf_core.generators.registry import default_semantic_path

    given = _run(tmp_path, "--mode", "given", "--semantic", str(default_semantic_path("face")))
    assert given["steps"] == 0 and given["semantic"].endswith("default_face_semantic.pt")
    assert 0.0 < given["test"]["miou"] <= 1.0
    res = subprocess.run([sys.executable, str(SCRIPT), *SMALL, "--mode", "given"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 2 and "--semantic CKPT goes with --mode given" in res.stderr
