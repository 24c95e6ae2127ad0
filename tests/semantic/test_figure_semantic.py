"""The semantic branch on the articulated figure (issue 26, item 3): kits annotate views in random
body poses, the branch is read in canonical space (the generator's warp), so a point's label
follows the pose; a few training steps on default:figure lower the loss."""
from dataclasses import replace

import pytest
import torch

import dnerf_core as dn
from dnerf_core.generators.articulated import ArticulatedTriPlane, load_articulated
from dnerf_core.generators.procedural.figure import FigureGenerator, make_figure, random_pose
from dnerf_core.generators.procedural.skeleton import named_pose
from dnerf_core.generators.registry import default_weights_path
from dnerf_core.generators.spec import GeneratorSpec
from dnerf_core.semantic.branch import SemanticBranch, SemanticConfig, plane_frame
from dnerf_core.semantic.labeled import LabeledGenerator
from checks import figure_interior_points

RES = 16


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small_figure():
    """default:figure's trained weights rendered small (16 px, 16 + 16 samples a ray): the same
    planes and decoder, so kits and training on it exercise the real generator, cheaply."""
    shipped = load_articulated(default_weights_path("figure"))
    cfg = shipped.config
    cfg = replace(cfg, img_resolution=RES, rendering=replace(cfg.rendering, neural_resolution=RES,
                                                             depth_resolution=16, depth_resolution_importance=16))
    gen = ArticulatedTriPlane(cfg, shipped.articulated, name="default_figure_small")
    gen.load_state_dict(shipped.state_dict())
    gen.spec = GeneratorSpec.parse("default:figure")
    return gen.eval()


def test_a_posed_points_label_is_its_canonical_points_label(small_figure):
    """labels_at of posed points = the branch read at the warped (canonical) points, the same in
    every pose for points that stay in their part; a rigid read of the posed points differs."""
    torch.manual_seed(0)
    branch = SemanticBranch.for_generator(small_figure, SemanticConfig(num_classes=15)).eval()
    labeled = LabeledGenerator(small_figure, branch, FigureGenerator().label_set)
    seed = 5
    figure = make_figure(seed)
    canon, part = figure_interior_points(figure, 40, 0, margin=5e-3)
    rest = small_figure.sample([seed])
    planes = branch.planes(rest)
    with torch.no_grad():
        truth = branch.logits_at(planes, small_figure.plane_coordinates(canon.float())[None])
    for pose in (named_pose("sit"), named_pose("wave"), random_pose(figure, 3)):
        subject = small_figure.repose(rest, pose)
        posed = figure.posed(pose).to_posed(canon, part).float()[None]
        with torch.no_grad():
            logits = branch.logits_at(planes, posed, plane_frame(small_figure, subject))
            rigid = branch.logits_at(planes, posed)
        assert torch.allclose(logits, truth, atol=1e-4), pose.name
        assert torch.equal(labeled.labels_at(subject, posed), truth.argmax(-1)), pose.name
        assert not torch.allclose(rigid, truth, atol=1e-2), pose.name  # the warp matters


@pytest.mark.slow
def test_a_tiny_figure_kit_poses_each_view_and_training_lowers_the_loss(small_figure, tmp_path):
    kit_dir = dn.make_kit(small_figure, tmp_path / "kit", dn.KitOptions(subjects=2, views=2, oracle=True))
    kit = dn.load_kit(kit_dir)
    assert len(kit) == 4 and kit.resolution == RES
    names = [p.name for p in kit.body_poses]
    assert len(set(names)) == 4 and all(n.startswith("random:") for n in names)  # a pose per view
    assert len(kit.masks.unique()) >= 6  # the oracle labels several parts of the posed figures
    # the poses are a pure function of seed and view: the kit records the resolved angles
    expected = [random_pose(make_figure(s), int(n.split(":")[1])) for s, n in zip(kit.seeds, names)]
    assert [p.angles for p in kit.body_poses] == [p.angles for p in expected]
    losses = []
    ckpt = dn.train_semantic(small_figure, kit, tmp_path / "figure.pt", train=dn.SemanticTrainConfig(steps=30),
                             progress=lambda step, loss: losses.append(loss))
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    from dnerf_core.semantic.labeled import with_semantic

    with_branch = with_semantic(small_figure, ckpt)
    out = with_branch.render(small_figure.sample([0], pose="walk"), kit.cameras[:1], RES)
    assert out.labels.shape == (1, RES, RES) and len(out.labels.unique()) > 1
