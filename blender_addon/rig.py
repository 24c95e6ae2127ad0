"""Camera rig: N Blender cameras on the generator's orbit, parented to one empty.

Poses are dnerf_core's own: `spread_orbit_cameras(n, generator.orbit)` (the views dnerf-export
renders), converted once by `Cameras.cam2world_opengl()` (Blender cameras look down their -z with
y up, like OpenGL). Each camera's local matrix (relative to the rig empty, with an identity parent
inverse) is that OpenGL cam2world; the empty carries the dnerf -> Blender rotation (coords.py), so
the rig lines up with subjects spawned by subject.py.

Intrinsics: dnerf's focal is normalized by the image width (fx = focal_px / width). With the
sensor fitted horizontally, Blender's focal in pixels is lens / sensor_width * width, so
lens = fx * sensor_width gives the same focal at any resolution; the principal point is the
image center (dnerf cx = cy = 0.5), i.e. no lens shift. dnerf images are square here.
"""
from __future__ import annotations

import json

import bpy
import numpy as np

from . import generator_spec
from .coords import DNERF_TO_BLENDER, to_matrix, to_numpy

SENSOR_WIDTH_MM = 36.0
RIG_PROP = "dnerf_rig"  # on the empty: the generator spec the rig was made for
VIEW_PROP = "dnerf_view"  # on each camera: its index in the rig
INTRINSICS_PROP = "dnerf_intrinsics"  # on each camera: dnerf's normalized 3x3 intrinsics (JSON)
CLIP_START, CLIP_END = 0.01, 100.0


def camera_rig_poses(spec: str, n_views: int, poses_file: str | None = None):
    """dnerf_core's cameras for a rig: spread_orbit_cameras over the generator's orbit, or the
    cameras of a pose file (dnerf_core.pose_file: a transforms.json, e.g. one dnerf-export wrote,
    or [yaw, pitch, radius] triples in radians on the generator's orbit), n_views then unused."""
    import dnerf_core as dn

    if poses_file:
        poses = dn.read_pose_file(poses_file)  # a bad file fails before the generator loads
        orbit = generator_spec.load(spec).orbit if poses.needs_orbit else None
        return poses.cameras(orbit)
    return dn.orbit_views(generator_spec.load(spec), n_views)


def lens_for_focal(fx_normalized: float, sensor_width: float = SENSOR_WIDTH_MM) -> float:
    return float(fx_normalized) * sensor_width


def focal_of_camera(cam_data: bpy.types.Camera) -> float:
    """Normalized focal (focal_px / width) of a Blender camera fitted horizontally."""
    return cam_data.lens / cam_data.sensor_width


def create_rig(cameras, name: str = "dnerf rig", collection=None, spec: str = "") -> bpy.types.Object:
    """Create the empty and one camera per dnerf camera (dnerf_core Cameras, OpenCV)."""
    from dnerf_core import DnerfError

    k = cameras.intrinsics.double()
    if ((k[:, 0, 2] - 0.5).abs() > 1e-9).any() or ((k[:, 1, 2] - 0.5).abs() > 1e-9).any():
        raise DnerfError("the rig supports centered cameras only (cx = cy = 0.5)")
    if ((k[:, 0, 0] - k[:, 1, 1]).abs() > 1e-9).any():
        raise DnerfError("the rig supports square pixels only (fx = fy)")
    collection = collection or bpy.context.scene.collection
    rig = bpy.data.objects.new(name, None)
    rig.empty_display_type = "PLAIN_AXES"
    rig.matrix_world = DNERF_TO_BLENDER
    rig[RIG_PROP] = spec
    collection.objects.link(rig)
    c2w_gl = cameras.cam2world_opengl().double().numpy()
    for i in range(len(cameras)):
        cam = bpy.data.cameras.new(f"{name} {i:03d}")
        cam.sensor_fit = "HORIZONTAL"
        cam.sensor_width = SENSOR_WIDTH_MM
        cam.lens = lens_for_focal(float(k[i, 0, 0]))
        cam.shift_x = cam.shift_y = 0.0
        cam.clip_start, cam.clip_end = CLIP_START, CLIP_END
        ob = bpy.data.objects.new(f"{name} {i:03d}", cam)
        collection.objects.link(ob)
        ob.parent = rig
        ob.matrix_parent_inverse.identity()
        ob.matrix_basis = to_matrix(c2w_gl[i])
        ob[VIEW_PROP] = i
        ob[INTRINSICS_PROP] = json.dumps(k[i].tolist())
    bpy.context.view_layer.update()  # so matrix_world of the children is current
    return rig


def build_camera_rig(spec: str, n_views: int, name: str = "dnerf rig", collection=None,
                     poses_file: str | None = None) -> bpy.types.Object:
    """Synchronous Camera rig: the generator's orbit cameras (or a pose file's) as Blender cameras
    under one empty."""
    from dnerf_core import DnerfError

    if n_views < 1 and not poses_file:
        raise DnerfError(f"the rig needs at least one camera, got {n_views}")
    return create_rig(camera_rig_poses(spec, n_views, poses_file), name, collection, spec)


def rig_cameras(rig: bpy.types.Object) -> list[bpy.types.Object]:
    """The rig's cameras in view order."""
    cams = [c for c in rig.children if c.type == "CAMERA" and VIEW_PROP in c]
    return sorted(cams, key=lambda c: c[VIEW_PROP])


def cameras_from_rig(rig: bpy.types.Object):
    """dnerf_core Cameras (OpenCV) for the rig's cameras where they are now (moved ones included).

    Pose: the camera's matrix relative to the rig empty (an OpenGL cam2world in dnerf
    coordinates), flipped back with Cameras.from_opengl. Intrinsics: from the lens (fx = lens /
    sensor width), centered.
    """
    import torch
    from dnerf_core import Cameras, intrinsics_matrix
    from dnerf_core import DnerfError

    cams = rig_cameras(rig)
    if not cams:
        raise DnerfError(f"{rig.name} has no dnerf cameras; create a camera rig first")
    rig_inv = rig.matrix_world.inverted()
    mats, ks = [], []
    for ob in cams:
        if ob.data.sensor_fit not in ("HORIZONTAL", "AUTO") or ob.data.shift_x or ob.data.shift_y:
            raise DnerfError(f"{ob.name}: only horizontally fitted cameras without lens shift are supported")
        mats.append(to_numpy(rig_inv @ ob.matrix_world))
        ks.append(intrinsics_matrix(focal_of_camera(ob.data), dtype=torch.float64)[0])
    c2w_gl = torch.tensor(np.stack(mats), dtype=torch.float64)
    return Cameras.from_opengl(c2w_gl, torch.stack(ks)).to(dtype=torch.float32)
