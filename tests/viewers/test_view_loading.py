"""Loading what `dnerf view` shows: PLY clouds/meshes, part GLBs, export folders; legend colors;
per-part counts. No rendering library is involved."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from dnerf_core.errors import DnerfError
from dnerf_core.factory.export.ply import read_point_cloud_ply, write_mesh_ply, write_point_cloud_ply
from dnerf_core.factory.types import LabeledMesh, LabeledPointCloud
from dnerf_core.labels import LabelSet
from viewers.geometry import load_geometry, part_counts
from viewers.legend import generated_color
from viewers.scene import build_scene, toggle

pytestmark = pytest.mark.e2e


def _labels(export) -> LabelSet:
    return LabelSet.load(export / "labels.json")


def test_ply_counts_and_names(car_export):
    geom = load_geometry(car_export / "cloud.ply")
    cloud, _ = read_point_cloud_ply(car_export / "cloud.ply")
    label_set = _labels(car_export)
    assert geom.kind == "points" and geom.legend.source == "labels.json"
    counts = part_counts(geom)
    expected = np.bincount(cloud.labels, minlength=len(label_set))
    assert [c.label_id for c in counts] == np.flatnonzero(expected).tolist()
    assert [c.count for c in counts] == expected[expected > 0].tolist()
    assert [c.name for c in counts] == [label_set.names[i] for i in np.flatnonzero(expected)]
    assert [c.color for c in counts] == [label_set.labels[i].color for i in np.flatnonzero(expected)]
    assert sum(c.count for c in counts) == len(cloud)
    assert abs(sum(c.share for c in counts) - 1.0) < 1e-9


def test_glb_parts_named_by_part(car_export):
    geom = load_geometry(car_export / "mesh.glb")
    label_set = _labels(car_export)
    scene = trimesh.load(str(car_export / "mesh.glb"), force="scene")
    faces_per_node = {node: len(scene.geometry[scene.graph[node][1]].faces) for node in scene.graph.nodes_geometry}
    assert geom.kind == "mesh" and geom.unit == "faces"
    counts = part_counts(geom)
    assert {c.name: c.count for c in counts} == faces_per_node
    # Every car part is in the mesh, with the label set's id and color for its name.
    assert [c.name for c in counts] == label_set.part_names
    for c in counts:
        assert c.label_id == label_set.id_of(c.name) and c.color == label_set.labels[c.label_id].color
    assert geom.faces.max() < len(geom.points)


def test_glb_alone_uses_its_embedded_labels(car_export, tmp_path):
    shutil.copy(car_export / "mesh.glb", tmp_path / "parts.glb")  # no labels.json next to it
    geom = load_geometry(tmp_path / "parts.glb")
    assert geom.legend.source == "file legend"
    assert [e.name for e in geom.legend.entries] == _labels(car_export).part_names


def test_folder_loads_cloud_or_mesh(car_export):
    assert load_geometry(car_export).path.name == "cloud.ply"
    geom = load_geometry(car_export, prefer_mesh=True)
    assert geom.path.name == "mesh.glb" and geom.kind == "mesh"
    assert [e.name for e in geom.legend.entries] == _labels(car_export).part_names


def test_dataset_folder_points_to_a_sample(car_export, tmp_path):
    shutil.copytree(car_export, tmp_path / "00007")
    with pytest.raises(DnerfError, match="dataset folder with 1 samples"):
        load_geometry(tmp_path)
    (tmp_path / "00007" / "cloud.ply").unlink()
    (tmp_path / "00007" / "mesh.glb").unlink()
    with pytest.raises(DnerfError, match="neither cloud.ply nor mesh.glb"):
        load_geometry(tmp_path / "00007")


def test_legend_sources(car_export, tmp_path):
    cloud, file_legend = read_point_cloud_ply(car_export / "cloud.ply")
    # The PLY's own header legend when there is no labels.json beside it.
    shutil.copy(car_export / "cloud.ply", tmp_path / "a.ply")
    geom = load_geometry(tmp_path / "a.ply")
    assert geom.legend.source == "file legend"
    assert [e.color for e in geom.legend.entries] == [file_legend.labels[i].color for i in np.unique(cloud.labels)]
    # No legend, but points colored by label: those colors.
    coded = np.array([[10, 20, 30], [200, 10, 10], [10, 200, 10], [10, 10, 200], [200, 200, 10], [10, 200, 200],
                      [200, 10, 200]], np.uint8)
    (tmp_path / "b").mkdir()
    write_point_cloud_ply(tmp_path / "b" / "b.ply", LabeledPointCloud(cloud.points, cloud.normals,
                                                                      coded[cloud.labels], cloud.labels))
    geom = load_geometry(tmp_path / "b" / "b.ply")
    assert geom.legend.source == "file colors"
    assert [e.color for e in geom.legend.entries] == [tuple(coded[i].tolist()) for i in np.unique(cloud.labels)]
    assert [e.name for e in geom.legend.entries] == [f"label {i}" for i in np.unique(cloud.labels)]
    # Appearance colors (not constant per label): generated colors.
    (tmp_path / "c").mkdir()
    write_point_cloud_ply(tmp_path / "c" / "c.ply", cloud)
    geom = load_geometry(tmp_path / "c" / "c.ply")
    assert geom.legend.source == "generated"
    assert [e.color for e in geom.legend.entries] == [generated_color(i) for i in np.unique(cloud.labels)]
    assert len({e.color for e in geom.legend.entries}) == len(geom.legend.entries)


def test_mesh_ply_loads_with_face_labels(car_export, tmp_path):
    tri = trimesh.creation.box()
    labels = np.arange(len(tri.faces)) % 3 + 1  # parts 1, 2, 3
    mesh = LabeledMesh(tri.vertices, tri.faces, labels, np.zeros((len(tri.vertices), 3)))
    (tmp_path / "m").mkdir()
    shutil.copy(car_export / "labels.json", tmp_path / "m" / "labels.json")
    write_mesh_ply(tmp_path / "m" / "box.ply", mesh, _labels(car_export))
    geom = load_geometry(tmp_path / "m" / "box.ply")
    assert geom.kind == "mesh" and len(geom.faces) == 12
    assert [(c.name, c.count) for c in part_counts(geom)] == [("body", 4), ("hood", 4), ("roof", 4)]


def test_scene_layers_and_toggle_keys(car_export):
    geom = load_geometry(car_export / "cloud.ply")
    scene = build_scene(geom)
    assert [layer.key for layer in scene.layers] == ["1", "2", "3", "4", "5", "6"]
    assert sum(len(layer.points) for layer in scene.layers) == len(geom.points)
    for layer in scene.layers:  # flat label colors, one layer per part
        assert (layer.colors == np.array(layer.color, np.uint8)).all()
    assert toggle(scene, "3").visible is False and toggle(scene, "3").visible is True
    toggle(scene, "1"), toggle(scene, "2")
    assert [layer.visible for layer in scene.layers] == [False, False, True, True, True, True]
    toggle(scene, "0")
    assert all(layer.visible for layer in scene.layers)
    assert scene.canvas == (255, 255, 255)  # no car label is near white


def test_pure_modules_import_no_renderer():
    code = ("import sys, viewers.app, viewers.geometry, viewers.legend, viewers.diff, viewers.scene, viewers.image, "
            "dnerf_core.cli; bad = [m for m in ('open3d', 'pyvista', 'vtk', 'vtkmodules', 'bpy') if m in sys.modules];"
            " print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_labels_json_is_what_the_export_wrote(car_export):
    # Guard for the tests above: the fixture is a real export with the car label set.
    data = json.loads((car_export / "labels.json").read_text())
    assert [d["name"] for d in data["labels"]] == ["background", "body", "hood", "roof", "window", "wheel", "light"]


def test_many_parts_without_a_legend(tmp_path):
    """Twelve labels, no legend anywhere: distinct generated colors, keys for the first nine only,
    and the count table lists every part."""
    from viewers.app import ViewOptions, count_table, prepare

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(1, 13), 10)
    points = rng.normal(size=(len(labels), 3)).astype(np.float32)
    write_point_cloud_ply(tmp_path / "many.ply", LabeledPointCloud(points, np.zeros_like(points),
                                                                   rng.integers(0, 255, (len(labels), 3)), labels))
    report = prepare(ViewOptions(path=tmp_path / "many.ply"))
    assert report.geometry.legend.source == "generated"
    assert len({e.color for e in report.geometry.legend.entries}) == 12
    assert [layer.key for layer in report.scene.layers] == list("123456789") + [None] * 3
    assert report.scene.notes == ["only the first 9 parts have toggle keys"]
    table = count_table(report.geometry, report.counts, None, report.scene)
    assert len(table) == 2 + 12 and table[-1].split() == ["-", "12", "label", "12", "10", "8.3%"]
    with pytest.raises(DnerfError, match="unknown viewer backend"):
        prepare(ViewOptions(path=tmp_path / "many.ply", backend="vtk"))
