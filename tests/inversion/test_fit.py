"""RGB and mask inversion on the shipped default generators (real weights, short fits)."""
import pytest
import torch

from dnerf_core.errors import AnnotationError, DnerfError
from dnerf_core.io.metrics import confusion_matrix, psnr, segmentation_scores
from dnerf_core.generators.registry import load_generator
from dnerf_core.inversion import FitConfig, Pose, invert_mask, invert_rgb
from dnerf_core.inversion.fit import fit_view, rank_poses
from dnerf_core.inversion.objective import ViewObjective
from dnerf_core.inversion.pose import search_poses, yaw_error_degrees
from dnerf_core.inversion.rgb import average_latent
from dnerf_core.inversion.targets import rgb_term

SEED = 1_000_123  # held out from training
TINY = FitConfig(steps=4, search_steps=2, pose_starts=2, rays_per_step=256)


def _target(labeled, seed, pose):
    gen = labeled.generator
    with torch.no_grad():
        return labeled.render(gen.sample([seed]), pose.cameras(gen.orbit))


@pytest.mark.slow
def test_smoke_shapes_and_same_seed_same_result(face):
    gen = face.generator
    target = _target(face, SEED, Pose(0.2, 0.05, gen.orbit.radius)).rgb[0]
    a, b = invert_rgb(gen, target, TINY), invert_rgb(face, target, TINY)
    assert a.ws.shape == (1, gen.num_ws, gen.config.w_dim) and len(a.losses) == TINY.steps
    assert len(a.starts) == 2 and a.subject.planes is not None
    assert torch.equal(a.ws, b.ws) and a.pose == b.pose and a.losses == b.losses


@pytest.mark.slow
def test_pose_search_ranks_the_true_yaw_first(car):
    gen = car.generator
    truth = search_poses(gen.orbit)[4]
    w = average_latent(gen)
    with torch.no_grad():
        target = car.render(gen.synthesize(w.expand(-1, gen.num_ws, -1), [-1]), truth.cameras(gen.orbit)).rgb[0]
    res = gen.rendering.neural_resolution
    ranked = rank_poses(gen, None, w, ViewObjective(res, (rgb_term(target, res),)), search_poses(gen.orbit), TINY)
    assert ranked[0][0] == truth and ranked[0][1] < 0.5 * ranked[1][1]


@pytest.mark.slow
def test_the_truth_is_a_fixed_point(car):
    # started at the target's own latent and pose, the fit stays there (objective and target agree)
    gen = car.generator
    pose = Pose(1.0, 0.3, gen.orbit.radius)
    subject = gen.sample([SEED])
    target = _target(car, SEED, pose).rgb[0]
    res = gen.rendering.neural_resolution
    cfg = FitConfig(steps=5, search_steps=0, pose_starts=1, w_plus=True, lr_latent=0.003, lr_pose=0.003)
    fit = fit_view(gen, None, ViewObjective(res, (rgb_term(target, res),)), subject.ws, cfg, pose)
    got = car.render(fit.subject, fit.pose.cameras(gen.orbit)).rgb
    assert psnr(got, target[None]).item() > 35
    assert yaw_error_degrees(fit.pose.yaw, pose.yaw) < 0.5


@pytest.mark.slow
def test_rgb_inversion_improves_on_the_average_subject(car):
    gen = car.generator
    pose = Pose(2.0, 0.35, gen.orbit.radius)
    target = _target(car, SEED, pose).rgb[0]
    fit = invert_rgb(gen, target, FitConfig(steps=30, search_steps=5, pose_starts=2))
    start = car.render(gen.synthesize(average_latent(gen).expand(-1, gen.num_ws, -1), [-1]), pose.cameras(gen.orbit))
    got = car.render(fit.subject, fit.pose.cameras(gen.orbit))
    assert psnr(got.rgb, target[None]).item() > psnr(start.rgb, target[None]).item() + 3
    assert yaw_error_degrees(fit.pose.yaw, pose.yaw) < 10
    assert sum(fit.losses[-5:]) < sum(fit.losses[:5])


@pytest.mark.slow
def test_mask_inversion_improves_on_the_average_subject(face):
    gen = face.generator
    pose = Pose(-0.3, 0.1, gen.orbit.radius)
    target = _target(face, SEED, pose).labels[0]
    fit = invert_mask(face, target, FitConfig(steps=20, search_steps=4, pose_starts=2))
    k = face.branch.config.num_classes
    miou = lambda labels: segmentation_scores(confusion_matrix(labels, target, k)).miou  # noqa: E731
    avg = gen.synthesize(average_latent(gen).expand(-1, gen.num_ws, -1), [-1])
    before = face.render(avg, pose.cameras(gen.orbit)).labels[0]
    after = face.render(fit.subject, fit.pose.cameras(gen.orbit)).labels[0]
    assert miou(after) > miou(before) + 0.05
    assert sum(fit.losses[-5:]) < sum(fit.losses[:5])


def test_errors(face):
    gen = face.generator
    with pytest.raises(DnerfError, match="not a tri-plane generator"):
        invert_rgb(load_generator("procedural:face"), torch.rand(3, 64, 64), TINY)
    with pytest.raises(DnerfError, match="square"):
        invert_rgb(gen, torch.rand(3, 64, 48), TINY)
    with pytest.raises(DnerfError, match="needs a semantic branch"):
        invert_mask(gen, torch.zeros(64, 64, dtype=torch.long), TINY)
    with pytest.raises(AnnotationError, match="32x32 pixels"):
        invert_mask(face, torch.zeros(32, 32, dtype=torch.long), TINY)
    bad = torch.zeros(64, 64, dtype=torch.long)
    bad[3, 3] = 42
    with pytest.raises(AnnotationError, match=r"not in the label set: \[42\]"):
        invert_mask(face, bad, TINY)
    with pytest.raises(DnerfError, match="search steps"):
        invert_rgb(gen, torch.rand(3, 64, 64), FitConfig(steps=3, search_steps=3, pose_starts=2))


@pytest.mark.slow
def test_anchor_keeps_the_latent_near_its_start(face):
    gen = face.generator
    pose = Pose(0.2, 0.0, gen.orbit.radius)
    target = _target(face, SEED, pose).rgb[0]
    res = gen.rendering.neural_resolution
    start = gen.sample([SEED + 1]).ws
    objective = ViewObjective(res, (rgb_term(target, res),))
    moved = {}
    for anchor in (0.0, 1e4):
        cfg = FitConfig(steps=6, search_steps=0, pose_starts=1, w_plus=True, fit_pose=False, anchor=anchor)
        moved[anchor] = (fit_view(gen, None, objective, start, cfg, pose).ws - start).abs().mean().item()
    assert moved[1e4] < 0.5 * moved[0.0]
    with pytest.raises(DnerfError, match="anchor"):
        FitConfig(anchor=-1.0).validate()
