"""Distillation of the oracle into the default generator (dnerf_core.generators.distill)."""
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from dnerf_core.generators import distill
from dnerf_core.generators.default_config import default_config
from dnerf_core.generators.procedural import ProceduralGenerator
from dnerf_core.generators.triplane_gan import TriPlaneGAN

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_generator.py"
# Cheap steps: the loss terms and the update are the same at any size.
SMALL = distill.DistillConfig(batch_subjects=2, rays_per_subject=64, points_per_subject=256, train_samples=(8, 8))


def _model(seed: int = 0) -> TriPlaneGAN:
    torch.manual_seed(seed)
    return TriPlaneGAN(default_config("car")).train()


@pytest.mark.slow
def test_step_smoke_and_update():
    model, oracle = _model(), ProceduralGenerator("car")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), lr=SMALL.lr)
    losses = distill.distill_step(model, oracle, opt, SMALL, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert all(math.isfinite(v) for v in vars(losses).values())
    assert losses.total > 0
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("decoder.") for k in changed) and any(k.startswith("backbone.synthesis") for k in changed)


@pytest.mark.slow
def test_steps_on_fixed_seeds_lower_the_loss(monkeypatch):
    monkeypatch.setattr(distill, "training_seeds", lambda rng, n: [11, 12][:n])
    model, oracle = _model(), ProceduralGenerator("car")
    opt = torch.optim.Adam(model.parameters(), lr=SMALL.lr)
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    totals = [distill.distill_step(model, oracle, opt, SMALL, rng, gen).total for _ in range(12)]
    assert np.mean(totals[-3:]) < 0.8 * np.mean(totals[:3])


def test_training_seeds_never_touch_held_out_seeds():
    seeds = distill.training_seeds(np.random.default_rng(0), 10_000)
    assert max(seeds) < distill.HELDOUT_SEED_START and min(seeds) >= 0


def test_learning_rate_schedule():
    cfg = distill.DistillConfig()
    assert distill.learning_rate(cfg, 0, 100) == pytest.approx(cfg.lr)
    assert distill.learning_rate(cfg, 100, 100) == pytest.approx(cfg.lr * cfg.lr_final_fraction)
    assert distill.learning_rate(cfg, 500, 100) == pytest.approx(cfg.lr * cfg.lr_final_fraction)


@pytest.mark.parametrize("old,new", [(1.0, 20.0), (20.0, 3.0)])
def test_rescale_decoder_keeps_the_function(old, new):
    base = default_config("car")
    src = TriPlaneGAN(replace(base, decoder_lr_multiplier=old))
    dst = TriPlaneGAN(replace(base, decoder_lr_multiplier=new))
    dst.load_state_dict(distill.rescale_decoder(src.state_dict(), old, new))
    x = torch.randn(2, 3, 40, base.plane_channels)
    with torch.no_grad():
        (s0, f0), (s1, f1) = src.decoder(x), dst.decoder(x)
    torch.testing.assert_close(s1, s0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(f1, f0, atol=1e-6, rtol=1e-5)
    # the backbone is untouched
    torch.testing.assert_close(dst.state_dict()["backbone.synthesis.b4.const"], src.state_dict()["backbone.synthesis.b4.const"])


@pytest.mark.e2e
@pytest.mark.slow
def test_script_checkpoints_and_warm_starts(tmp_path):
    def run(*args):
        res = subprocess.run([sys.executable, str(SCRIPT), "--category", "car", "--threads", "1", *args],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return res.stderr

    first = tmp_path / "first"
    run("--steps", "1", "--ckpt-every", "1", "--run", str(first))
    state = torch.load(first / "ckpt.pt", weights_only=True)
    assert state["step"] == 1 and state["decoder_lr_multiplier"] == default_config("car").decoder_lr_multiplier
    log = run("--steps", "1", "--run", str(tmp_path / "second"), "--warm-start", str(first / "ckpt.pt"),
              "--export", str(tmp_path / "g.pt"))
    assert "warm start" in log and (tmp_path / "g.pt").is_file()
    assert json.loads((tmp_path / "second" / "log.jsonl").read_text().splitlines()[-1])["step"] == 1


@pytest.mark.e2e
def test_script_refuses_a_missing_warm_start(tmp_path):
    res = subprocess.run([sys.executable, str(SCRIPT), "--category", "car", "--steps", "1", "--run", str(tmp_path / "r"),
                          "--warm-start", str(tmp_path / "nope.pt")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "no such checkpoint file" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.e2e
@pytest.mark.slow
def test_plane_ceiling_script_reports_a_psnr(tmp_path):
    out = tmp_path / "ceiling.json"
    script = SCRIPT.parents[1] / "research" / "scripts" / "plane_ceiling.py"
    res = subprocess.run([sys.executable, str(script), "--category", "face",
                          "--resolution", "16", "--steps", "3", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert report["plane_resolution"] == 16 and report["steps"] == 3
    assert 0 < report["psnr_db"] < 60 and math.isfinite(report["final_loss"])
