"""dnerf_research.label_bound: surfaces with local attributes, the per-point classifier, the script."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from dnerf_core.cameras import orbit_cameras
from dnerf_research.label_bound import (LocalClassifierConfig, SurfaceSamples, attribute_matrix, attribute_width,
                                         check_attributes, field_surface, local_label_bound, oracle_surface,
                                         train_local_classifier)
from dnerf_core.generators.procedural import ProceduralGenerator
from dnerf_core.labels import BACKGROUND_ID

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]
SCRIPT = Path(__file__).resolve().parents[2] / "research" / "scripts" / "label_bound.py"
RADIUS = 0.15
COLOR = (0.2, 0.4, 0.6)


@pytest.fixture(scope="module")
def face():
    return ProceduralGenerator("face")


def _cams(oracle, n=2):
    return orbit_cameras(torch.linspace(-0.3, 0.3, n), torch.zeros(n), oracle.orbit)


def _sphere_field(points, directions):
    """An opaque ball of RADIUS at the origin, one color: its normals are the radial directions."""
    sigma = 2.0e4 * (RADIUS - points.norm(dim=-1, keepdim=True))
    color = points.new_tensor(COLOR).expand(*points.shape[:-1], 3)
    return sigma, color


def test_oracle_surface_covers_every_pixel_with_a_part(face):
    cams = _cams(face)
    s = oracle_surface(face, 1_000_000, cams)
    res = face.rendering.neural_resolution
    p = len(s.points)
    assert p + s.n_background == 2 * res * res and p > 0
    assert s.normals.shape == s.colors.shape == (p, 3) and s.labels.shape == (p,) and s.features is None
    assert (s.labels != BACKGROUND_ID).all()
    assert torch.allclose(s.normals.norm(dim=-1), torch.ones(p), atol=1e-4)


def test_field_surface_normals_follow_the_density_gradient(face):
    rendering = replace(face.rendering, neural_resolution=16)
    s = field_surface(_sphere_field, rendering, face, 1_000_000, _cams(face))
    assert len(s.points) > 10 and s.features is None
    radial = s.points / s.points.norm(dim=-1, keepdim=True)
    assert (s.normals * radial).sum(-1).min() > 0.999  # outward, not inward
    assert torch.allclose(s.colors, torch.tensor(COLOR).expand_as(s.colors))
    assert (s.points.norm(dim=-1) - RADIUS).abs().max() < 0.02  # the march found the ball's surface
    truth = face.labels_at(face.sample([1_000_000]), s.points[None])[0]
    assert torch.equal(s.labels, truth)


def test_attribute_sets_are_checked():
    assert check_attributes("pnc") == "pnc"
    for bad in ("", "px", "pp"):
        with pytest.raises(ValueError, match="attributes must be distinct letters"):
            check_attributes(bad)
    s = SurfaceSamples(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3), None, torch.ones(4, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="needs a generator surface"):
        attribute_matrix(s, "pf", 0.5, 2)
    assert attribute_matrix(s, "pnc", 0.5, 2).shape == (4, attribute_width("pnc", 0, 2)) == (4, 21)
    with pytest.raises(ValueError, match="no surface points"):
        train_local_classifier(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 3, LocalClassifierConfig())


def _synthetic(n, seed):
    """Labels 1/2 by the sign of the normal's z; colors are noise: only 'n' tells the parts apart."""
    g = torch.Generator().manual_seed(seed)
    normals = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    labels = 1 + (normals[:, 2] > 0).long()
    return SurfaceSamples(torch.rand(n, 3, generator=g) - 0.5, normals, torch.rand(n, 3, generator=g), None, labels, 50)


def test_the_classifier_finds_the_attribute_that_separates_the_parts():
    cfg = LocalClassifierConfig(steps=300, batch=512, hidden=32)
    train, test = [_synthetic(2000, 0)], [_synthetic(1000, 1)]
    by_normal = local_label_bound(train, test, "n", 3, 0.5, cfg)
    by_color = local_label_bound(train, test, "c", 3, 0.5, cfg)
    assert by_normal.parts_miou > 0.95 and by_normal.train_parts_miou > 0.95
    assert by_color.parts_miou < 0.6
    # the background pixels count as labeled exactly: image mIoU = (1 + parts IoUs) / 3
    assert by_normal.per_class_iou[BACKGROUND_ID] == 1.0
    assert abs(by_normal.image_miou - (1 + 2 * by_normal.parts_miou) / 3) < 1e-9


@pytest.mark.e2e
def test_the_script_writes_one_result_per_attribute_set(tmp_path):
    out = tmp_path / "bound.json"
    res = subprocess.run([sys.executable, str(SCRIPT), "--category", "face", "--source", "generator",
                          "--train-subjects", "2", "--test-subjects", "1", "--test-views", "1", "--steps", "5",
                          "--attributes", "p,fpnc", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"p", "fpnc"} and report["train_subjects"] == 2
    for r in report["results"].values():
        assert 0.0 <= r["parts_miou"] <= r["image_miou"] <= 1.0 and r["per_class_iou"]["background"] == 1.0
    fit = tmp_path / "fit.json"
    res = subprocess.run([sys.executable, str(SCRIPT), "--category", "face", "--source", "fit", "--fit-steps", "2",
                          "--fit-resolution", "16", "--train-subjects", "1", "--test-subjects", "1", "--test-views", "1",
                          "--steps", "5", "--attributes", "pnc", "--out", str(fit)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(fit.read_text())
    assert report["fit_resolution"] == 16 and report["fit_steps"] == 2 and set(report["results"]) == {"pnc"}
    bad = subprocess.run([sys.executable, str(SCRIPT), "--category", "face", "--source", "oracle", "--attributes", "pf"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "needs --source generator" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run([sys.executable, str(SCRIPT), "--category", "face", "--source", "oracle", "--train-subjects", "0"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--train-subjects must be at least 1" in bad.stderr and "Traceback" not in bad.stderr
