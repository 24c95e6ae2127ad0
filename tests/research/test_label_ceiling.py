"""The label ceiling of a generator's geometry: exact on the oracle's own geometry, background
exactly where a learned generator renders transparent, and the oracle's 3D labels elsewhere."""
import pytest
import torch

from dnerf_core.cameras import random_orbit_cameras, ray_bundle
from dnerf_core.generators.surface_labels import SURFACE_OPACITY, SurfaceOracleLabels
from dnerf_research.semantic_quality import evaluate_individual
from dnerf_core.generators.procedural import ProceduralGenerator
from dnerf_core.labels import BACKGROUND_ID

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

RES = 16


@pytest.fixture(scope="module")
def oracle():
    return ProceduralGenerator("car")


def test_oracle_geometry_gives_the_oracle_labels(oracle):
    # answer key: with the oracle's own depth and opacity, the ceiling labeler is the oracle
    ceiling = SurfaceOracleLabels(oracle, oracle)
    cams = random_orbit_cameras(3, oracle.orbit, torch.Generator().manual_seed(0))
    subject = oracle.sample([10, 11, 12])
    got = ceiling.render(subject, cams, RES).labels
    assert torch.equal(got, oracle.render(subject, cams, RES).labels)
    assert evaluate_individual(ceiling, oracle, n_subjects=4, resolution=RES).miou == 1.0


def test_one_subject_broadcast_over_views(oracle):
    ceiling = SurfaceOracleLabels(oracle, oracle)
    cams = random_orbit_cameras(2, oracle.orbit, torch.Generator().manual_seed(1))
    subject = oracle.sample([5])
    assert torch.equal(ceiling.render(subject, cams, RES).labels, oracle.render(subject, cams, RES).labels)


class LeftHalfTransparent:
    """A learned generator whose views are cleared (opacity 0) on their left half."""

    def __init__(self, generator):
        self.generator, self.orbit, self.bounds = generator, generator.orbit, generator.bounds

    def sample(self, seeds):
        return self.generator.sample(seeds)

    def render(self, subject, cameras, resolution=None):
        out = self.generator.render(subject, cameras, resolution)
        out.opacity[..., : out.opacity.shape[-1] // 2] = 0
        return out


def test_learned_geometry_labels_its_own_surface(oracle, small_generator):
    gen = LeftHalfTransparent(small_generator())
    ceiling = SurfaceOracleLabels(gen, oracle)
    assert ceiling.orbit == gen.orbit and ceiling.bounds == gen.bounds
    cams = random_orbit_cameras(2, gen.orbit, torch.Generator().manual_seed(2))
    subject = ceiling.sample([3, 4])
    out = ceiling.render(subject, cams, RES)
    assert (out.labels[..., : RES // 2] == BACKGROUND_ID).all()
    # opaque pixels carry the oracle's label at the generator's surface point, recomputed here
    # ray by ray; the tiny generator's surface is not the oracle's, so labels differ from its view
    rays = ray_bundle(cams, RES)
    truth = oracle.sample(subject.seeds)
    expected = torch.zeros(2, RES, RES, dtype=torch.long)
    for v in range(2):
        for i in range(RES):
            for j in range(RES // 2, RES):
                assert out.opacity[v, 0, i, j] >= SURFACE_OPACITY
                k = i * RES + j
                point = rays.origins[v, k] + out.depth[v, 0, i, j] * rays.directions[v, k]
                expected[v, i, j] = oracle.labels_at(oracle.sample([subject.seeds[v]]), point[None, None])[0, 0]
    assert torch.equal(out.labels, expected)
    assert not torch.equal(out.labels, oracle.render(truth, cams, RES).labels)


def test_image_truth_is_the_surface_labels_world_truth_the_oracle_render(oracle, small_generator):
    """The surface labeler scores perfectly against the image truth by construction and is scored
    against the world truth exactly as a hand-built confusion matrix of the oracle's renders says."""
    from dnerf_core.io.metrics import confusion_matrix
    from dnerf_research.semantic_quality import segmentation_quality, truth_labels
    from dnerf_core.io.splits import EVAL_POSE_SEED, heldout_seeds

    gen = small_generator()
    ceiling = SurfaceOracleLabels(gen, oracle)
    image = evaluate_individual(ceiling, oracle, n_subjects=3, resolution=RES, truth="image")
    assert image.miou == 1.0 and image.accuracy == 1.0
    world = evaluate_individual(ceiling, oracle, n_subjects=3, resolution=RES, truth="world")
    seeds = heldout_seeds(3)
    cams = random_orbit_cameras(3, gen.orbit, torch.Generator().manual_seed(EVAL_POSE_SEED))
    pred = ceiling.render(ceiling.sample(seeds), cams, RES).labels
    k = len(oracle.label_set)
    expected = segmentation_quality(confusion_matrix(pred, oracle.render(oracle.sample(seeds), cams, RES).labels, k),
                                    oracle.label_set.names, 3, 3, RES)
    assert world == expected and world.miou < 1.0
    with pytest.raises(ValueError, match="truth must be one of world, image"):
        evaluate_individual(ceiling, oracle, n_subjects=1, resolution=RES, truth="pixels")
    with pytest.raises(ValueError, match="truth must be one of"):
        out = ceiling.render(ceiling.sample(seeds), cams, RES)
        truth_labels(oracle, seeds, cams, out.depth, out.opacity, "pixels")
