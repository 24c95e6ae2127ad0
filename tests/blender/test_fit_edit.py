"""Fit edit by inversion: the edit mask image of a rig camera, the repainted part attribute, and
the operator that fits the edit and replaces the subject (default:face, a few steps)."""
from __future__ import annotations

import math
import time

import bpy
import numpy as np
import pytest
import torch

from blender_addon import edit, generator_spec, rig, subject
from blender_addon.jobs import ModalRunner
from dnerf_core.cameras import spread_orbit_cameras
from dnerf_core.errors import DnerfError
from dnerf_core.factory.mesh import extract_mesh
from dnerf_core.inversion.edit import DEFAULT_KEEP_WEIGHT, DEFAULT_LABEL_KEEP_WEIGHT, EDIT_FIT, render_view
from dnerf_core.inversion.pose import Pose
from dnerf_core.inversion.subject_file import load_fitted

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEC, SEED, MESH_RES, VIEWS, CAM = "default:face", 3, 48, 3, 1  # camera 1 of 3: yaw 0, facing the subject
STEPS = 3


@pytest.fixture(scope="module")
def labeled():
    return generator_spec.load_labeled(SPEC)


@pytest.fixture
def rigged(scene):
    """A mesh subject, a 3-camera rig, the front camera as the scene camera."""
    ob = subject.generate_subject(subject.SubjectRequest(SPEC, seed=SEED, mesh_resolution=MESH_RES))
    rig_ob = rig.build_camera_rig(SPEC, VIEWS)
    cam = rig.rig_cameras(rig_ob)[CAM]
    scene.camera = cam
    bpy.context.view_layer.objects.active = ob
    return ob, cam


def _front_pose(labeled) -> Pose:
    """The pose of rig camera CAM, from spread_orbit_cameras' own formula (independent of edit.py)."""
    orbit = labeled.generator.orbit
    y0, y1 = orbit.yaw_range
    p0, p1 = orbit.pitch_range
    return Pose(y0 + (y1 - y0) * (CAM + 0.5) / VIEWS, p0 + (p1 - p0) * (0.3 if CAM % 2 == 0 else 0.7), orbit.radius)


def _one_error(op, **kwargs) -> str:
    with pytest.raises(RuntimeError) as info:
        op(**kwargs)
    lines = str(info.value).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in lines[0], lines
    return lines[0][len("Error: "):]


def _snapshot(ob):
    """What a failed operator must leave as it was."""
    return {"objects": sorted(o.name for o in bpy.data.objects), "meshes": sorted(m.name for m in bpy.data.meshes),
            "images": sorted(i.name for i in bpy.data.images), "data": ob.data.name,
            "part": subject.part_values(ob).tolist(), "file": ob.get(subject.PROP_SUBJECT_FILE),
            "verts": len(ob.data.vertices)}


def _image_labels(image, label_set) -> np.ndarray:
    return edit.mask_from_rgba(edit.image_pixels(image), label_set, image.size[1], image.name)


def test_camera_pose_is_the_rig_pose(rigged, labeled):
    ob, cam = rigged
    pose = edit.camera_pose(edit.camera_state(cam), labeled.generator.orbit)
    want = _front_pose(labeled)
    assert (pose.yaw, pose.pitch, pose.radius) == pytest.approx((want.yaw, want.pitch, want.radius), abs=1e-5)
    np.testing.assert_allclose(pose.cameras(labeled.generator.orbit).cam2world.numpy(),
                               spread_orbit_cameras(VIEWS, labeled.generator.orbit).cam2world[CAM:CAM + 1].numpy(),
                               atol=1e-5)
    # the add-on's defaults are dnerf_core's
    assert bpy.context.scene.dnerf.edit_steps == EDIT_FIT.steps
    assert bpy.context.scene.dnerf.edit_keep_weight == pytest.approx(DEFAULT_KEEP_WEIGHT)
    assert bpy.context.scene.dnerf.edit_label_keep_weight == pytest.approx(DEFAULT_LABEL_KEEP_WEIGHT)


def test_edit_mask_image_round_trips(rigged, labeled):
    ob, cam = rigged
    assert bpy.ops.dnerf.make_edit_mask() == {"FINISHED"}
    image = edit.find_mask_image(ob, cam)
    assert image is not None and image.name == f"dnerf edit mask {cam.name}"
    size = labeled.generator.config.img_resolution
    assert tuple(image.size) == (size, size)
    yaw, pitch, radius = image[edit.IMAGE_POSE_PROP]
    view = render_view(labeled, labeled.sample([SEED]), Pose(yaw, pitch, radius))
    want = view.labels.numpy()
    assert len(np.unique(want)) >= 4  # a real multi-part view
    # the stored pixels are exactly the label colors, top row first (Blender stores bottom row first)
    px = edit.image_pixels(image)
    np.testing.assert_array_equal(np.round(px[..., :3] * 255).astype(np.uint8), labeled.label_set.palette()[want])
    assert (px[..., 3] == 1).all()
    np.testing.assert_array_equal(_image_labels(image, labeled.label_set), want)
    # transparent pixels read back as don't care
    rgba = px.copy()
    rgba[:4, :4, 3] = 0
    ids = edit.mask_from_rgba(rgba, labeled.label_set, size, image.name)
    assert (ids[:4, :4] == 255).all() and (ids[4:] == want[4:]).all()


def _paint_block(labels: np.ndarray, label_set):
    """A block in the upper middle of the subject, painted as hair (or skin where it is hair)."""
    ys, xs = np.nonzero(labels > 0)
    y0 = ys.min() + (ys.max() - ys.min()) // 3
    x0 = (xs.min() + xs.max()) // 2 - 5
    hair = label_set.id_of("hair")
    block = (slice(y0, y0 + 8), slice(x0, x0 + 10))
    edited = labels.copy()
    edited[block] = hair
    assert (edited != labels).sum() >= 20
    return edited, block, hair


def test_fit_edit_from_painted_image(rigged, labeled, tmp_path):
    ob, cam = rigged
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))  # edits go next to the .blend
    ob = bpy.data.objects[ob.name]
    bpy.ops.dnerf.make_edit_mask()
    image = edit.find_mask_image(ob, cam)
    before_labels = _image_labels(image, labeled.label_set)
    edited, block, hair = _paint_block(before_labels, labeled.label_set)
    edit.write_mask_image(image, edited, labeled.label_set)  # what painting in the Image Editor does
    old_verts = np.array([v.co[:] for v in ob.data.vertices])
    name, data_name, matrix = ob.name, ob.data.name, [list(r) for r in ob.matrix_world]

    assert bpy.ops.dnerf.fit_edit(steps=STEPS) == {"FINISHED"}
    region = int((edited != before_labels).sum())
    summary = bpy.context.scene.dnerf.last_result
    assert summary.startswith(f"{name} edited (image): {region} pixels changed") and "dnerf_edits" in summary

    ob = bpy.data.objects[name]
    assert ob.data.name == data_name and [list(r) for r in ob.matrix_world] == matrix
    stored = ob[subject.PROP_SUBJECT_FILE]
    assert stored == "//dnerf_edits/default_face-3_edit1.pt"  # next to the .blend, blend-relative
    path = bpy.path.abspath(stored)
    assert (tmp_path / "dnerf_edits").is_dir() and path.startswith(str(tmp_path))
    fitted = load_fitted(path, labeled)
    assert fitted.kind == "edit" and fitted.info["steps"] == STEPS and fitted.info["source"] == "image"
    assert fitted.info["region_pixels"] == int((edited != before_labels).sum())
    assert not torch.equal(fitted.ws, labeled.sample([SEED]).ws)  # new latents
    # the object holds the edited subject's mesh: geometry and part labels of extract_mesh on it
    want = extract_mesh(labeled, fitted.subject(labeled), resolution=MESH_RES)
    attr = ob.data.attributes["part"]
    assert (attr.data_type, attr.domain) == ("INT", "FACE")
    np.testing.assert_array_equal(subject.part_values(ob), want.face_labels)
    np.testing.assert_array_equal(np.array([v.co[:] for v in ob.data.vertices], np.float32),
                                  want.vertices.astype(np.float32))
    assert old_verts.shape != want.vertices.shape or not np.allclose(old_verts, want.vertices, atol=0, rtol=0)
    orig = np.zeros(len(ob.data.polygons), np.int32)
    ob.data.attributes["part_original"].data.foreach_get("value", orig)
    np.testing.assert_array_equal(orig, want.face_labels)
    mats = np.zeros(len(ob.data.polygons), np.int32)
    ob.data.polygons.foreach_get("material_index", mats)
    np.testing.assert_array_equal(mats, want.face_labels)
    assert [m["dnerf_label_name"] for m in ob.data.materials] == labeled.label_set.names
    # the edit mask image now shows the edited subject's mask, tagged with its new version
    after = render_view(labeled, fitted.subject(labeled), fitted.pose).labels.numpy()
    np.testing.assert_array_equal(_image_labels(image, labeled.label_set), after)
    assert image[edit.IMAGE_SOURCE_PROP] == edit.source_key(ob)
    # rebuilding the subject from the object (what Render multi-view does) gives the edited one
    assert subject.request_of(ob).subject_file == path
    # nothing changed since: a second fit has nothing to edit
    msg = _one_error(bpy.ops.dnerf.fit_edit, steps=1)
    assert "identical to the subject's current mask" in msg


def _repaint_front_faces(ob, label_set):
    """Repaint skin faces in a ball on the front of the face as hair; returns their mask and ids."""
    me = ob.data
    part = subject.part_values(ob)
    centers = np.array([p.center[:] for p in me.polygons])
    skin, hair = label_set.id_of("skin"), label_set.id_of("hair")
    front = centers[part == skin]
    anchor = front[np.argmax(front[:, 2])] - np.array([0.0, 0.0, 0.02])  # the most frontal skin
    pick = (part == skin) & (np.linalg.norm(centers - anchor, axis=1) < 0.12)
    assert pick.sum() >= 10
    part = part.copy()
    part[pick] = hair
    me.attributes["part"].data.foreach_set("value", part)
    return pick, hair


def test_part_repaint_mask_is_where_the_repaint_projects(rigged, labeled):
    ob, cam = rigged
    label_set = labeled.label_set
    pick, hair = _repaint_front_faces(ob, label_set)
    pose = edit.camera_pose(edit.camera_state(cam), labeled.generator.orbit)
    cameras = pose.cameras(labeled.generator.orbit)
    current = render_view(labeled, labeled.sample([SEED]), pose).labels.numpy()
    paint = edit.read_part_paint(ob, len(label_set.labels))
    edited = edit.part_edit_mask(paint, current, cameras, ob.name)
    changed = edited != current
    assert changed.sum() >= 5 and (edited[changed] == hair).all()
    # changed pixels lie where the repainted faces project (dnerf's own projection of their corners)
    me = ob.data
    corners = np.array([me.vertices[i].co[:] for p, keep in zip(me.polygons, pick) if keep for i in p.vertices])
    uv, _ = cameras.project(torch.tensor(corners, dtype=torch.float64)[None])
    size = current.shape[0]
    px = uv[0].numpy() * size
    ys, xs = np.nonzero(changed)
    assert xs.min() >= px[:, 0].min() - 1 and xs.max() <= px[:, 0].max() + 1
    assert ys.min() >= px[:, 1].min() - 1 and ys.max() <= px[:, 1].max() + 1
    # and every changed pixel's ray hits a repainted face first
    faces = edit.cast_faces(paint, cameras, size)
    assert pick[faces[changed]].all()
    # pixels seeing repainted faces that dnerf already labels hair stay as they are (no change)
    sees = (faces >= 0) & pick[np.maximum(faces, 0)]
    assert (changed == (sees & (current != hair))).all()


def test_fit_edit_from_repainted_part(rigged, labeled, tmp_path):
    ob, cam = rigged
    pick, hair = _repaint_front_faces(ob, labeled.label_set)
    name = ob.name
    # the label keep weight is checked by the library's edit settings (dnerf_core.EditOptions)
    # before anything is fitted
    with pytest.raises(DnerfError, match="--label-keep-weight must be at least 0"):
        edit.fit_edit(ob, cam, steps=1, source="PART", folder=tmp_path, label_keep_weight=-1.0)
    # as the UI runs it: a timer tick at a time, the fit in a worker thread
    runner = ModalRunner(edit.fit_edit_job(ob, cam, steps=1, source="PART", folder=tmp_path))
    ticks, busy_seen = 0, False
    while not runner.tick():
        ticks += 1
        busy_seen = busy_seen or runner.busy
        time.sleep(0.01)
    assert runner.error is None and not runner.cancelled, runner.error
    assert busy_seen and ticks > 10  # tick() returned while the worker ran: the UI would stay live
    out = runner.result
    ob = bpy.data.objects[name]
    assert out.source == "part" and out.region_pixels >= 5
    assert ob[subject.PROP_SUBJECT_FILE] == str(tmp_path / "default_face-3_edit1.pt")
    fitted = load_fitted(ob[subject.PROP_SUBJECT_FILE], labeled)
    assert fitted.info["source"] == "part" and fitted.info["camera"] == cam.name
    # the new part and part_original are the edited subject's labels (the repaint is consumed)
    orig = np.zeros(len(ob.data.polygons), np.int32)
    ob.data.attributes["part_original"].data.foreach_get("value", orig)
    np.testing.assert_array_equal(subject.part_values(ob), orig)


# --- errors: one ERROR report, scene untouched ------------------------------------------------------
def test_no_rig_camera(rigged):
    ob, cam = rigged
    before = _snapshot(ob)
    bpy.context.scene.camera = None
    assert "no active camera" in _one_error(bpy.ops.dnerf.fit_edit, steps=1)
    plain = bpy.data.objects.new("plain camera", bpy.data.cameras.new("plain camera"))
    bpy.context.scene.collection.objects.link(plain)
    bpy.context.scene.camera = plain
    before = _snapshot(ob)
    msg = _one_error(bpy.ops.dnerf.fit_edit, steps=1)
    assert msg.startswith("plain camera is not a camera of a dnerf rig")
    assert _one_error(bpy.ops.dnerf.make_edit_mask).startswith("plain camera is not a camera of a dnerf rig")
    assert _snapshot(ob) == before


def test_rotated_camera_is_refused(rigged):
    ob, cam = rigged
    cam.rotation_euler.x += 0.2
    bpy.context.view_layer.update()
    before = _snapshot(ob)
    assert "does not look at the generator's orbit pivot" in _one_error(bpy.ops.dnerf.make_edit_mask)
    assert _snapshot(ob) == before


def test_image_of_wrong_size(rigged, labeled):
    ob, cam = rigged
    bpy.ops.dnerf.make_edit_mask()
    image = edit.find_mask_image(ob, cam)
    image.scale(32, 32)
    before = _snapshot(ob)
    msg = _one_error(bpy.ops.dnerf.fit_edit, steps=1)
    assert msg.startswith(f"the edit mask image '{image.name}' is 32x32 pixels; this generator's views are 64x64")
    assert _snapshot(ob) == before


def test_image_with_color_not_in_palette(rigged, labeled):
    ob, cam = rigged
    bpy.ops.dnerf.make_edit_mask()
    image = edit.find_mask_image(ob, cam)
    px = edit.image_pixels(image)
    px[10:12, 20:23, :3] = (0.5, 1.0, 0.0)  # chartreuse: far from every face label color
    assert np.abs(labeled.label_set.palette().astype(int) - [128, 255, 0]).max(axis=1).min() > edit.COLOR_TOLERANCE
    image.pixels.foreach_set(np.ascontiguousarray(px[::-1]).ravel())
    before = _snapshot(ob)
    msg = _one_error(bpy.ops.dnerf.fit_edit, steps=1)
    assert msg.startswith(f"the edit mask image '{image.name}' has 6 pixels whose color is not a part color")
    assert "RGB (128, 255, 0) at x=20, y=10" in msg
    assert _snapshot(ob) == before


def test_nothing_changed(rigged):
    ob, cam = rigged
    before = _snapshot(ob)
    # no image, part attribute as generated
    msg = _one_error(bpy.ops.dnerf.fit_edit, steps=1)
    assert "is as it was generated: repaint faces first" in msg
    # an unpainted edit mask image
    bpy.ops.dnerf.make_edit_mask()
    before = _snapshot(ob)
    msg = _one_error(bpy.ops.dnerf.fit_edit, steps=1)
    assert msg == "the edited mask is identical to the subject's current mask in this view: nothing to edit"
    assert _snapshot(ob) == before
    assert bpy.context.scene.dnerf.status == msg


def test_moved_camera_makes_the_image_stale(rigged, labeled):
    ob, cam = rigged
    bpy.ops.dnerf.make_edit_mask()
    # move the camera along the orbit (still a valid orbit camera): the mask was drawn for another view
    orbit = labeled.generator.orbit
    moved = Pose(0.2, 0.1, orbit.radius).cameras(orbit).cam2world_opengl()[0].double().numpy()
    from blender_addon.coords import to_matrix

    cam.matrix_basis = to_matrix(moved)
    bpy.context.view_layer.update()
    before = _snapshot(ob)
    assert f"{cam.name} moved since the edit mask image" in _one_error(bpy.ops.dnerf.fit_edit, steps=1)
    assert _snapshot(ob) == before
    assert math.isclose(edit.camera_pose(edit.camera_state(cam), orbit).yaw, 0.2, abs_tol=1e-5)
