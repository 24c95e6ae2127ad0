"""Generate labeled subject: dnerf_core builds the labeled mesh or cloud, Blender gets one object.

The geometry comes from the call `dnerf-export` makes, dnerf_core.label_subject:
- mesh: its labeled mesh (marching cubes, faces labeled at their centroids) -> the object's
  FACE attribute `part` = the face labels;
- point cloud: its labeled cloud (views spread over the generator's orbit, back-projected,
  voxel-voted) -> POINT attribute `part` = the point labels, in the same order as cloud.ply.
Vertex/point positions stay in dnerf coordinates; the object transform turns y-up into z-up
(coords.py). The label set, generator spec, seed and settings are stored on the object as custom
properties, so the panel can show the legend and later steps (render) can rebuild the subject.

A subject is defined either by a seed (+ truncation) or by a fitted-subject file (the latents an
inversion or an edit found, dnerf_core.inversion.subject_file): SubjectRequest.subject_file, stored
on the object as PROP_SUBJECT_FILE (may be blend-relative, "//..."). A copy of the part ids as
spawned is kept in PART_ORIGINAL_ATTRIBUTE, so a repainted `part` attribute can be compared with
what the generator gave (Fit edit by inversion, edit.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from . import armature, generator_spec
from .coords import DNERF_TO_BLENDER
from .jobs import Offload, Progress
from .materials import assign_label_materials

REPRESENTATIONS = ("MESH", "POINTCLOUD")
PART_ATTRIBUTE = "part"  # integer part id: FACE domain on meshes, POINT domain on point clouds
PART_COLOR_ATTRIBUTE = "part_color"  # CORNER byte color: Workbench shows it with color_type VERTEX
APPEARANCE_ATTRIBUTE = "rgb"  # the generator's own colors (vertex / point)
POINT_RADIUS_FRACTION = 0.6  # point radius as a fraction of the voxel size: neighbours just touch

# Custom properties on a spawned subject.
PROP_KIND = "dnerf_subject"
PROP_GENERATOR = "dnerf_generator"
PROP_SEED = "dnerf_seed"
PROP_TRUNCATION = "dnerf_truncation"
PROP_SEMANTIC = "dnerf_semantic"
PROP_LABELS = "dnerf_labels"
PROP_SUBJECT_FILE = "dnerf_subject_file"  # fitted-subject file defining the subject (else: the seed)
PROP_POSE = "dnerf_pose"  # the body pose asked for (an articulated subject; a --pose spec)
PROP_BODY_POSE = "dnerf_body_pose"  # its resolved joint angles (JSON), as export.json's body_pose
PART_ORIGINAL_ATTRIBUTE = "part_original"  # the part ids as spawned (same domain as `part`)
PROP_RIG = "dnerf_rig_armature"  # True: a rest-pose mesh deformed by an armature (armature.py)


# SubjectRequest fields that are dnerf-export options (dnerf_core.ExportOptions holds their defaults)
EXPORT_FIELDS = ("seed", "truncation", "mesh_resolution", "views", "resolution", "pose")


@dataclass
class SubjectRequest:
    """Everything that fixes a labeled subject (explicit arguments: no scene state is read).

    seed, truncation, mesh_resolution, views (point clouds: views back-projected) and resolution
    (point clouds: view size) are dnerf-export's options; None takes its default (options()).
    subject_file: absolute path of a fitted-subject file, the subject's latents (seed unused).
    pose: the body pose of an articulated subject (dnerf-export's --pose: a named pose, "random",
    "random:N", JSON of joint angles); None: the rest pose; refused for rigid generators.
    rig: articulated meshes only: extract the mesh in the rest pose and deform it with an armature
    (armature.py) standing in `pose`, so the subject can be posed in Blender with its part ids kept;
    False: the mesh is extracted in the pose (the generator's own posed geometry)."""

    spec: str
    seed: int | None = None
    truncation: float | None = None
    representation: str = "MESH"
    semantic_checkpoint: str = ""
    mesh_resolution: int | None = None
    views: int | None = None
    resolution: int | None = None
    name: str = ""
    subject_file: str = ""
    pose: str | None = None
    rig: bool = False

    def options(self):
        """The request's dnerf-export options (dnerf_core.ExportOptions), validated."""
        import dnerf_core as dn

        given = {k: getattr(self, k) for k in EXPORT_FIELDS if getattr(self, k) is not None}
        return dn.ExportOptions(**given).validate()


@dataclass
class SubjectData:
    request: SubjectRequest
    label_set: object  # dnerf_core.labels.LabelSet
    mesh: object = None  # LabeledMesh
    cloud: object = None  # LabeledPointCloud
    voxel_size: float = 0.0
    body_pose: dict | None = None  # the resolved body pose (articulated subjects)
    skeleton: object = None  # dnerf_core Skeleton (rig: the armature's bones and pose)
    vertex_joints: np.ndarray | None = None  # rig: [V] the joint whose bone moves each mesh vertex


def _validate(req: SubjectRequest):
    """The request's export options; a bad value raises DnerfError."""
    from dnerf_core import DnerfError

    if req.representation not in REPRESENTATIONS:
        raise DnerfError(f"representation must be one of {', '.join(REPRESENTATIONS)}, got {req.representation!r}")
    if req.subject_file and not Path(req.subject_file).is_file():
        raise DnerfError(f"fitted subject file not found: {req.subject_file}")
    if req.rig and req.representation != "MESH":
        raise DnerfError("an armature deforms meshes only: choose the mesh representation to rig the subject")
    return req.options()


def sample_subject(gen, req: SubjectRequest):
    """The dnerf Subject a request names: its fitted-subject file's latents, else its seed."""
    import dnerf_core as dn

    opts = _validate(req)
    if req.subject_file:
        return dn.sample_subject(gen, subject=req.subject_file, pose=opts.pose)
    return dn.sample_subject(gen, opts.seed, truncation=opts.truncation, pose=opts.pose)


def request_of(ob) -> SubjectRequest:
    """The SubjectRequest that rebuilds a spawned subject (bpy: main thread; file paths absolute)."""
    from dnerf_core import DnerfError

    if ob is None or PROP_GENERATOR not in ob or PROP_LABELS not in ob:
        raise DnerfError(f"{ob.name if ob is not None else 'nothing'} is not a subject made by "
                         "'Generate labeled subject'")
    kind = ob.get(PROP_KIND, "MESH")
    path = ob.get(PROP_SUBJECT_FILE, "")
    stored = {PROP_SEED: "seed", PROP_TRUNCATION: "truncation", "dnerf_mesh_resolution": "mesh_resolution",
              "dnerf_views": "views", "dnerf_resolution": "resolution"}
    given = {name: ob[prop] for prop, name in stored.items() if prop in ob}
    if ob.get(PROP_POSE):
        given["pose"] = ob[PROP_POSE]
    rigged = armature.armature_of(ob) if ob.get(PROP_RIG) else None
    if rigged is not None:  # what the scene shows: the armature's current pose
        given["pose"] = armature.pose_json(rigged)
    if not given.get("resolution"):
        given["resolution"] = None  # stored as 0: the generator's own view size
    return SubjectRequest(spec=ob[PROP_GENERATOR], representation=kind, semantic_checkpoint=ob.get(PROP_SEMANTIC, ""),
                          name=ob.name, subject_file=bpy.path.abspath(path) if path else "", rig=rigged is not None,
                          **given)


def compute_subject(req: SubjectRequest, report=lambda f, m="": None) -> SubjectData:
    """The dnerf_core half (no bpy; safe in a worker thread). `report(fraction, message)`."""
    import dnerf_core as dn

    opts = _validate(req)
    report(0.0, "load generator")
    gen = generator_spec.load_labeled(req.spec, req.semantic_checkpoint)
    report(0.1, "sample subject")
    subject = sample_subject(gen, req)
    skeleton = None
    if req.rig:  # the mesh in the rest pose (the same planes, reposed), the armature in the asked pose
        skeleton = dn.subject_skeleton(gen, subject)
        subject = dn.sample_subject(gen, subject=subject, pose="rest")
    mesh = req.representation == "MESH"
    done = [0]

    def progress(stage: str, n: int) -> None:
        done[0] += n
        if stage == "render views":
            report(0.2 + 0.7 * done[0] / opts.views, f"render views {done[0]}/{opts.views}")
        else:
            report(0.2 if mesh else 0.9, "marching cubes" if mesh else "back-project and merge")

    labeled = dn.label_subject(gen, subject=subject, views=0 if mesh else opts.views,
                               resolution=opts.resolution, cloud=not mesh, mesh=mesh,
                               mesh_resolution=opts.mesh_resolution, progress=None if mesh else progress)
    data = SubjectData(req, labeled.label_set, mesh=labeled.mesh, cloud=labeled.cloud,
                       voxel_size=labeled.voxel_size or 0.0, body_pose=labeled.pose)
    if skeleton is not None:
        data.skeleton, data.body_pose = skeleton, skeleton.pose.to_dict()
        data.vertex_joints = skeleton.bind(labeled.mesh.vertices)
    report(1.0, "done")
    return data


# --- the bpy half -------------------------------------------------------------------------------
def _label_set_key(label_set) -> str:
    """A short stable name for a label set, for material names (same labels -> same materials)."""
    import hashlib

    return hashlib.sha1(label_set.to_json().encode()).hexdigest()[:6]


def _new_attribute(data, name: str, kind: str, domain: str):
    if name in data.attributes:
        data.attributes.remove(data.attributes[name])
    return data.attributes.new(name, kind, domain)


def _set_colors(attr, rgb_u8: np.ndarray) -> None:
    """Byte colors from sRGB uint8 [N,3]; BYTE_COLOR's `color_srgb` takes the sRGB values as they are."""
    rgba = np.concatenate([rgb_u8.astype(np.float32) / 255.0, np.ones((len(rgb_u8), 1), np.float32)], axis=1)
    attr.data.foreach_set("color_srgb", rgba.ravel())


def _mesh_datablock(name: str, mesh, label_set) -> bpy.types.Mesh:
    from dnerf_core import DnerfError

    if len(mesh.faces) == 0:
        raise DnerfError("the extracted mesh has no faces")
    me = bpy.data.meshes.new(name)
    # No validate(): it would drop marching cubes' degenerate triangles and break face order.
    me.from_pydata(mesh.vertices.astype(np.float64), [], mesh.faces)
    labels = mesh.face_labels.astype(np.int32)
    _new_attribute(me, PART_ATTRIBUTE, "INT", "FACE").data.foreach_set("value", labels)
    _new_attribute(me, PART_ORIGINAL_ATTRIBUTE, "INT", "FACE").data.foreach_set("value", labels)
    corner_colors = label_set.palette()[np.repeat(labels, 3)]  # faces are triangles: 3 corners each
    _set_colors(_new_attribute(me, PART_COLOR_ATTRIBUTE, "BYTE_COLOR", "CORNER"), corner_colors)
    _set_colors(_new_attribute(me, APPEARANCE_ATTRIBUTE, "BYTE_COLOR", "POINT"), mesh.vertex_colors)
    me.color_attributes.active_color_name = PART_COLOR_ATTRIBUTE
    me.update()
    return me


def _pointcloud_object(name: str, cloud, collection, voxel_size: float) -> bpy.types.Object:
    """Point clouds cannot be resized from Python: build loose vertices, then convert the object."""
    from dnerf_core import DnerfError

    if len(cloud) == 0:
        raise DnerfError("the point cloud is empty: no view saw a labeled surface")
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(cloud))
    me.vertices.foreach_set("co", cloud.points.astype(np.float32).ravel())
    labels = cloud.labels.astype(np.int32)
    _new_attribute(me, PART_ATTRIBUTE, "INT", "POINT").data.foreach_set("value", labels)
    _new_attribute(me, PART_ORIGINAL_ATTRIBUTE, "INT", "POINT").data.foreach_set("value", labels)
    _set_colors(_new_attribute(me, APPEARANCE_ATTRIBUTE, "BYTE_COLOR", "POINT"), cloud.colors)
    normals = _new_attribute(me, "normal_dnerf", "FLOAT_VECTOR", "POINT")
    normals.data.foreach_set("vector", cloud.normals.astype(np.float32).ravel())
    ob = bpy.data.objects.new(name, me)
    collection.objects.link(ob)
    view_layer = bpy.context.view_layer
    for other in view_layer.objects.selected:
        other.select_set(False)
    ob.select_set(True)
    view_layer.objects.active = ob
    with bpy.context.temp_override(active_object=ob, object=ob, selected_objects=[ob],
                                   selected_editable_objects=[ob]):
        bpy.ops.object.convert(target="POINTCLOUD")
    if ob.type != "POINTCLOUD":
        raise RuntimeError("Blender did not convert the points into a point cloud")
    if me.users == 0:
        bpy.data.meshes.remove(me)
    pc = ob.data
    radius = _new_attribute(pc, "radius", "FLOAT", "POINT")
    radius.data.foreach_set("value", np.full(len(cloud), POINT_RADIUS_FRACTION * voxel_size, np.float32))
    return ob


def spawn_subject(data: SubjectData, collection=None) -> bpy.types.Object:
    """Create the labeled object in the scene (main thread only). Returns the object."""
    req, label_set = data.request, data.label_set
    collection = collection or bpy.context.scene.collection
    name = req.name or f"{Path(req.spec).name}-{req.options().seed}"
    if req.representation == "MESH":
        ob = bpy.data.objects.new(name, _mesh_datablock(name, data.mesh, label_set))
        collection.objects.link(ob)
    else:
        ob = _pointcloud_object(name, data.cloud, collection, data.voxel_size)
    rig = None
    try:
        _finish_subject(ob, data)
        if data.skeleton is not None:
            rig = armature.build_armature(data.skeleton, f"{name} armature", collection)
            rig.matrix_world = DNERF_TO_BLENDER
            armature.skin(ob, rig, data.skeleton.names, data.vertex_joints)
            armature.set_pose(rig, data.body_pose["angles"])
            _select(ob)
    except Exception:
        bpy.data.objects.remove(ob)  # no half-made subject left in the scene
        if rig is not None:
            bpy.data.objects.remove(rig)
        raise
    return ob


def _label_materials(datablock, data: SubjectData) -> None:
    """One material per part, material index = part id."""
    req, label_set = data.request, data.label_set
    assign_label_materials(datablock, label_set, _label_set_key(label_set))
    # After the materials: clearing a datablock's materials resets its material indices.
    labels = data.mesh.face_labels if req.representation == "MESH" else data.cloud.labels
    if req.representation == "MESH":
        datablock.polygons.foreach_set("material_index", labels.astype(np.int32))
    else:
        _new_attribute(datablock, "material_index", "INT", "POINT").data.foreach_set("value", labels.astype(np.int32))


def _finish_subject(ob, data: SubjectData) -> None:
    _label_materials(ob.data, data)
    ob.matrix_world = DNERF_TO_BLENDER
    _store_properties(ob, data)
    _select(ob)


def _select(ob) -> None:
    for other in bpy.context.view_layer.objects.selected:
        other.select_set(False)
    ob.select_set(True)
    bpy.context.view_layer.objects.active = ob


def _store_properties(ob, data: SubjectData) -> None:
    req, label_set = data.request, data.label_set
    opts = req.options()
    ob[PROP_KIND] = req.representation
    ob[PROP_GENERATOR] = req.spec
    ob[PROP_SEED] = int(opts.seed)
    ob[PROP_TRUNCATION] = float(opts.truncation)
    ob[PROP_SEMANTIC] = req.semantic_checkpoint
    ob[PROP_LABELS] = label_set.to_json()
    if req.representation == "POINTCLOUD":
        ob["dnerf_views"] = int(opts.views)
        ob["dnerf_resolution"] = int(opts.resolution or 0)
        ob["dnerf_voxel_size"] = float(data.voxel_size)
    else:
        ob["dnerf_mesh_resolution"] = int(opts.mesh_resolution)
    if req.subject_file:
        ob[PROP_SUBJECT_FILE] = req.subject_file
    elif PROP_SUBJECT_FILE in ob:
        del ob[PROP_SUBJECT_FILE]
    for prop, value in ((PROP_POSE, opts.pose),
                        (PROP_BODY_POSE, json.dumps(data.body_pose, sort_keys=True) if data.body_pose else None),
                        (PROP_RIG, True if data.skeleton is not None else None)):
        if value is not None:
            ob[prop] = value
        elif prop in ob:
            del ob[prop]


def replace_subject_data(ob, data: SubjectData) -> None:
    """Give an existing subject object new geometry (main thread): same object, name, transform,
    modifiers; new mesh / point cloud with the `part` attribute and label materials; the custom
    properties from data.request (the caller may then store a blend-relative subject file path)."""
    from dnerf_core import DnerfError

    want = "MESH" if data.request.representation == "MESH" else "POINTCLOUD"
    if ob.type != want:
        raise DnerfError(f"{ob.name} is a {ob.type.lower()}, the new subject data a {want.lower()}")
    old = ob.data
    rigged = armature.armature_of(ob)
    if (data.skeleton is not None) != (rigged is not None):
        raise DnerfError(f"{ob.name}: the new subject data and the object disagree on the armature")
    if want == "MESH":
        new = _mesh_datablock(old.name, data.mesh, data.label_set)
    else:
        view_layer = bpy.context.view_layer
        active, selected = view_layer.objects.active, list(view_layer.objects.selected)
        tmp = _pointcloud_object(old.name, data.cloud, bpy.context.scene.collection, data.voxel_size)
        new = tmp.data
        bpy.data.objects.remove(tmp)
        for other in selected:
            other.select_set(True)
        view_layer.objects.active = active
    try:
        _label_materials(new, data)
    except Exception:
        _remove_data(new)
        raise
    if ob.mode == "EDIT":
        with bpy.context.temp_override(active_object=ob, object=ob):
            bpy.ops.object.mode_set(mode="OBJECT")
    ob.data = new
    name = old.name
    if old.users == 0:
        _remove_data(old)
    new.name = name
    if rigged is not None:  # the new vertices, bound again; the armature keeps the user's pose
        armature.assign_groups(ob, data.skeleton.names, data.vertex_joints)
    _store_properties(ob, data)
    ob.update_tag()


def _remove_data(datablock) -> None:
    coll = bpy.data.meshes if isinstance(datablock, bpy.types.Mesh) else bpy.data.pointclouds
    coll.remove(datablock)


def generate_subject_job(req: SubjectRequest, collection=None):
    """Job (see jobs.py): compute in a worker, then spawn in the main thread. Returns the object."""
    data = yield Offload(lambda report: compute_subject(req, report), 0.0, 0.9, "build subject")
    yield Progress(0.9, "create Blender object")
    return spawn_subject(data, collection)


def generate_subject(req: SubjectRequest, collection=None) -> bpy.types.Object:
    """Synchronous Generate labeled subject (what tests and scripts call)."""
    from .jobs import run_sync

    return run_sync(generate_subject_job(req, collection))


def subject_label_set(ob):
    """The LabelSet stored on a spawned subject, or None for other objects."""
    if ob is None or PROP_LABELS not in ob:
        return None
    from dnerf_core import LabelSet

    return LabelSet.from_dict(json.loads(ob[PROP_LABELS]))


def part_values(ob) -> np.ndarray:
    """The `part` attribute of a subject as int32 (faces for meshes, points for point clouds)."""
    attr = ob.data.attributes[PART_ATTRIBUTE]
    out = np.zeros(len(attr.data), np.int32)
    attr.data.foreach_get("value", out)
    return out
