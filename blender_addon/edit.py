"""Fit edit by inversion: 3D-aware semantic editing of a subject from one rig camera's view.

The artist says what the view of the active rig camera should look like, in one of two ways:
- the edit mask image (Make edit mask): dnerf's current part mask of that view in the label
  colors, a Blender image named after the camera; they paint parts on it in the Image Editor
  (transparent pixels = don't care). It is read back by nearest label color; a color far from
  every label color is an error naming the image.
- the `part` attribute of the subject mesh, repainted (Edit Mode, Mesh > Set Attribute, or by
  assigning the part's material): the faces' ids as they are now and as spawned
  (`part_original`) are both cast into the view along dnerf's own pixel rays (one ray per pixel
  center through the same Cameras dnerf renders with); where the two differ, the edited mask takes
  the repainted id, elsewhere it is dnerf's current mask.
dnerf_core.edit_subject then fits the subject's w+ to the edited mask (in a worker
thread), the result is saved as a fitted-subject file and the object's geometry is rebuilt from
it (same object, transform, materials; `part` / `part_original` from the edited subject).

Views: a rig camera is turned into dnerf's Pose (yaw, pitch, radius of a look-at camera on the
generator's orbit pivot) from its position relative to the rig; a camera that no longer looks at
the pivot, or whose lens changed, is refused (edits are defined on the generator's orbit).
"""
from __future__ import annotations

import math
import re
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import bpy
import numpy as np

from . import armature, generator_spec, parts
from . import rig as rig_mod
from . import subject as subject_mod
from .coords import to_numpy
from .jobs import Offload, Progress

SOURCES = ("AUTO", "IMAGE", "PART")
IMAGE_PREFIX = "dnerf edit mask"
IMAGE_CAMERA_PROP = "dnerf_edit_camera"
IMAGE_SUBJECT_PROP = "dnerf_edit_subject"
IMAGE_POSE_PROP = "dnerf_edit_pose"  # [yaw, pitch, radius] the mask was rendered at
IMAGE_SOURCE_PROP = "dnerf_edit_source"  # which version of the subject it shows (seed / subject file)
# A painted color counts as a label color when no channel is further than this from it (0..255);
# anything further from every label color is refused (soft brush edges, blended colors).
COLOR_TOLERANCE = 40
ALPHA_DONT_CARE = 0.5  # pixels less opaque than this are "don't care" (255)
POSE_TOLERANCE = 1e-3  # radians / world units: the camera moved since the mask was made
ORBIT_ROTATION_TOLERANCE = 1e-3  # max abs difference of rotation matrix entries to the look-at camera
EDITS_DIR = "dnerf_edits"


def _error(msg: str):
    from dnerf_core import DnerfError

    return DnerfError(msg)


# --- subject and camera ---------------------------------------------------------------------------
def subject_object(ob):
    if ob is None or subject_mod.PROP_KIND not in ob or subject_mod.PROP_LABELS not in ob:
        raise _error("no dnerf subject: select a subject made by 'Generate labeled subject'")
    return ob


def rig_camera(cam):
    """The camera if it is a camera of a dnerf rig, else a DnerfError saying what to do."""
    if cam is None:
        raise _error("no active camera: make a camera of the dnerf rig the scene's active camera")
    if cam.type != "CAMERA" or rig_mod.VIEW_PROP not in cam or cam.parent is None \
            or rig_mod.RIG_PROP not in cam.parent:
        raise _error(f"{cam.name} is not a camera of a dnerf rig: make one of the rig's cameras the active "
                     "camera (Create camera rig)")
    return cam


@dataclass(frozen=True)
class CameraState:
    """What the worker needs of a rig camera (read in the main thread)."""

    name: str
    cam2world_gl: np.ndarray  # [4,4] relative to the rig: OpenGL cam2world in dnerf coordinates
    focal: float  # normalized (focal_px / width)
    rig_spec: str


def camera_state(cam) -> CameraState:
    rig_camera(cam)
    if cam.data.sensor_fit not in ("HORIZONTAL", "AUTO") or cam.data.shift_x or cam.data.shift_y:
        raise _error(f"{cam.name}: only horizontally fitted cameras without lens shift are supported")
    local = to_numpy(cam.parent.matrix_world.inverted() @ cam.matrix_world)
    return CameraState(cam.name, local, rig_mod.focal_of_camera(cam.data), str(cam.parent[rig_mod.RIG_PROP]))


def camera_pose(state: CameraState, orbit):
    """dnerf's Pose of a rig camera, checked to be a look-at camera on the orbit's pivot."""
    from dnerf_core import MAX_ABS_PITCH, Pose

    pos = state.cam2world_gl[:3, 3]
    offset = pos - np.asarray(orbit.pivot, dtype=np.float64)
    radius = float(np.linalg.norm(offset))
    if radius < 1e-6:
        raise _error(f"{state.name} sits on the generator's orbit pivot; move it back onto the orbit")
    pitch = math.asin(max(-1.0, min(1.0, offset[1] / radius)))
    yaw = math.atan2(offset[0], offset[2])
    if abs(pitch) > MAX_ABS_PITCH:
        raise _error(f"{state.name} looks at the subject from {math.degrees(pitch):.0f} degrees of pitch; "
                     f"edits need at most {math.degrees(MAX_ABS_PITCH):.0f}")
    pose = Pose(yaw, pitch, radius)
    want = pose.cameras(orbit).cam2world_opengl()[0].double().numpy()
    if np.abs(want[:3, :3] - state.cam2world_gl[:3, :3]).max() > ORBIT_ROTATION_TOLERANCE:
        raise _error(f"{state.name} does not look at the generator's orbit pivot {tuple(orbit.pivot)} (it was "
                     "rotated): edits need an orbit camera; move it only along the orbit, or recreate the rig")
    if abs(state.focal - orbit.focal) > 1e-4 * orbit.focal:
        raise _error(f"{state.name}: its lens was changed (focal {state.focal:.4f}, the generator's "
                     f"{orbit.focal:.4f}); edits render with the generator's focal")
    return pose


def source_key(ob) -> str:
    """Which version of the subject an object holds (changes with every edit)."""
    path = ob.get(subject_mod.PROP_SUBJECT_FILE, "")
    if path:
        return f"file {path}"
    return f"seed {int(ob.get(subject_mod.PROP_SEED, 0))} truncation {float(ob.get(subject_mod.PROP_TRUNCATION, 1.0)):g}"


def _check_rig_matches(ob, state: CameraState) -> None:
    spec = ob[subject_mod.PROP_GENERATOR]
    if state.rig_spec and state.rig_spec != spec:
        raise _error(f"{state.name} belongs to a rig made for {state.rig_spec}, the subject {ob.name} "
                     f"comes from {spec}: create a camera rig for the subject")


def _load(req):
    lab = generator_spec.load_labeled(req.spec, req.semantic_checkpoint)
    from dnerf_core import require_branch

    require_branch(lab, "Fit edit by inversion")
    return lab


# --- the edit mask image --------------------------------------------------------------------------
def find_mask_image(ob, cam):
    """The edit mask image made for this subject and camera, or None."""
    for image in bpy.data.images:
        if image.get(IMAGE_CAMERA_PROP) == cam.name and image.get(IMAGE_SUBJECT_PROP) == ob.name:
            return image
    return None


def labels_to_rgba(labels: np.ndarray, label_set) -> np.ndarray:
    """[H,W] ids -> [H,W,4] float RGBA in the label colors (255 = don't care: transparent)."""
    palette = label_set.palette().astype(np.float32) / 255.0
    ids = np.asarray(labels, dtype=np.int64)
    known = (ids >= 0) & (ids < len(palette))
    rgba = np.zeros(ids.shape + (4,), np.float32)
    rgba[known, :3] = palette[ids[known]]
    rgba[known, 3] = 1.0
    return rgba


def write_mask_image(image, labels: np.ndarray, label_set) -> None:
    """Blender images are stored bottom row first; byte images keep the sRGB values as they are."""
    h, w = labels.shape
    if tuple(image.size) != (w, h):
        image.scale(w, h)
    image.pixels.foreach_set(np.ascontiguousarray(labels_to_rgba(labels, label_set)[::-1]).ravel())
    image.update()


def image_pixels(image) -> np.ndarray:
    """[H,W,4] float RGBA, top row first."""
    w, h = image.size
    if w == 0 or h == 0:
        raise _error(f"image {image.name!r} has no pixels (was its file moved?)")
    px = np.zeros(w * h * image.channels, np.float32)
    image.pixels.foreach_get(px)
    px = px.reshape(h, w, image.channels)
    if image.channels == 3:
        px = np.concatenate([px, np.ones((h, w, 1), np.float32)], axis=2)
    elif image.channels != 4:
        raise _error(f"image {image.name!r} has {image.channels} channels; the edit mask is an RGBA image")
    return np.ascontiguousarray(px[::-1])


def mask_from_rgba(rgba: np.ndarray, label_set, size: int, name: str) -> np.ndarray:
    """[H,W,4] float RGBA (top row first) -> [H,W] int64 label ids by nearest label color."""
    from dnerf_core import IGNORE_ID

    h, w = rgba.shape[:2]
    if (h, w) != (size, size):
        raise _error(f"the edit mask image {name!r} is {w}x{h} pixels; this generator's views are "
                     f"{size}x{size}: make the edit mask again (Make edit mask) instead of resizing it")
    rgb = np.round(np.clip(rgba[..., :3], 0, 1) * 255.0).astype(np.int64)
    palette = label_set.palette().astype(np.int64)
    dist = np.abs(rgb[:, :, None, :] - palette[None, None, :, :]).max(axis=-1)  # [H,W,K]
    ids = dist.argmin(axis=-1)
    off = (dist.min(axis=-1) > COLOR_TOLERANCE) & (rgba[..., 3] >= ALPHA_DONT_CARE)
    if off.any():
        ys, xs = np.nonzero(off)
        example = tuple(int(v) for v in rgb[ys[0], xs[0]])
        raise _error(f"the edit mask image {name!r} has {int(off.sum())} pixels whose color is not a part color, "
                     f"e.g. RGB {example} at x={xs[0]}, y={ys[0]}: paint with the part colors only (a hard brush "
                     "without falloff), or transparent for don't care")
    ids[rgba[..., 3] < ALPHA_DONT_CARE] = IGNORE_ID
    return ids.astype(np.int64)


@dataclass
class MaskView:
    labels: np.ndarray  # [H,W] int64
    pose: object  # dnerf Pose
    label_set: object


def _current_view(req, state: CameraState) -> MaskView:
    from dnerf_core import render_view

    lab = _load(req)
    pose = camera_pose(state, lab.generator.orbit)
    view = render_view(lab, subject_mod.sample_subject(lab, req), pose)
    return MaskView(view.labels.numpy().astype(np.int64), pose, lab.label_set)


def make_edit_mask_job(ob, cam):
    """Job: render the subject's current mask for the rig camera into the camera's edit mask image
    (created or overwritten). Returns the image."""
    subject_object(ob)
    state = camera_state(cam)
    _check_rig_matches(ob, state)
    req = subject_mod.request_of(ob)
    key = source_key(ob)
    view = yield Offload(lambda report: _current_view(req, state), 0.0, 0.9, "render the current mask")
    yield Progress(0.9, "write the edit mask image")
    return store_mask_image(ob, cam, view.labels, view.label_set, view.pose, key)


def store_mask_image(ob, cam, labels: np.ndarray, label_set, pose, key: str):
    image = find_mask_image(ob, cam)
    h, w = labels.shape
    if image is None:
        image = bpy.data.images.new(f"{IMAGE_PREFIX} {cam.name}", w, h, alpha=True)
    write_mask_image(image, labels, label_set)
    image[IMAGE_CAMERA_PROP] = cam.name
    image[IMAGE_SUBJECT_PROP] = ob.name
    image[IMAGE_POSE_PROP] = [float(pose.yaw), float(pose.pitch), float(pose.radius)]
    image[IMAGE_SOURCE_PROP] = key
    return image


def make_edit_mask(ob, cam):
    """Synchronous Make edit mask."""
    from .jobs import run_sync

    return run_sync(make_edit_mask_job(ob, cam))


# --- the repainted part attribute -----------------------------------------------------------------
@dataclass
class PartPaint:
    """A mesh subject's geometry and face ids (read in the main thread)."""

    vertices: np.ndarray  # [V,3] dnerf coordinates
    polygons: list  # vertex indices per face
    now: np.ndarray  # [F] part ids as they are
    original: np.ndarray  # [F] part ids as spawned


def read_part_paint(ob, num_labels: int) -> PartPaint:
    if ob.type != "MESH":
        raise _error(f"{ob.name} is a point cloud: repainting its part attribute is not supported; paint the "
                     "edit mask image instead (Make edit mask)")
    if ob.mode == "EDIT":
        ob.update_from_editmode()
    me = ob.data
    if subject_mod.PART_ORIGINAL_ATTRIBUTE not in me.attributes:
        raise _error(f"{ob.name} has no '{subject_mod.PART_ORIGINAL_ATTRIBUTE}' attribute (it was made by an "
                     "older add-on): generate it again, or paint the edit mask image (Make edit mask)")
    now = subject_mod.part_values(ob)
    original = np.zeros(len(me.polygons), np.int32)
    me.attributes[subject_mod.PART_ORIGINAL_ATTRIBUTE].data.foreach_get("value", original)
    # A face given another part's material counts as repainted too (material index = part id).
    mat = np.zeros(len(me.polygons), np.int32)
    me.polygons.foreach_get("material_index", mat)
    by_material = (now == original) & (mat != original) & (mat < num_labels)
    now = np.where(by_material, mat, now)
    bad = np.unique(now[(now < 0) | (now >= num_labels)])
    if bad.size:
        raise _error(f"{ob.name}: the part attribute has ids that are not in the label set: {bad.tolist()} "
                     f"(valid: 0..{num_labels - 1})")
    if armature.armature_of(ob) is not None:  # where the scene shows them (the views render that pose)
        co = armature.deformed_vertices(ob).ravel()
    else:
        co = np.zeros(3 * len(me.vertices), np.float32)
        me.vertices.foreach_get("co", co)
    corners = np.zeros(len(me.loops), np.int32)
    me.loops.foreach_get("vertex_index", corners)
    starts = np.zeros(len(me.polygons), np.int32)
    me.polygons.foreach_get("loop_start", starts)
    sizes = np.zeros(len(me.polygons), np.int32)
    me.polygons.foreach_get("loop_total", sizes)
    polys = [corners[s:s + n].tolist() for s, n in zip(starts.tolist(), sizes.tolist())]
    return PartPaint(co.reshape(-1, 3).astype(np.float64), polys, now.astype(np.int64), original.astype(np.int64))


def cast_faces(paint: PartPaint, cameras, size: int) -> np.ndarray:
    """[size,size] index of the face each of dnerf's pixel rays hits first (-1: none)."""
    from dnerf_core import ray_bundle
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    tree = BVHTree.FromPolygons([tuple(v) for v in paint.vertices.tolist()], paint.polygons, all_triangles=False)
    rays = ray_bundle(cameras, size)
    origins = rays.origins[0].double().numpy()
    dirs = rays.directions[0].double().numpy()
    out = np.full(size * size, -1, np.int64)
    for i in range(size * size):
        hit = tree.ray_cast(Vector(origins[i]), Vector(dirs[i]))
        if hit[2] is not None:
            out[i] = hit[2]
    return out.reshape(size, size)


def part_edit_mask(paint: PartPaint, current: np.ndarray, cameras, name: str) -> np.ndarray:
    """The edited mask: dnerf's current mask, with the repainted ids where the view's visible faces
    changed part (the faces' ids now vs as spawned, cast along dnerf's pixel rays)."""
    if not (paint.now != paint.original).any():
        raise _error(f"the part attribute of {name} is as it was generated: repaint faces first, or paint the "
                     "edit mask image (Make edit mask)")
    faces = cast_faces(paint, cameras, current.shape[0])
    hit = faces >= 0
    now = np.where(hit, paint.now[np.maximum(faces, 0)], -1)
    before = np.where(hit, paint.original[np.maximum(faces, 0)], -1)
    changed = hit & (now != before)
    if not changed.any():
        raise _error(f"the repainted faces of {name} are not visible from this camera: choose a camera that sees "
                     "them")
    edited = current.copy()
    edited[changed] = now[changed]
    return edited


# --- the edit -------------------------------------------------------------------------------------
@dataclass
class EditOutcome:
    data: object  # SubjectData of the edited subject
    path: str  # the fitted-subject file written
    source: str  # "image" or "part"
    region_pixels: int
    agreement: float  # share of the region showing the requested label after the fit
    after_labels: np.ndarray
    pose: object
    label_set: object
    seconds: float
    final_loss: float
    object_name: str = ""  # the edited object (set by the job in the main thread)


def edits_folder() -> tuple[Path, bool]:
    """(folder, blend_relative): next to the .blend when it is saved, else the temp folder."""
    if bpy.data.filepath:
        return Path(bpy.path.abspath(f"//{EDITS_DIR}")), True
    return Path(tempfile.gettempdir()) / EDITS_DIR, False


def next_edit_path(folder: Path, name: str) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "subject"
    taken = [int(m.group(1)) for p in (folder.glob(f"{stem}_edit*.pt") if folder.is_dir() else ())
             if (m := re.fullmatch(re.escape(stem) + r"_edit(\d+)\.pt", p.name))]
    return folder / f"{stem}_edit{max(taken, default=0) + 1}.pt"


def _compute_edit(req, state: CameraState, source: str, image_rgba, image_name: str, made_pose, paint,
                  steps: int, keep_weight: float, label_keep_weight: float, out_path: Path, info: dict,
                  report) -> EditOutcome:
    import dnerf_core as dn

    t0 = time.perf_counter()
    report(0.0, "load generator")
    lab = _load(req)
    gen = lab.generator
    pose = camera_pose(state, gen.orbit)
    subject = subject_mod.sample_subject(lab, req)
    report(0.03, "render the current mask")
    current = dn.render_view(lab, subject, pose)
    size = gen.config.img_resolution
    if source == "image":
        _check_same_pose(made_pose, pose, state.name, image_name)
        edited = mask_from_rgba(image_rgba, lab.label_set, size, image_name)
    else:
        edited = part_edit_mask(paint, current.labels.numpy().astype(np.int64), pose.cameras(gen.orbit), req.name)
    import torch

    def step_done(step: int, loss: float) -> None:
        report(0.08 + 0.72 * step / steps, f"fit step {step}/{steps} (loss {loss:.3f})")

    result = dn.edit_subject(lab, subject.ws, pose, torch.from_numpy(edited), dn.EditOptions(steps=steps).fit_config(),
                          keep_weight=keep_weight, progress=step_done, before=current,
                          label_keep_weight=label_keep_weight)
    after = result.after
    region = result.region
    agreement = result.region_accuracy
    info = dict(info, steps=steps, source=source, region_pixels=int(region.sum()), agreement=agreement,
                final_loss=float(result.fit.losses[-1]) if result.fit.losses else float("nan"))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    dn.save_edited(out_path, lab, result.fit.ws, pose, info)
    new_req = replace(req, subject_file=str(out_path))
    data = subject_mod.compute_subject(new_req, lambda f, m="": report(0.85 + 0.15 * f, m or "rebuild the subject"))
    return EditOutcome(data, str(out_path), source, int(region.sum()), agreement,
                       after.labels.numpy().astype(np.int64), pose, lab.label_set, time.perf_counter() - t0,
                       info["final_loss"])


def fit_edit_job(ob, cam, steps: int | None = None, source: str = "AUTO", keep_weight: float | None = None,
                 folder: Path | None = None, label_keep_weight: float | None = None):
    """Job: edit the subject so the rig camera's view shows the painted mask (or the repainted part
    attribute), then rebuild the object from the edited subject. Returns the EditOutcome."""
    import dnerf_core as dn

    # dnerf edit's settings (dnerf_core.EditOptions): None takes its default; validate() checks ranges
    given = {"steps": steps, "keep_weight": keep_weight, "label_keep_weight": label_keep_weight}
    opts = dn.EditOptions(**{k: v for k, v in given.items() if v is not None}).validate()
    steps, keep_weight, label_keep_weight = opts.steps, opts.keep_weight, opts.label_keep_weight
    if source not in SOURCES:
        raise _error(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    subject_object(ob)
    state = camera_state(cam)
    _check_rig_matches(ob, state)
    req = subject_mod.request_of(ob)
    label_set = subject_mod.subject_label_set(ob)
    image = find_mask_image(ob, cam) if source in ("AUTO", "IMAGE") else None
    rgba, image_name, paint, made_pose = None, "", None, None
    if image is not None:
        _check_image_current(image, ob)
        rgba, image_name, kind = image_pixels(image), image.name, "image"
        made = image.get(IMAGE_POSE_PROP)
        made_pose = [float(v) for v in made] if made is not None and len(made) == 3 else None
    elif source == "IMAGE":
        raise _error(f"{cam.name} has no edit mask image for {ob.name}: make one first (Make edit mask)")
    else:
        paint, kind = read_part_paint(ob, len(label_set.labels)), "part"
    if folder is None:
        folder, relative = edits_folder()
    else:
        folder, relative = Path(folder), False
    out_path = next_edit_path(folder, ob.name)
    hidden = parts.hidden_parts(ob)
    info = {"edited_from": source_key(ob), "camera": cam.name, "blender_object": ob.name}
    outcome = yield Offload(lambda report: _compute_edit(req, state, kind, rgba, image_name, made_pose, paint,
                                                         steps, keep_weight, label_keep_weight, out_path, info,
                                                         report),
                            0.0, 0.95, "fit edit")
    yield Progress(0.95, "replace the subject")
    subject_mod.replace_subject_data(ob, outcome.data)
    ob[subject_mod.PROP_SUBJECT_FILE] = bpy.path.relpath(str(out_path)) if relative else str(out_path)
    for name in hidden:
        parts.set_part_hidden(ob, name, True)
    if image is not None:  # the image now shows the edited subject's mask of this view
        store_mask_image(ob, cam, outcome.after_labels, outcome.label_set, outcome.pose, source_key(ob))
    outcome.object_name = ob.name
    return outcome


def _check_image_current(image, ob) -> None:
    if image.get(IMAGE_SOURCE_PROP, "") != source_key(ob):
        raise _error(f"the edit mask image {image.name!r} shows an earlier version of {ob.name} (before an edit): "
                     "make the edit mask again (Make edit mask) and repaint it")


def _check_same_pose(made, pose, camera: str, image_name: str) -> None:
    """The camera must still be where the edit mask image was rendered from."""
    if made is None:
        return
    if any(abs(a - b) > POSE_TOLERANCE for a, b in zip(made, (pose.yaw, pose.pitch, pose.radius))):
        raise _error(f"{camera} moved since the edit mask image {image_name!r} was made: make the edit mask "
                     "again (Make edit mask), or move the camera back")


def fit_edit(ob, cam, steps: int | None = None, source: str = "AUTO", keep_weight: float | None = None,
             folder: Path | None = None, label_keep_weight: float | None = None) -> EditOutcome:
    """Synchronous Fit edit by inversion (what tests and scripts call)."""
    from .jobs import run_sync

    return run_sync(fit_edit_job(ob, cam, steps, source, keep_weight, folder, label_keep_weight))
