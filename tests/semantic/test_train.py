"""Few-shot semantic training: loss falls, checkpoints resume exactly, identity is enforced."""
from dataclasses import asdict, replace

import pytest
import torch

from dnerf_core.cameras import Cameras, orbit_cameras
from dnerf_core.errors import AnnotationError, CheckpointError
from dnerf_core.generators.procedural import ProceduralGenerator
from dnerf_core.semantic.checkpoint import generator_identity, load_semantic, read_semantic
from dnerf_core.semantic.labeled import LabeledGenerator
from dnerf_core.semantic.branch import SemanticConfig
from dnerf_core.semantic.train import (SemanticTrainConfig, class_weights, prune_march, same_train_config,
                                       train_semantic)
from dnerf_core.render.raymarch import march, sample_points
from dnerf_core.cameras import ray_bundle

pytestmark = pytest.mark.slow

RES = 16


@pytest.fixture(scope="module")
def annotations():
    oracle = ProceduralGenerator("car")
    seeds, cams, masks = [], [], []
    for s in (0, 1):
        c = orbit_cameras(torch.tensor([0.0, 1.2]), torch.tensor([0.3, 0.3]), oracle.orbit)
        masks.append(oracle.render(oracle.sample([s]), c, RES).labels)
        seeds += [s, s]
        cams.append(c)
    return oracle.label_set, seeds, Cameras.cat(cams), torch.cat(masks)


# class-balanced losses fall more slowly: the rare classes they weight up are the hard ones
@pytest.mark.parametrize("class_balance,drop", [(0.0, 0.8), (0.5, 0.9)])
def test_loss_decreases_and_generator_stays_frozen(annotations, class_balance, drop, small_generator):
    label_set, seeds, cams, masks = annotations
    gen = small_generator(0)
    before = {k: v.clone() for k, v in gen.state_dict().items()}
    losses = []
    train_semantic(gen, label_set, seeds, cams, masks,
                   cfg=SemanticTrainConfig(steps=40, class_balance=class_balance),
                   progress=lambda step, loss: losses.append(loss))
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < drop * sum(losses[:5]) / 5
    assert all(torch.equal(before[k], v) for k, v in gen.state_dict().items())


def test_same_train_config_fills_fields_added_later():
    cfg = SemanticTrainConfig(steps=6)
    old = {k: v for k, v in asdict(cfg).items() if k != "class_balance"}
    assert same_train_config(asdict(cfg), cfg) and same_train_config(old, cfg)
    assert not same_train_config(old, replace(cfg, class_balance=0.5))
    assert not same_train_config({**old, "steps": 7}, cfg) and not same_train_config(None, cfg)


def test_class_weights_by_hand():
    masks = torch.tensor([[0, 0, 0, 1], [0, 0, 0, 1], [255, 255, 255, 255]])
    assert class_weights(masks, 3, 0.0) is None
    w = class_weights(masks, 3, 0.5)
    # shares 0.75 / 0.25 / 0 -> 1/sqrt(share), scaled so the pixel-weighted mean is 1
    raw = torch.tensor([0.75 ** -0.5, 0.25 ** -0.5])
    scale = 0.75 * raw[0] + 0.25 * raw[1]
    assert torch.allclose(w, torch.tensor([raw[0] / scale, raw[1] / scale, 0.0]))
    assert float(0.75 * w[0] + 0.25 * w[1]) == pytest.approx(1.0)
    # power 1 gives every annotated class the same total weight
    w1 = class_weights(masks, 3, 1.0)
    assert float(0.75 * w1[0]) == pytest.approx(float(0.25 * w1[1]))


@pytest.mark.parametrize("written_before_class_balance", [False, True])
def test_checkpoint_resume_is_exact(annotations, tmp_path, written_before_class_balance, small_generator):
    label_set, seeds, cams, masks = annotations
    gen = small_generator(0)
    cfg = SemanticTrainConfig(steps=6)
    straight = train_semantic(gen, label_set, seeds, cams, masks, cfg=cfg)
    ckpt = tmp_path / "sem.pt"
    # killed during step 4 (after the step-3 checkpoint), then started again with the same arguments
    def stop(step, loss):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_semantic(gen, label_set, seeds, cams, masks, cfg=cfg, checkpoint=ckpt,
                       checkpoint_every=3, progress=stop)
    assert read_semantic(ckpt)["extra"]
    if written_before_class_balance:  # a run checkpointed before the field existed still resumes
        state_path = tmp_path / "sem.pt.state"
        state = torch.load(state_path, weights_only=True)
        del state["train_config"]["class_balance"]
        torch.save(state, state_path)
    steps_run = []
    resumed = train_semantic(gen, label_set, seeds, cams, masks, cfg=cfg, checkpoint=ckpt,
                             checkpoint_every=3, progress=lambda step, loss: steps_run.append(step))
    assert steps_run == [4, 5, 6]  # resumed after the step-3 checkpoint, not started over
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    branch, labels = load_semantic(ckpt, gen)
    assert labels == label_set
    assert all(torch.equal(a, b) for a, b in zip(branch.state_dict().values(), resumed.state_dict().values()))


def test_another_decoder_size_starts_over_instead_of_resuming(annotations, tmp_path, small_generator):
    label_set, seeds, cams, masks = annotations
    gen = small_generator(0)
    cfg = SemanticTrainConfig(steps=4)
    ckpt = tmp_path / "sem.pt"
    train_semantic(gen, label_set, seeds, cams, masks, cfg=cfg, checkpoint=ckpt, checkpoint_every=2)
    wider = SemanticConfig(num_classes=len(label_set), hidden=24, hidden_layers=1)
    steps_run = []
    branch = train_semantic(gen, label_set, seeds, cams, masks, wider, cfg=cfg, checkpoint=ckpt,
                            progress=lambda step, loss: steps_run.append(step))
    assert steps_run == [1, 2, 3, 4]  # the other run's state does not fit: trained from scratch
    assert load_semantic(ckpt, gen)[0].config == wider == branch.config


def test_checkpoint_refused_on_another_generator(annotations, tmp_path, small_generator):
    label_set, seeds, cams, masks = annotations
    gen = small_generator(0)
    ckpt = tmp_path / "sem.pt"
    train_semantic(gen, label_set, seeds, cams, masks, cfg=SemanticTrainConfig(steps=1), checkpoint=ckpt)
    other = small_generator(1)
    assert generator_identity(gen) != generator_identity(other)
    with pytest.raises(CheckpointError, match="trained on another generator"):
        load_semantic(ckpt, other)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_semantic(bad, gen)
    with pytest.raises(CheckpointError, match="not found"):
        load_semantic(tmp_path / "missing.pt", gen)


def test_bad_annotations_are_refused(annotations, small_generator):
    label_set, seeds, cams, masks = annotations
    gen = small_generator(0)
    with pytest.raises(AnnotationError, match="must match"):
        train_semantic(gen, label_set, seeds[:3], cams, masks)
    wrong = masks.clone()
    wrong[0, 0, 0] = len(label_set)
    with pytest.raises(AnnotationError, match="not in the label set"):
        train_semantic(gen, label_set, seeds, cams, wrong)


def test_pruning_keeps_both_ends_of_kept_intervals(small_generator):
    gen = small_generator(0)
    subject = gen.sample([3])
    rays = ray_bundle(orbit_cameras(0.0, 0.3, gen.orbit), RES)
    m = march(gen.field(subject), rays.origins, rays.directions, gen.rendering)
    points, index, weights = prune_march(m, rays.origins, rays.directions, 1e-3)
    kept = (m.weights[0, ..., 0] > 1e-3).nonzero()
    flat = set(index.tolist())
    s = m.depths.shape[2]
    assert all(r * s + i in flat and r * s + i + 1 in flat for r, i in kept.tolist())
    all_points = sample_points(rays.origins, rays.directions, m.depths).reshape(-1, 3)
    assert torch.equal(points[0], all_points[index])
    assert torch.equal(weights > 0, m.weights > 1e-3)


def test_labeled_generator_gives_labels(annotations, small_generator):
    label_set, seeds, cams, masks = annotations
    gen = small_generator(0)
    branch = train_semantic(gen, label_set, seeds, cams, masks, cfg=SemanticTrainConfig(steps=2))
    labeled = LabeledGenerator(gen, branch, label_set)
    subject = labeled.sample([5])
    out = labeled.render(subject, cams[:2])
    assert out.labels.shape == (2, RES, RES) and out.labels.dtype == torch.int64
    assert torch.allclose(out.semantic.sum(1), torch.ones(2, RES, RES), atol=1e-5)
    assert torch.equal(out.rgb, gen.render(subject, cams[:2]).rgb)
    pts = torch.rand(1, 50, 3) - 0.5
    lab = labeled.labels_at(subject, pts)
    assert lab.shape == (1, 50) and int(lab.max()) < len(label_set)


def test_without_density_prior_every_sample_is_kept_and_training_runs(annotations, small_generator):
    label_set, seeds, cams, masks = annotations
    gen = small_generator(0)
    subject = gen.sample([3])
    rays = ray_bundle(orbit_cameras(0.0, 0.3, gen.orbit), RES)
    m = march(gen.field(subject), rays.origins, rays.directions, gen.rendering)
    points, index, _ = prune_march(m, rays.origins, rays.directions, 0.0)
    assert len(index) == m.depths.shape[1] * m.depths.shape[2]
    losses = []
    train_semantic(gen, label_set, seeds, cams, masks, SemanticConfig(len(label_set), density_prior=False),
                   SemanticTrainConfig(steps=3), progress=lambda step, loss: losses.append(loss))
    assert len(losses) == 3 and all(loss == loss for loss in losses)
