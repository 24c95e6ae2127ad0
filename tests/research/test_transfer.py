"""The transfer baseline: a U-Net pretrained on the other world's oracle renders, fine-tuned on
annotated views, evaluated like the semantic branch."""
from dataclasses import replace

import pytest
import torch

from dnerf_core.cameras import Cameras, orbit_cameras
from dnerf_core.errors import AnnotationError, CheckpointError
from dnerf_core.io.metrics import confusion_matrix, segmentation_scores
from dnerf_research.semantic_quality import evaluate_individual, evaluate_video
from dnerf_research.transfer import (LabeledViews, Segmenter, TransferBaseline, TransferConfig, annotated_views,
                                      finetune_segmenter, load_transfer, pretrain_segmenter, save_transfer,
                                      source_views, train_transfer)
from dnerf_core.generators.procedural import ProceduralGenerator
from dnerf_core.labels import IGNORE_ID
from dnerf_core.semantic.annotations import kit_views

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

RES = 16
SMALL = TransferConfig(widths=(8, 8, 16), source_images=8, source_resolution=32, pretrain_steps=3, finetune_steps=3,
                       batch=4)


def _majority_scores(labels: torch.Tensor, k: int):
    known = labels[labels != IGNORE_ID]
    counts = torch.bincount(known, minlength=k)
    return counts.max().item() / known.numel()


@pytest.fixture(scope="module")
def face_source():
    return source_views("face", 48, resolution=32)


def test_segmenter_shapes_and_errors():
    net = Segmenter(5, (8, 8, 16))
    assert net(torch.rand(2, 3, 16, 24)).shape == (2, 5, 16, 24) and net.num_classes == 5
    with pytest.raises(AnnotationError, match="divides by 4"):
        net(torch.rand(1, 3, 18, 16))
    net.new_head(3)
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_source_views_are_the_oracles_exact_labels_and_repeat():
    views = source_views("car", 3, resolution=16)
    again = source_views("car", 3, resolution=16)
    assert views.rgb.shape == (3, 3, 16, 16) and views.labels.shape == (3, 16, 16)
    assert torch.equal(views.rgb, again.rgb) and torch.equal(views.labels, again.labels)
    assert int(views.labels.max()) < len(ProceduralGenerator("car").label_set) and len(views.labels.unique()) >= 3
    # another seed draws other subjects
    assert not torch.equal(source_views("car", 3, seed=1, resolution=16).labels, views.labels)


def test_pretraining_learns_the_source_world(face_source):
    k = len(ProceduralGenerator("face").label_set)
    cfg = TransferConfig(widths=(8, 16, 16), pretrain_steps=150, batch=8, lr=3e-3)
    net = pretrain_segmenter(face_source, k, cfg)
    with torch.no_grad():
        pred = net(face_source.rgb).argmax(1)
    scores = segmentation_scores(confusion_matrix(pred, face_source.labels, k))
    assert scores.accuracy > _majority_scores(face_source.labels, k) + 0.1
    # standardization comes from the source images
    assert torch.allclose(net.mean, face_source.rgb.mean((0, 2, 3)))


def test_finetuning_starts_from_the_pretrained_trunk_with_a_new_head(face_source):
    k_face = len(ProceduralGenerator("face").label_set)
    net = pretrain_segmenter(face_source, k_face, SMALL)
    trunk = {n: p.clone() for n, p in net.state_dict().items() if not n.startswith("head")}
    target = LabeledViews(face_source.rgb[:4], face_source.labels[:4].clamp_max(6))
    tuned = finetune_segmenter(net, target, 7, replace(SMALL, finetune_steps=0))
    assert tuned.num_classes == 7
    assert all(torch.equal(tuned.state_dict()[n], p) for n, p in trunk.items())
    tuned = finetune_segmenter(net, target, 7, SMALL)
    assert any(not torch.equal(tuned.state_dict()[n], p) for n, p in trunk.items())


def test_errors(face_source):
    k = len(ProceduralGenerator("face").label_set)
    ignored = LabeledViews(face_source.rgb[:2], torch.full_like(face_source.labels[:2], IGNORE_ID))
    with pytest.raises(AnnotationError, match="no annotated pixels"):
        pretrain_segmenter(ignored, k, SMALL)
    with pytest.raises(AnnotationError, match="not in the label set of 3 labels"):
        pretrain_segmenter(face_source, 3, SMALL)
    oracle = ProceduralGenerator("car")
    cams = orbit_cameras(torch.tensor([0.0]), torch.tensor([0.0]), oracle.orbit)
    masks = torch.zeros(1, RES, RES, dtype=torch.int64)
    with pytest.raises(AnnotationError, match="must match"):
        train_transfer(oracle, oracle.label_set, [0, 1], cams, masks, "face", SMALL)
    with pytest.raises(AnnotationError, match="unknown source world 'cat'"):
        train_transfer(oracle, oracle.label_set, [0], cams, masks, "cat", SMALL)


@pytest.fixture(scope="module")
def car_annotations():
    oracle = ProceduralGenerator("car")
    rig = kit_views(oracle.orbit, 3)
    cams = orbit_cameras(torch.tensor([v.yaw for v in rig]), torch.tensor([v.pitch for v in rig]), oracle.orbit)
    seeds, masks = [], []
    for s in (0, 1, 2):
        masks.append(oracle.render(oracle.sample([s]), cams, RES).labels)
        seeds += [s] * len(rig)
    return seeds, Cameras.cat([cams] * 3), torch.cat(masks)


def test_transfer_fits_its_annotations_round_trips_and_is_evaluated(car_annotations, small_generator, tmp_path):
    seeds, cams, masks = car_annotations
    gen = small_generator()
    label_set = ProceduralGenerator("car").label_set
    masks = masks.clone()
    masks[0, :4] = IGNORE_ID  # ignored pixels must not break training
    cfg = TransferConfig(widths=(8, 16, 16), source_images=16, source_resolution=32, pretrain_steps=20,
                         finetune_steps=250, batch=9, finetune_lr=3e-3)
    net = train_transfer(gen, label_set, seeds, cams, masks, "face", cfg)
    baseline = TransferBaseline(gen, net, label_set)
    k = len(label_set)
    views = annotated_views(gen, seeds, cams, masks)
    out = baseline.render(baseline.sample([seeds[0]]), cams[:3])
    assert out.labels.shape == (3, RES, RES) and torch.allclose(out.semantic.sum(1), torch.ones(1))
    with torch.no_grad():  # each view segmented on its own from the generator's RGB
        assert torch.equal(out.labels, net(gen.render(gen.sample([seeds[0]]), cams[:3]).rgb).argmax(1))
    with torch.no_grad():
        pred = net(views.rgb).argmax(1)
    assert segmentation_scores(confusion_matrix(pred, views.labels, k)).accuracy \
        > _majority_scores(views.labels, k) + 0.05
    path = tmp_path / "transfer.pt"
    save_transfer(path, net, label_set, cfg, {"views": 9})
    net2, labels2, extra = load_transfer(path)
    assert labels2 == label_set and extra == {"views": 9}
    with torch.no_grad():
        assert torch.equal(net2(views.rgb), net(views.rgb))
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a loadable transfer checkpoint"):
        load_transfer(path)
    oracle = ProceduralGenerator("car")
    ind = evaluate_individual(baseline, oracle, n_subjects=2)
    assert 0.0 <= ind.miou <= 1.0 and ind.resolution == RES
    con = evaluate_video(baseline, oracle, n_subjects=1, n_frames=24).consistency
    assert con.n_points > 0 and 0.0 <= con.cross_view_agreement <= 1.0
