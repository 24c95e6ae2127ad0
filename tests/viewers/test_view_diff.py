"""`--diff`: the points whose label disagrees with the nearest point of another cloud."""
from __future__ import annotations

import numpy as np
import pytest

from dnerf_core.errors import DnerfError
from dnerf_core.factory.export.ply import read_point_cloud_ply, write_point_cloud_ply
from dnerf_core.factory.types import LabeledPointCloud
from dnerf_core.labels import Label, LabelSet
from viewers.diff import label_diff
from viewers.geometry import load_geometry
from viewers.scene import build_scene

pytestmark = pytest.mark.e2e


def test_diff_mask_is_exactly_the_flipped_points(car_export, tmp_path, flipped_prediction):
    pred_path, flipped = flipped_prediction(car_export, tmp_path)
    assert 50 < flipped.sum() < len(flipped) // 5
    diff = label_diff(load_geometry(pred_path), load_geometry(car_export / "cloud.ply"))
    np.testing.assert_array_equal(diff.disagree, flipped)
    assert diff.count == flipped.sum() and diff.share == pytest.approx(flipped.mean())
    assert float(diff.distance.max()) == 0.0  # same points: each one's nearest is itself
    truth, _ = read_point_cloud_ply(car_export / "cloud.ply")
    np.testing.assert_array_equal(diff.nearest_label, truth.labels)


def test_diff_on_a_different_sampling(car_export, tmp_path):
    """Ground truth sampled elsewhere (points shifted by a fraction of the spacing): the nearest
    neighbour still finds the same part, so an identical labeling disagrees nowhere."""
    truth, label_set = read_point_cloud_ply(car_export / "cloud.ply")
    shifted = truth.points + np.float32(1e-4)
    (tmp_path / "gt").mkdir()
    write_point_cloud_ply(tmp_path / "gt" / "gt.ply", LabeledPointCloud(shifted, truth.normals, truth.colors,
                                                                        truth.labels), label_set)
    diff = label_diff(load_geometry(car_export / "cloud.ply"), load_geometry(tmp_path / "gt" / "gt.ply"))
    assert diff.count == 0
    assert np.allclose(diff.distance, np.linalg.norm([1e-4] * 3), atol=1e-5)


def test_diff_matches_labels_by_name(car_export, tmp_path, flipped_prediction):
    """A ground truth whose label set numbers the same parts differently is compared by part name."""
    truth, label_set = read_point_cloud_ply(car_export / "cloud.ply")
    perm = np.array([0, 3, 1, 2, 6, 4, 5])  # old id -> new id
    inverse = np.argsort(perm)
    renumbered = LabelSet(tuple(Label(new, label_set.labels[inverse[new]].name, label_set.labels[inverse[new]].color)
                                for new in range(len(label_set))))
    (tmp_path / "gt").mkdir()
    write_point_cloud_ply(tmp_path / "gt" / "gt.ply", LabeledPointCloud(truth.points, truth.normals, truth.colors,
                                                                        perm[truth.labels]), renumbered)
    pred_path, flipped = flipped_prediction(car_export, tmp_path / "pred")
    diff = label_diff(load_geometry(pred_path), load_geometry(tmp_path / "gt" / "gt.ply"))
    np.testing.assert_array_equal(diff.disagree, flipped)


def test_diff_colors_exactly_the_disagreeing_points(car_export, tmp_path, flipped_prediction):
    pred_path, flipped = flipped_prediction(car_export, tmp_path)
    geom = load_geometry(pred_path)
    scene = build_scene(geom, label_diff(geom, load_geometry(car_export / "cloud.ply")))
    assert scene.highlight == (255, 0, 255)
    assert scene.highlight not in [e.color for e in geom.legend.entries] and scene.highlight != scene.canvas
    for layer in scene.layers:
        mask = flipped[geom.labels == layer.label_id]  # layers keep the cloud's point order per part
        is_highlight = (layer.colors == np.array(scene.highlight, np.uint8)).all(axis=1)
        np.testing.assert_array_equal(is_highlight, mask)
        assert (layer.colors[~mask] == np.array(layer.color, np.uint8)).all()
    assert scene.legend_rows[-1][1] == scene.highlight and str(int(flipped.sum())) in scene.legend_rows[-1][0]


def test_diff_needs_point_clouds(car_export):
    with pytest.raises(DnerfError, match="point clouds"):
        label_diff(load_geometry(car_export / "cloud.ply"), load_geometry(car_export / "mesh.glb"))
