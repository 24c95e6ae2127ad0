"""Export writers: PLY clouds/meshes, part GLB, palette masks, RGB, depth, transforms.json."""
from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import open3d as o3d
import plyfile
import pytest
import torch
import trimesh
from PIL import Image

from dnerf_core.cameras import Cameras, OrbitSpec, orbit_cameras
from dnerf_core.errors import AnnotationError, DnerfError
from dnerf_core.factory.export import depth as depth_mod, ply
from dnerf_core.io import atomic, images, masks
from dnerf_core.factory.export.depth import DEFAULT_DEPTH_SCALE, read_depth_png, write_depth_npy, write_depth_png
from dnerf_core.factory.export.glb import linear_to_srgb, srgb_to_linear, write_glb
from dnerf_core.io.images import write_rgb_png
from dnerf_core.io.masks import IGNORE_COLOR, read_mask_png, write_mask_png
from dnerf_core.factory.export.ply import read_mesh_ply, read_point_cloud_ply, write_mesh_ply, write_point_cloud_ply
from dnerf_core.factory.export.transforms import FrameFiles, read_transforms_json, write_transforms_json
from dnerf_core.factory.types import LabeledMesh, LabeledPointCloud
from dnerf_core.labels import IGNORE_ID, LabelSet
from checks import raises_naming_file

REPO = Path(__file__).resolve().parents[2]
PART_NAMES = ["body", "wheel", "front window", "light"]
PART_COLORS = [(0, 0, 0), (200, 10, 10), (10, 200, 10), (5, 5, 250), (255, 255, 0)]
MESH_PARTS = ("body", "wheel", "front window")  # "light" is in the label set but not in the mesh


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def label_set() -> LabelSet:
    return LabelSet.from_names(PART_NAMES, PART_COLORS)


def _primitives() -> list[tuple[str, trimesh.Trimesh]]:
    box = trimesh.creation.box(extents=(1.0, 0.5, 2.0))
    wheel = trimesh.creation.icosphere(subdivisions=1, radius=0.3)
    wheel.apply_translation((0.6, -0.3, 0.7))
    window = trimesh.creation.cylinder(radius=0.2, height=0.4, sections=12)
    window.apply_translation((0.0, 0.45, 0.0))
    return [("body", box), ("wheel", wheel), ("front window", window)]


@pytest.fixture(scope="module")
def mesh(label_set) -> LabeledMesh:
    verts, faces, labels, offset = [], [], [], 0
    for name, prim in _primitives():
        verts.append(prim.vertices)
        faces.append(prim.faces + offset)
        labels.append(np.full(len(prim.faces), label_set.id_of(name)))
        offset += len(prim.vertices)
    colors = (np.arange(offset * 3).reshape(offset, 3) * 7) % 256
    return LabeledMesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(labels), colors)


@pytest.fixture(scope="module")
def cloud(label_set) -> LabeledPointCloud:
    pts, nrm, lab = [], [], []
    for name, prim in _primitives():
        pts.append(prim.vertices)
        nrm.append(prim.vertex_normals)
        lab.append(np.full(len(prim.vertices), label_set.id_of(name)))
    n = sum(len(p) for p in pts)
    colors = np.random.default_rng(0).integers(0, 256, (n, 3))
    return LabeledPointCloud(np.concatenate(pts), np.concatenate(nrm), colors, np.concatenate(lab))


@pytest.fixture(scope="module")
def label_image() -> np.ndarray:
    """[12,16] ids with every label, plus a few ignore (255) pixels."""
    ids = (np.arange(12 * 16).reshape(12, 16) // 7) % len(PART_COLORS)
    ids[0, :3] = IGNORE_ID
    return ids.astype(np.int64)


def _cameras(per_frame_intrinsics: bool) -> Cameras:
    spec = OrbitSpec(radius=2.7, pivot=(0.0, 0.0, 0.2), focal=4.2647, yaw_range=(-0.5, 0.5), pitch_range=(-0.3, 0.3))
    cams = orbit_cameras(torch.tensor([-0.4, 0.1, 0.35]), torch.tensor([0.2, -0.1, 0.05]), spec)
    k = cams.intrinsics.clone()
    k[:, 0, 2], k[:, 1, 2] = 0.45, 0.55  # off-center principal point
    if per_frame_intrinsics:
        k[1, 0, 0], k[2, 1, 1] = 3.5, 4.9
    return Cameras(cams.cam2world, k)


def _glb_json(path: Path) -> dict:
    data = path.read_bytes()
    (json_len,) = struct.unpack("<I", data[12:16])
    return json.loads(data[20:20 + json_len])


# --- PLY: point clouds ------------------------------------------------------------------------------
def test_cloud_ply_header_has_exact_properties_and_legend(tmp_path, cloud, label_set):
    path = tmp_path / "cloud.ply"
    write_point_cloud_ply(path, cloud, label_set)
    head = path.read_bytes().split(b"end_header\n")[0].decode("ascii").splitlines()
    assert head[:2] == ["ply", "format binary_little_endian 1.0"]
    props = [ln for ln in head if ln.startswith("property")]
    assert props == ["property float x", "property float y", "property float z",
                     "property float nx", "property float ny", "property float nz",
                     "property uchar red", "property uchar green", "property uchar blue", "property int label"]
    assert f"element vertex {len(cloud)}" in head
    assert "comment label 1 body 200 10 10" in head
    assert "comment label 3 front%20window 5 5 250" in head  # one token per name
    # 31 bytes per point after the header, nothing else
    assert path.stat().st_size == len("\n".join(head)) + len("\nend_header\n") + 31 * len(cloud)


def test_cloud_ply_round_trip_own_reader(tmp_path, cloud, label_set):
    path = tmp_path / "cloud.ply"
    write_point_cloud_ply(path, cloud, label_set)
    back, legend = read_point_cloud_ply(path)
    assert legend == label_set
    for field in ("points", "normals", "colors", "labels"):
        np.testing.assert_array_equal(getattr(back, field), getattr(cloud, field))
    assert back.labels.dtype == np.int32 and back.colors.dtype == np.uint8
    write_point_cloud_ply(path, cloud)  # no label set: no legend
    assert read_point_cloud_ply(path)[1] is None


def test_cloud_ply_read_by_plyfile(tmp_path, cloud, label_set):
    path = tmp_path / "cloud.ply"
    write_point_cloud_ply(path, cloud, label_set)
    data = plyfile.PlyData.read(str(path))
    v = data["vertex"].data
    assert v.dtype.names == ("x", "y", "z", "nx", "ny", "nz", "red", "green", "blue", "label")
    assert v.dtype["label"] == np.dtype("<i4") and v.dtype["red"] == np.dtype("u1")
    np.testing.assert_array_equal(np.stack([v["x"], v["y"], v["z"]], 1), cloud.points)
    np.testing.assert_array_equal(v["label"], cloud.labels)
    assert "label 2 wheel 10 200 10" in data.comments


def test_cloud_ply_read_by_open3d_tensor_api(tmp_path, cloud, label_set):
    path = tmp_path / "cloud.ply"
    write_point_cloud_ply(path, cloud, label_set)
    pcd = o3d.t.io.read_point_cloud(str(path))
    # Open3D keeps unknown vertex properties as point attributes named like the property:
    # `label` comes back as Int32 with shape [N,1]; colors stay UInt8.
    assert "label" in pcd.point
    labels = pcd.point["label"].numpy()
    assert labels.shape == (len(cloud), 1) and labels.dtype == np.int32
    np.testing.assert_array_equal(labels[:, 0], cloud.labels)
    np.testing.assert_array_equal(pcd.point.positions.numpy(), cloud.points)
    np.testing.assert_array_equal(pcd.point.normals.numpy(), cloud.normals)
    np.testing.assert_array_equal(pcd.point.colors.numpy(), cloud.colors)


def test_read_ascii_ply_with_other_properties(tmp_path):
    path = tmp_path / "ascii.ply"
    path.write_text(
        "ply\nformat ascii 1.0\ncomment made by hand\ncomment label colors by part\nelement vertex 3\n"
        "property double x\nproperty double y\nproperty double z\nproperty float intensity\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty ushort label\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
        "0 0 0 0.5 255 0 0 1\n1 0 0 0.25 0 255 0 2\n0 1 0.5 1 0 0 255 2\n3 0 1 2\n")
    back, legend = read_point_cloud_ply(path)
    assert legend is None
    np.testing.assert_array_equal(back.points, [[0, 0, 0], [1, 0, 0], [0, 1, 0.5]])
    np.testing.assert_array_equal(back.labels, [1, 2, 2])
    np.testing.assert_array_equal(back.colors, [[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    np.testing.assert_array_equal(back.normals, np.zeros((3, 3)))  # absent -> zeros


def test_ply_legend_keeps_any_part_name(tmp_path, cloud):
    odd = LabelSet.from_names(["rétroviseur", "50% grey"], [(0, 0, 0), (1, 2, 3), (4, 5, 6)])
    labels = cloud.labels % 3
    relabeled = LabeledPointCloud(cloud.points, cloud.normals, cloud.colors, labels)
    write_point_cloud_ply(tmp_path / "odd.ply", relabeled, odd)
    assert read_point_cloud_ply(tmp_path / "odd.ply")[1] == odd
    # a legend that is not a label set (ids must be 0..K-1) is an error naming the file
    text = (tmp_path / "odd.ply").read_bytes().replace(b"comment label 1 ", b"comment label 7 ")
    (tmp_path / "odd.ply").write_bytes(text)
    with pytest.raises(DnerfError, match=r"odd\.ply: the label legend"):
        read_point_cloud_ply(tmp_path / "odd.ply")


def test_read_big_endian_ply_with_element_before_vertex(tmp_path):
    # A list element ahead of the vertices forces the reader to walk variable-length records.
    faces = np.empty(2, dtype=[("vertex_indices", object)])
    faces["vertex_indices"] = [np.array([0, 1, 2], "i4"), np.array([0, 1, 2, 3], "i4")]
    verts = np.array([(1.5, 2.0, -1.0, 7, 0.1), (0.0, 0.0, 0.0, 0, 0.2), (3, 3, 3, 255, 0.3), (4, 4, 4, 9, 0.4)],
                     dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("label", "i2"), ("quality", "f8")])
    path = tmp_path / "be.ply"
    plyfile.PlyData([plyfile.PlyElement.describe(faces, "face"), plyfile.PlyElement.describe(verts, "vertex")],
                    byte_order=">").write(str(path))
    back, _ = read_point_cloud_ply(path)
    np.testing.assert_array_equal(back.labels, [7, 0, 255, 9])
    np.testing.assert_array_equal(back.points[0], [1.5, 2.0, -1.0])


@pytest.mark.parametrize("content, message", [
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
     b"property float z\nend_header\n" + b"\0" * 12, "has no 'label' property"),
    (b"solid cube\nfacet normal 0 0 1\n", "is not a PLY file"),
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 5\nproperty float x\nproperty float y\n"
     b"property float z\nproperty int label\nend_header\n" + b"\0" * 20, "is truncated"),
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty quad x\nend_header\n",
     "unknown PLY property type"),
    (None, "not found"),  # no file at all
])
def test_read_ply_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.ply"
    if content is not None:
        path.write_bytes(content)
    raises_naming_file(read_point_cloud_ply, path, message)


def test_write_cloud_ply_rejects_labels_outside_the_set(tmp_path, cloud, label_set):
    bad = LabeledPointCloud(cloud.points, cloud.normals, cloud.colors, np.where(cloud.labels == 2, 9, cloud.labels))
    with pytest.raises(DnerfError, match=r"bad\.ply.*\[9\]"):
        write_point_cloud_ply(tmp_path / "bad.ply", bad, label_set)
    assert not (tmp_path / "bad.ply").exists()


# --- PLY: meshes -------------------------------------------------------------------------------------
def test_mesh_ply_face_labels_through_plyfile_and_own_reader(tmp_path, mesh, label_set):
    path = tmp_path / "mesh.ply"
    write_mesh_ply(path, mesh, label_set)
    data = plyfile.PlyData.read(str(path))
    f = data["face"].data
    assert f.dtype.names == ("vertex_indices", "label")
    np.testing.assert_array_equal(f["label"], mesh.face_labels)
    np.testing.assert_array_equal(np.stack(f["vertex_indices"]), mesh.faces)
    v = data["vertex"].data
    np.testing.assert_array_equal(np.stack([v["red"], v["green"], v["blue"]], 1), mesh.vertex_colors)
    back, legend = read_mesh_ply(path)
    assert legend == label_set
    np.testing.assert_array_equal(back.faces, mesh.faces)
    np.testing.assert_array_equal(back.face_labels, mesh.face_labels)
    np.testing.assert_array_equal(back.vertices, mesh.vertices)
    # Any mesh tool reads the geometry.
    loaded = trimesh.load(path, process=False)
    assert len(loaded.faces) == len(mesh.faces)


# --- GLB ---------------------------------------------------------------------------------------------
def test_glb_passes_khronos_validator(tmp_path, mesh, label_set, gltf_validator):
    path = tmp_path / "mesh.glb"
    write_glb(path, mesh, label_set)
    report = gltf_validator(path)
    issues = report["issues"]
    assert issues["numErrors"] == 0, issues["messages"]
    assert issues["numWarnings"] == 0, issues["messages"]
    assert report["info"]["totalTriangleCount"] == len(mesh.faces)


def test_glb_has_one_named_node_material_per_present_part(tmp_path, mesh, label_set):
    path = tmp_path / "mesh.glb"
    write_glb(path, mesh, label_set)
    tree = _glb_json(path)
    assert [n["name"] for n in tree["nodes"]] == list(MESH_PARTS)
    assert [m["name"] for m in tree["meshes"]] == list(MESH_PARTS)
    assert [m["name"] for m in tree["materials"]] == list(MESH_PARTS)
    for node in tree["nodes"]:
        lab = label_set.labels[label_set.id_of(node["name"])]
        assert node["extras"] == {"label_id": lab.id, "label_color": list(lab.color)}
        material = tree["materials"][tree["meshes"][node["mesh"]]["primitives"][0]["material"]]
        pbr = material["pbrMetallicRoughness"]
        assert pbr["metallicFactor"] == 0.0 and pbr["roughnessFactor"] == pytest.approx(0.8)
        # glTF color factors are linear; converted back they are the label's sRGB color exactly.
        np.testing.assert_array_equal(np.round(linear_to_srgb(pbr["baseColorFactor"][:3])), lab.color)
    assert LabelSet.from_dict(tree["scenes"][0]["extras"]["dnerf_labels"]) == label_set


def test_glb_reloads_in_trimesh_with_part_names_and_colors(tmp_path, mesh, label_set):
    path = tmp_path / "mesh.glb"
    write_glb(path, mesh, label_set)
    scene = trimesh.load(path)
    assert sorted(scene.geometry) == sorted(MESH_PARTS)
    assert sorted(scene.graph.nodes_geometry) == sorted(MESH_PARTS)
    for name, geom in scene.geometry.items():
        lab = label_set.labels[label_set.id_of(name)]
        assert geom.metadata["label_id"] == lab.id  # mesh extras come back as metadata
        assert geom.visual.material.name == name
        # trimesh keeps material colors as uint8 of the (linear) factor
        expected = np.round(srgb_to_linear(lab.color) * 255)
        np.testing.assert_allclose(geom.visual.material.baseColorFactor[:3], expected, atol=1)
        assert len(geom.faces) == int((mesh.face_labels == lab.id).sum())
    box = scene.geometry["body"]
    np.testing.assert_allclose(box.bounds, [[-0.5, -0.25, -1.0], [0.5, 0.25, 1.0]], atol=1e-6)  # units as given


@pytest.mark.slow
@pytest.mark.e2e
def test_glb_bytes_are_identical_across_processes(tmp_path):
    script = (
        "import sys, numpy as np, trimesh\n"
        "from dnerf_core.labels import LabelSet\n"
        "from dnerf_core.factory.types import LabeledMesh\n"
        "from dnerf_core.factory.export.glb import write_glb\n"
        "ls = LabelSet.from_names(['a', 'b', 'c'], [(0,0,0), (1,2,3), (4,5,6), (7,8,9)])\n"
        "m = trimesh.creation.icosphere(2)\n"
        "labels = np.arange(len(m.faces)) % 3 + 1\n"
        "write_glb(sys.argv[1], LabeledMesh(m.vertices, m.faces, labels, np.zeros_like(m.vertices)), ls)\n")
    outs = []
    for seed in ("1", "2"):  # different hash seeds: no dict/set-order dependence
        out = tmp_path / f"m{seed}.glb"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, cwd=REPO, timeout=120)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_glb_errors(tmp_path, mesh, label_set):
    bad = LabeledMesh(mesh.vertices, mesh.faces, np.full(len(mesh.faces), 7), mesh.vertex_colors)
    with pytest.raises(DnerfError, match=r"x\.glb.*\[7\]"):
        write_glb(tmp_path / "x.glb", bad, label_set)
    empty = LabeledMesh(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)))
    with pytest.raises(DnerfError, match=r"e\.glb.*no faces"):
        write_glb(tmp_path / "e.glb", empty, label_set)
    assert list(tmp_path.iterdir()) == []


# --- masks -------------------------------------------------------------------------------------------
def test_mask_png_is_a_palette_png_of_ids(tmp_path, label_image, label_set):
    path = tmp_path / "m.png"
    write_mask_png(path, label_image, label_set)
    img = Image.open(path)
    assert img.mode == "P" and img.size == (16, 12)
    np.testing.assert_array_equal(np.asarray(img), label_image)
    palette = np.array(img.getpalette(), dtype=np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(palette[:len(label_set)], label_set.palette())
    assert tuple(palette[IGNORE_ID]) == IGNORE_COLOR
    np.testing.assert_array_equal(read_mask_png(path, label_set, expected_size=(12, 16)), label_image)


def test_mask_png_accepts_torch_and_rejects_unknown_ids(tmp_path, label_image, label_set):
    write_mask_png(tmp_path / "t.png", torch.from_numpy(label_image), label_set)
    bad = label_image.copy()
    bad[3, 3] = 17
    with pytest.raises(DnerfError, match=r"bad\.png.*17 \(1 px\)"):
        write_mask_png(tmp_path / "bad.png", bad, label_set)
    with pytest.raises(DnerfError, match="must be \\[H,W\\]"):
        write_mask_png(tmp_path / "bad.png", label_image[None], label_set)
    assert not (tmp_path / "bad.png").exists()


def test_read_mask_grayscale_and_16bit(tmp_path, label_image, label_set):
    Image.fromarray(label_image.astype(np.uint8)).save(tmp_path / "l.png")
    np.testing.assert_array_equal(read_mask_png(tmp_path / "l.png", label_set), label_image)
    Image.frombytes("I;16", (16, 12), label_image.astype("<u2").tobytes()).save(tmp_path / "i16.png")
    back = read_mask_png(tmp_path / "i16.png", label_set)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, label_image)


def test_read_mask_rgb_and_rgba_painted_in_label_colors(tmp_path, label_image, label_set):
    palette = np.zeros((256, 3), np.uint8)
    palette[:len(label_set)] = label_set.palette()
    palette[IGNORE_ID] = IGNORE_COLOR
    rgb = palette[label_image]  # [H,W,3]
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask_png(tmp_path / "rgb.png", label_set), label_image)
    rgba = np.concatenate([rgb, np.full((12, 16, 1), 255, np.uint8)], axis=2)
    rgba[5, 5] = (1, 2, 3, 0)  # fully transparent: unlabeled, whatever its color
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    expected = label_image.copy()
    expected[5, 5] = IGNORE_ID
    np.testing.assert_array_equal(read_mask_png(tmp_path / "rgba.png", label_set), expected)


def _expect_annotation_error(path, match, **kwargs):
    with pytest.raises(AnnotationError, match=match) as info:
        read_mask_png(path, **kwargs)
    assert str(path) in str(info.value)
    return str(info.value)


def test_read_mask_errors_name_the_file(tmp_path, label_image, label_set):
    _expect_annotation_error(tmp_path / "missing.png", "not found", label_set=label_set)
    (tmp_path / "text.png").write_text("hello")
    _expect_annotation_error(tmp_path / "text.png", "is not an image", label_set=label_set)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "photo.jpg", format="JPEG")
    _expect_annotation_error(tmp_path / "photo.jpg", "JPEG.*must be PNG", label_set=label_set)

    write_mask_png(tmp_path / "ok.png", label_image, label_set)
    _expect_annotation_error(tmp_path / "ok.png", "is 16x12 pixels.*expected 32x32", label_set=label_set,
                             expected_size=32)
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    _expect_annotation_error(tmp_path / "cut.png", "damaged", label_set=label_set)

    gray = label_image.astype(np.uint8)
    gray[2, 4] = 9
    Image.fromarray(gray).save(tmp_path / "unknown_id.png")
    msg = _expect_annotation_error(tmp_path / "unknown_id.png", "not in the label set: 9 \\(1 px\\)",
                                   label_set=label_set)
    assert "valid ids are 0..4" in msg

    rgb = label_set.palette()[np.clip(label_image, 0, len(label_set) - 1)]
    rgb[7, 2] = (12, 34, 56)  # e.g. an anti-aliased edge
    Image.fromarray(rgb).save(tmp_path / "unknown_color.png")
    msg = _expect_annotation_error(tmp_path / "unknown_color.png", r"1 pixels.*\(12, 34, 56\) at \(x=2, y=7\)",
                                   label_set=label_set)
    assert "front window (5, 5, 250)" in msg
    _expect_annotation_error(tmp_path / "unknown_color.png", "needs the label set")
    # Without a label set, ids are returned as they are.
    np.testing.assert_array_equal(read_mask_png(tmp_path / "unknown_id.png"), gray)


# --- RGB images --------------------------------------------------------------------------------------
def test_write_rgb_png_float_and_uint8(tmp_path):
    rgb = np.array([[[0.0, 0.5, 1.0], [-0.2, 1.7, 0.2]]], np.float32)  # [1,2,3]
    write_rgb_png(tmp_path / "f.png", rgb)
    img = Image.open(tmp_path / "f.png")
    assert img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), [[[0, 128, 255], [0, 255, 51]]])
    u8 = np.random.default_rng(1).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    write_rgb_png(tmp_path / "u.png", torch.from_numpy(u8))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "u.png")), u8)
    with pytest.raises(DnerfError, match=r"bad\.png.*\[H,W,3\]"):
        write_rgb_png(tmp_path / "bad.png", np.zeros((3, 5, 7)))


# --- depth -------------------------------------------------------------------------------------------
def test_depth_png_round_trip_within_half_a_step(tmp_path):
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.1, 5.0, (9, 11)).astype(np.float32)
    depth[0, 0], depth[0, 1], depth[0, 2], depth[0, 3] = np.nan, np.inf, 0.0, -1.0
    depth[1, 0] = 100.0  # beyond 16 bits: clipped
    valid = np.ones_like(depth, bool)
    valid[2, 2] = False
    path = tmp_path / "d.png"
    write_depth_png(path, depth, DEFAULT_DEPTH_SCALE, valid=valid)
    img = Image.open(path)
    assert img.mode.startswith("I") and np.asarray(img).dtype in (np.uint16, np.int32)
    assert float(img.text["depth_scale"]) == DEFAULT_DEPTH_SCALE
    back, scale = read_depth_png(path)
    assert scale == DEFAULT_DEPTH_SCALE and back.dtype == np.float32
    missing = np.zeros_like(valid)
    missing[0, :4] = missing[2, 2] = True
    assert np.isnan(back[missing]).all()
    assert back[1, 0] == pytest.approx(65535 * DEFAULT_DEPTH_SCALE)
    ok = ~missing
    ok[1, 0] = False
    assert np.abs(back[ok] - depth[ok]).max() <= DEFAULT_DEPTH_SCALE / 2 + 1e-6
    # A tiny positive depth is stored as one step, never as "no depth".
    write_depth_png(path, np.full((2, 2), 1e-9), DEFAULT_DEPTH_SCALE)
    assert np.asarray(Image.open(path)).min() == 1


def test_depth_png_errors_and_npy(tmp_path):
    Image.fromarray(np.full((3, 3), 500, np.uint16)).save(tmp_path / "foreign.png")
    with pytest.raises(DnerfError, match=r"foreign\.png does not record its depth scale"):
        read_depth_png(tmp_path / "foreign.png")
    back, scale = read_depth_png(tmp_path / "foreign.png", scale=1e-3)
    assert scale == 1e-3 and back[0, 0] == pytest.approx(0.5)
    with pytest.raises(DnerfError, match="depth scale must be a positive"):
        write_depth_png(tmp_path / "x.png", np.ones((2, 2)), 0.0)
    with pytest.raises(DnerfError, match="not found"):
        read_depth_png(tmp_path / "none.png")
    depth = np.array([[1.25, np.nan]], np.float32)
    write_depth_npy(tmp_path / "d.npy", depth)
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), depth)


# --- transforms.json ---------------------------------------------------------------------------------
def _frames(n: int) -> list[FrameFiles]:
    return [FrameFiles(f"rgb/{i:03d}.png", f"mask/{i:03d}.png", f"depth/{i:03d}.png") for i in range(n)]


@pytest.mark.parametrize("per_frame", [False, True])
def test_transforms_json_round_trip(tmp_path, per_frame):
    cams = _cameras(per_frame)
    path = tmp_path / "transforms.json"
    write_transforms_json(path, cams, 64, 48, _frames(3), depth_scale=DEFAULT_DEPTH_SCALE,
                          extra={"labels_file": "labels.json", "seed": 7}, ply_file_path="cloud.ply")
    data = json.loads(path.read_text())
    assert data["camera_model"] == "OPENCV" and (data["w"], data["h"]) == (64, 48)
    assert all(data[k] == 0 for k in ("k1", "k2", "p1", "p2"))
    assert data["depth_unit_scale_factor"] == DEFAULT_DEPTH_SCALE
    assert data["ply_file_path"] == "cloud.ply" and data["labels_file"] == "labels.json"
    assert data["fl_x"] == pytest.approx(4.2647 * 64, rel=1e-6) and data["cy"] == pytest.approx(0.55 * 48)
    frame = data["frames"][1]
    assert frame["file_path"] == "rgb/001.png" and frame["mask_path"] == "mask/001.png"
    assert frame["depth_file_path"] == "depth/001.png"
    assert ("fl_x" in frame) == per_frame
    np.testing.assert_array_equal(frame["transform_matrix"], cams.cam2world_opengl()[1].double().numpy())
    back, frames, w, h = read_transforms_json(path)
    assert (w, h) == (64, 48) and frames == _frames(3)
    assert torch.equal(back.cam2world, cams.cam2world)
    assert torch.equal(back.intrinsics, cams.intrinsics)


def test_transforms_json_projection_matches_cameras_project(tmp_path):
    """Project with nerfstudio's math (OpenGL c2w, pixel focal lengths) from the JSON alone."""
    cams = _cameras(per_frame_intrinsics=True)
    width, height = 64, 48
    path = tmp_path / "transforms.json"
    write_transforms_json(path, cams, width, height, _frames(3), depth_scale=DEFAULT_DEPTH_SCALE)
    data = json.loads(path.read_text())
    points = torch.tensor(np.random.default_rng(3).uniform(-0.4, 0.4, (1, 20, 3)), dtype=torch.float64)
    for i, frame in enumerate(data["frames"]):
        c2w_gl = np.array(frame["transform_matrix"])
        fl_x, fl_y = frame.get("fl_x", data["fl_x"]), frame.get("fl_y", data["fl_y"])
        cx, cy = frame.get("cx", data["cx"]), frame.get("cy", data["cy"])
        world = np.concatenate([points[0].numpy(), np.ones((20, 1))], 1)
        x, y, z = (np.linalg.inv(c2w_gl) @ world.T)[:3]  # OpenGL camera: looks down -z, y up
        u, v = fl_x * x / -z + cx, -fl_y * y / -z + cy
        uv, _ = cams[i].to(dtype=torch.float64).project(points)
        np.testing.assert_allclose(u, uv[0, :, 0].numpy() * width, atol=1e-4)
        np.testing.assert_allclose(v, uv[0, :, 1].numpy() * height, atol=1e-4)


def test_transforms_json_errors(tmp_path):
    cams = _cameras(False)
    path = tmp_path / "transforms.json"
    with pytest.raises(DnerfError, match="2 frames for 3 cameras"):
        write_transforms_json(path, cams, 64, 48, _frames(2), depth_scale=1e-3)
    with pytest.raises(DnerfError, match="depth_scale is required"):
        write_transforms_json(path, cams, 64, 48, _frames(3))
    with pytest.raises(DnerfError, match="would overwrite"):
        write_transforms_json(path, cams, 64, 48, _frames(3), depth_scale=1e-3, extra={"fl_x": 1})
    assert not path.exists()
    path.write_text(json.dumps({"camera_model": "OPENCV", "fl_x": 50, "w": 64, "h": 48, "k1": 0.1,
                                "frames": [{"file_path": "a.png", "transform_matrix": np.eye(4).tolist()}]}))
    with pytest.raises(DnerfError, match="distortion"):
        read_transforms_json(path)
    path.write_text("{not json")
    with pytest.raises(DnerfError, match="transforms.json is not valid JSON"):
        read_transforms_json(path)


def test_read_instant_ngp_camera_angle(tmp_path):
    path = tmp_path / "transforms.json"
    angle = 2 * math.atan(0.5 / 1.2)  # normalized focal 1.2
    path.write_text(json.dumps({"camera_angle_x": angle, "w": 40, "h": 40,
                                "frames": [{"file_path": "a", "transform_matrix": np.eye(4).tolist()}]}))
    cams, frames, w, h = read_transforms_json(path)
    assert cams.intrinsics[0, 0, 0].item() == pytest.approx(1.2) and cams.intrinsics[0, 1, 2].item() == 0.5
    assert frames == [FrameFiles("a")]
    # OpenGL identity = camera looking down world -z: OpenCV forward is -z.
    np.testing.assert_allclose(cams.forward[0].numpy(), [0, 0, -1])


# --- atomic writes and determinism ------------------------------------------------------------------
def _writers(cloud, mesh, label_set, label_image):
    depth = np.linspace(0.5, 3.0, 12 * 16).reshape(12, 16)
    return {
        "cloud.ply": lambda p: write_point_cloud_ply(p, cloud, label_set),
        "mesh.ply": lambda p: write_mesh_ply(p, mesh, label_set),
        "mesh.glb": lambda p: write_glb(p, mesh, label_set),
        "mask.png": lambda p: write_mask_png(p, label_image, label_set),
        "rgb.png": lambda p: write_rgb_png(p, np.linspace(0, 1, 12 * 16 * 3).reshape(12, 16, 3)),
        "depth.png": lambda p: write_depth_png(p, depth, DEFAULT_DEPTH_SCALE),
        "depth.npy": lambda p: write_depth_npy(p, depth),
        "transforms.json": lambda p: write_transforms_json(p, _cameras(True), 16, 12, _frames(3), 1e-4),
    }


WRITER_NAMES = ["cloud.ply", "mesh.ply", "mesh.glb", "mask.png", "rgb.png", "depth.png", "depth.npy",
                "transforms.json"]


@pytest.mark.parametrize("name", WRITER_NAMES)
def test_writes_are_byte_identical(tmp_path, name, cloud, mesh, label_set, label_image):
    write = _writers(cloud, mesh, label_set, label_image)[name]
    write(tmp_path / "a" / name)
    write(tmp_path / "b" / name)
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


class _Boom(RuntimeError):
    pass


@pytest.mark.parametrize("name", WRITER_NAMES)
def test_failure_at_the_end_of_a_write_leaves_nothing(tmp_path, monkeypatch, name, cloud, mesh, label_set,
                                                      label_image):
    """All data written, then the flush to disk fails: no file, no temp file, old file intact."""
    write = _writers(cloud, mesh, label_set, label_image)[name]

    def failing_fsync(fd):
        raise _Boom("disk full")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(_Boom):
        write(tmp_path / "new" / name)
    assert list((tmp_path / "new").iterdir()) == []
    old = tmp_path / "old" / name
    old.parent.mkdir()
    old.write_bytes(b"previous")
    with pytest.raises(_Boom):
        write(old)
    assert list(old.parent.iterdir()) == [old] and old.read_bytes() == b"previous"


@pytest.mark.parametrize("module, name", [(ply, "cloud.ply"), (masks, "mask.png"), (depth_mod, "depth.png"),
                                          (images, "rgb.png")])
def test_exception_mid_write_leaves_no_partial_file(tmp_path, monkeypatch, module, name, cloud, mesh, label_set,
                                                    label_image):
    """The first chunk reaches the temp file, the second write raises."""

    class FailingSecondWrite:
        def __init__(self, fh):
            self.fh, self.calls = fh, 0

        def write(self, data):
            self.calls += 1
            if self.calls > 1:
                raise _Boom("mid-write")
            return self.fh.write(data)

        def __getattr__(self, item):
            return getattr(self.fh, item)

    real_open = atomic.atomic_open

    @contextlib.contextmanager
    def failing_open(path, mode="wb"):
        with real_open(path, mode) as fh:
            yield FailingSecondWrite(fh)

    monkeypatch.setattr(module, "atomic_open", failing_open)
    with pytest.raises(_Boom):
        _writers(cloud, mesh, label_set, label_image)[name](tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_glb_failure_inside_trimesh_leaves_nothing(tmp_path, monkeypatch, mesh, label_set):
    def broken_export(*args, **kwargs):
        raise _Boom("exporter crashed")

    monkeypatch.setattr(trimesh.Scene, "export", broken_export)
    with pytest.raises(_Boom):
        write_glb(tmp_path / "m.glb", mesh, label_set)
    assert list(tmp_path.iterdir()) == []
