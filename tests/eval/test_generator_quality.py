"""Generator-vs-oracle scores: perfect for the oracle itself, and the PSNR calibration rows."""
import pytest

from dnerf_core.eval import generator_quality
from dnerf_core.eval.generator_quality import evaluate_generator, psnr_calibration
from dnerf_core.generators.procedural import ProceduralGenerator

pytestmark = pytest.mark.usefixtures("one_thread")

RES = 16
PSNR_OF_IDENTICAL = 120.0  # metrics.psnr clamps the MSE at 1e-12


@pytest.fixture(scope="module")
def oracle():
    return ProceduralGenerator("face")


def test_oracle_against_itself_is_perfect(oracle):
    q = evaluate_generator(oracle, oracle, n_subjects=3, resolution=RES)
    assert q.psnr_db == pytest.approx(PSNR_OF_IDENTICAL)
    assert q.silhouette_iou == 1.0 and q.depth_error_rel == 0.0 and q.resolution == RES


def test_calibration_rows(oracle, monkeypatch):
    cal = psnr_calibration(oracle, n_subjects=2, resolution=RES)
    assert cal.n_subjects == 2 and cal.resolution == RES
    assert 10 < cal.blurred_db < 40 and 10 < cal.antialiased_db < 40
    # one ray per pixel "supersampled" is the target itself
    monkeypatch.setattr(generator_quality, "SUPERSAMPLING", 1)
    assert psnr_calibration(oracle, n_subjects=2, resolution=RES).antialiased_db == pytest.approx(PSNR_OF_IDENTICAL)
