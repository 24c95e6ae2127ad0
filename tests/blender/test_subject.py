"""Generate labeled subject: the object's `part` attribute equals what dnerf-export writes.

Point clouds are compared with cloud.ply (same points, same order, same labels); meshes with
mesh.glb, the exporter's labeled mesh (one node per part): every face of part p in Blender is a
face of the GLB node p, and the other way round.
"""
from __future__ import annotations

from collections import Counter

import bpy
import numpy as np
import pytest
import trimesh

from blender_addon import parts, subject
from conftest import SMALL
from dnerf_core.factory.export.ply import read_point_cloud_ply
from dnerf_core.labels import LabelSet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _positions(ob) -> np.ndarray:
    attr = ob.data.attributes["position"]
    out = np.zeros(3 * len(attr.data), np.float32)
    attr.data.foreach_get("vector", out)
    return out.reshape(-1, 3)


def _face_keys(vertices: np.ndarray, faces: np.ndarray) -> Counter:
    """Each triangle as its three corner positions in sorted order (independent of vertex ids
    and of where the winding starts); a multiset, since marching cubes can repeat a triangle."""
    tri = vertices[faces]  # [F,3,3]
    order = np.lexsort((tri[..., 2], tri[..., 1], tri[..., 0]), axis=-1)
    tri = np.take_along_axis(tri, order[..., None], axis=1)
    return Counter(row.tobytes() for row in np.ascontiguousarray(tri, dtype=np.float32))


@pytest.mark.parametrize("category, seed, export", [("car", 3, "car_export"), ("face", 5, "face_export")])
def test_point_cloud_part_equals_cloud_ply(scene, request, category, seed, export):
    out = request.getfixturevalue(export)
    ob = subject.generate_subject(subject.SubjectRequest(
        f"procedural:{category}", seed=seed, representation="POINTCLOUD", views=SMALL["views"],
        resolution=SMALL["resolution"]))
    cloud, legend = read_point_cloud_ply(out / "cloud.ply")
    assert ob.type == "POINTCLOUD"
    attr = ob.data.attributes["part"]
    assert (attr.data_type, attr.domain) == ("INT", "POINT")
    np.testing.assert_array_equal(subject.part_values(ob), cloud.labels)
    np.testing.assert_array_equal(_positions(ob), cloud.points)
    assert len(np.unique(cloud.labels)) >= 4  # a real multi-part subject, not a trivial one
    # legend and materials: one per label, in the label colors
    labels = subject.subject_label_set(ob)
    assert labels == LabelSet.load(out / "labels.json")
    if legend is not None:
        assert legend.names == labels.names
    assert [m["dnerf_label_name"] for m in ob.data.materials] == labels.names


@pytest.mark.parametrize("category, seed, export", [("car", 3, "car_export"), ("face", 5, "face_export")])
def test_mesh_part_equals_exported_glb(scene, request, category, seed, export):
    out = request.getfixturevalue(export)
    ob = subject.generate_subject(subject.SubjectRequest(
        f"procedural:{category}", seed=seed, representation="MESH", mesh_resolution=SMALL["mesh_resolution"]))
    assert ob.type == "MESH"
    attr = ob.data.attributes["part"]
    assert (attr.data_type, attr.domain) == ("INT", "FACE")
    part = subject.part_values(ob)
    verts = _positions(ob)
    corners = np.zeros(len(ob.data.loops), np.int32)
    ob.data.loops.foreach_get("vertex_index", corners)
    faces = corners.reshape(-1, 3)
    labels = subject.subject_label_set(ob)
    glb = trimesh.load(out / "mesh.glb", force="scene", process=False)
    exported_parts = set()
    for name, geom in glb.geometry.items():
        pid = labels.id_of(name)
        exported_parts.add(pid)
        want = _face_keys(np.asarray(geom.vertices, np.float32), np.asarray(geom.faces))
        got = _face_keys(verts, faces[part == pid])
        assert got == want, f"part {name}: {sum((got - want).values())} extra, {sum((want - got).values())} missing faces"
    assert exported_parts == set(np.unique(part).tolist())
    assert len(exported_parts) >= 4
    # materials follow the part: material index = part id, material color = label color
    mat_index = np.zeros(len(part), np.int32)
    ob.data.polygons.foreach_get("material_index", mat_index)
    np.testing.assert_array_equal(mat_index, part)
    for lab in labels.labels:
        mat = ob.data.materials[lab.id]
        srgb = [round(255 * c) for c in _linear_to_srgb(mat.diffuse_color[:3])]
        assert np.abs(np.array(srgb) - lab.color).max() <= 1, (lab.name, srgb, lab.color)


def _linear_to_srgb(rgb):
    return [12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055 for c in rgb]


def test_select_and_hide_one_part(scene):
    scene.dnerf.category, scene.dnerf.seed, scene.dnerf.mesh_resolution = "car", 3, 32
    assert bpy.ops.dnerf.generate_subject() == {"FINISHED"}  # the operator, run synchronously
    ob = scene.dnerf.subject
    assert ob is not None and ob.name in scene.objects
    part = subject.part_values(ob)
    wheel = subject.subject_label_set(ob).id_of("wheel")
    assert bpy.ops.dnerf.select_part(part_name="wheel") == {"FINISHED"}
    sel = np.zeros(len(part), bool)
    ob.data.polygons.foreach_get("select", sel)
    np.testing.assert_array_equal(sel, part == wheel)
    assert bpy.ops.dnerf.hide_part(part_name="wheel", hide=True) == {"FINISHED"}
    assert parts.hidden_parts(ob) == ["wheel"]
    assert parts.evaluated_count(ob) == int((part != wheel).sum())  # gone from the evaluated mesh
    np.testing.assert_array_equal(subject.part_values(ob), part)  # the part attribute is untouched
    assert bpy.ops.dnerf.show_all_parts() == {"FINISHED"}
    assert parts.evaluated_count(ob) == len(part)
    with pytest.raises(RuntimeError, match="unknown part 'spoiler'"):
        bpy.ops.dnerf.select_part(part_name="spoiler")


def test_hide_part_of_point_cloud(scene):
    ob = subject.generate_subject(subject.SubjectRequest("procedural:face", seed=5, representation="POINTCLOUD",
                                                         views=2, resolution=32))
    part = subject.part_values(ob)
    skin = subject.subject_label_set(ob).id_of("skin")
    assert parts.select_part(ob, "skin") == int((part == skin).sum())
    parts.set_part_hidden(ob, "skin")
    assert parts.evaluated_count(ob) == int((part != skin).sum())
