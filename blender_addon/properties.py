"""The panel's settings, stored per scene (scene.dnerf)."""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from .generator_spec import CATEGORIES
from .rig import RIG_PROP
from .subject import PROP_GENERATOR


def _is_subject(self, ob) -> bool:
    return PROP_GENERATOR in ob


def _is_rig(self, ob) -> bool:
    return ob.type == "EMPTY" and RIG_PROP in ob


class DNERF_Settings(bpy.types.PropertyGroup):
    generator_kind: EnumProperty(
        name="Generator", default="procedural",
        items=[("procedural", "Procedural", "analytic oracle world with exact part labels"),
               ("default", "Default", "the small tri-plane generator shipped with dnerf"),
               ("checkpoint", "Checkpoint file", "a tri-plane (.pt) or EG3D (.pkl) checkpoint")])
    category: EnumProperty(name="Category", default="car",
                           items=[(c, c.capitalize(), f"{c} subjects") for c in CATEGORIES])
    checkpoint: StringProperty(name="Checkpoint", subtype="FILE_PATH", default="",
                             options={"PATH_SUPPORTS_BLEND_RELATIVE"})
    seed: IntProperty(name="Seed", min=0, default=0, description="one integer fixes one subject")
    truncation: FloatProperty(name="Truncation", min=0.0, max=2.0, default=1.0,
                              description="latent truncation psi (1 = none)")
    semantic_checkpoint: StringProperty(
        name="Semantic checkpoint", subtype="FILE_PATH", default="", options={"PATH_SUPPORTS_BLEND_RELATIVE"},
        description="the trained semantic branch that gives a learned generator its part labels")
    representation: EnumProperty(
        name="Representation", default="MESH",
        items=[("MESH", "Mesh", "marching-cubes mesh, faces labeled (FACE attribute 'part')"),
               ("POINTCLOUD", "Point cloud", "back-projected multi-view cloud (POINT attribute 'part')")])
    mesh_resolution: IntProperty(name="Mesh resolution", min=16, max=512, default=128,
                                 description="marching-cubes samples per axis")
    cloud_views: IntProperty(name="Cloud views", min=1, max=256, default=8,
                             description="views back-projected into the point cloud")
    cloud_resolution: IntProperty(name="Cloud view size", min=0, max=4096, default=0,
                                  description="view size in pixels for the cloud (0: the generator's own)")
    rig_views: IntProperty(name="Cameras", min=1, max=256, default=8)
    rig_poses_file: StringProperty(name="Poses file", subtype="FILE_PATH", default="",
                                   description="transforms.json or [yaw, pitch, radius] list (radians) whose cameras "
                                               "the rig gets instead of Cameras (empty: spread on the orbit)")
    render_resolution: IntProperty(name="Size", min=0, max=4096, default=0,
                                   description="render size in pixels (0: the generator's own)")
    output_dir: StringProperty(name="Output folder", subtype="DIR_PATH", default="//dnerf_views/",
                                options={"PATH_SUPPORTS_BLEND_RELATIVE"})
    blender_render: BoolProperty(name="Blender comparison render", default=True,
                                 description="also render the labeled mesh with Cycles and compare with dnerf's masks")
    compare_engine: EnumProperty(
        name="Engine", default="CYCLES",
        items=[("CYCLES", "Cycles", "emission materials in the label colors, one centered sample per pixel"),
               ("WORKBENCH", "Workbench", "flat lighting, the part_color attribute, no anti-aliasing")])
    edit_steps: IntProperty(name="Edit steps", min=1, max=5000, default=150,  # = dnerf_core EDIT_FIT.steps
                            description="optimization steps of Fit edit by inversion")
    edit_keep_weight: FloatProperty(name="Keep weight", min=0.0, max=1000.0, default=150.0,  # DEFAULT_KEEP_WEIGHT
                                    description="how strongly the pixels outside the edit keep their colors")
    # default: DEFAULT_LABEL_KEEP_WEIGHT
    edit_label_keep_weight: FloatProperty(name="Keep labels", min=0.0, max=1000.0, default=1.0,
                                          description="how strongly the pixels outside the edit keep their part "
                                                      "labels (0: colors only)")
    subject: PointerProperty(name="Subject", type=bpy.types.Object, poll=_is_subject)
    rig: PointerProperty(name="Rig", type=bpy.types.Object, poll=_is_rig)
    # What the running job (operators.ACTIVE) last reported, for the panels to show.
    progress: FloatProperty(name="Progress", subtype="PERCENTAGE", min=0, max=100, default=0)
    status: StringProperty(default="")
    last_result: StringProperty(default="", description="summary of the last finished job")
