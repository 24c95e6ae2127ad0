"""Generator-vs-oracle scores: perfect for the oracle itself, and the PSNR calibration rows."""
import math

import pytest
import torch

from dnerf_research import generator_quality
from dnerf_research.generator_quality import evaluate_generator, psnr_calibration
from dnerf_core.generators.procedural import ProceduralGenerator

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

RES = 16
PSNR_OF_IDENTICAL = 120.0  # metrics.psnr clamps the MSE at 1e-12


@pytest.fixture(scope="module")
def oracle():
    return ProceduralGenerator("face")


def test_oracle_against_itself_is_perfect(oracle):
    q = evaluate_generator(oracle, oracle, n_subjects=3, resolution=RES)
    assert q.psnr_db == pytest.approx(PSNR_OF_IDENTICAL)
    assert q.silhouette_iou == 1.0 and q.depth_error_rel == 0.0 and q.resolution == RES
    assert set(q.part_psnr_db) == set(oracle.label_set.names)
    assert all(v is None or v == pytest.approx(PSNR_OF_IDENTICAL) for v in q.part_psnr_db.values())
    assert q.part_psnr_db["skin"] == pytest.approx(PSNR_OF_IDENTICAL)


def test_part_psnr_by_hand():
    pred = torch.zeros(1, 3, 1, 3)
    target = torch.tensor([0.1, 0.0, 0.5]).reshape(1, 1, 1, 3).expand(1, 3, 1, 3)
    labels = torch.tensor([[[1, 1, 2]]])
    acc = generator_quality.PartSquaredError(["background", "a", "b", "c"])
    acc.add(pred, target, labels)
    db = acc.psnr_db()
    # part a: squared errors 0.01 and 0 over 2 pixels x 3 channels; part b: 0.25
    assert db["a"] == pytest.approx(10 * math.log10(1 / 0.005))
    assert db["b"] == pytest.approx(10 * math.log10(1 / 0.25))
    assert db["background"] is None and db["c"] is None


def test_calibration_rows(oracle, monkeypatch):
    cal = psnr_calibration(oracle, n_subjects=2, resolution=RES)
    assert cal.n_subjects == 2 and cal.resolution == RES
    assert 10 < cal.blurred_db < 40 and 10 < cal.antialiased_db < 40
    assert 10 < cal.blurred_part_db["skin"] < 60
    # one ray per pixel "supersampled" is the target itself
    monkeypatch.setattr(generator_quality, "SUPERSAMPLING", 1)
    assert psnr_calibration(oracle, n_subjects=2, resolution=RES).antialiased_db == pytest.approx(PSNR_OF_IDENTICAL)
