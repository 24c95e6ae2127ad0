"""The panel's settings, stored per scene (scene.dnerf).

The settings that are dnerf options (seed, truncation, mesh resolution, cloud views and view size,
edit steps and weights) take their default, range and description from dnerf_core's option
dataclasses (dnerf_core.ExportOptions, dnerf_core.EditOptions), read when the add-on registers.
Where dnerf_core cannot be imported yet, they are plain properties and the panel says what is
missing; `settings_class()` is built again once dnerf is found.
"""

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


# property -> (dnerf_core option class, field, Blender-only keywords: label and UI slider limits)
DERIVED = {
    "seed": ("ExportOptions", "seed", {"name": "Seed"}),
    "truncation": ("ExportOptions", "truncation", {"name": "Truncation", "soft_min": 0.0, "soft_max": 2.0}),
    "mesh_resolution": ("ExportOptions", "mesh_resolution", {"name": "Mesh resolution"}),
    "cloud_views": ("ExportOptions", "views", {"name": "Cloud views", "soft_max": 256}),
    "cloud_resolution": ("ExportOptions", "resolution", {"name": "Cloud view size"}),
    "render_path": ("ExportOptions", "render", {"name": "Render path"}),
    "edit_steps": ("EditOptions", "steps", {"name": "Edit steps", "soft_max": 5000}),
    "edit_keep_weight": ("EditOptions", "keep_weight", {"name": "Keep weight", "soft_max": 1000.0}),
    "edit_label_keep_weight": ("EditOptions", "label_keep_weight", {"name": "Keep labels", "soft_max": 1000.0}),
}
NONE_AS_ZERO = " (0: the generator's own)"  # an optional number: 0 in Blender stands for None


def _option_fields():
    """{(class, field): OptionField} from dnerf_core, or None when it cannot be imported."""
    try:
        import dnerf_core as dn
    except ImportError:
        return None
    return {(cls, f.name): f for cls in ("ExportOptions", "EditOptions") for f in dn.option_fields(getattr(dn, cls))}


def derived_property(f, name: str, soft_min=None, soft_max=None):
    """The Blender property of one dnerf option field (f: dnerf_core.options.OptionField)."""
    o = f.option
    kw = {"name": name, "description": o.help}
    if f.type is str and o.choices:  # a choice among names: an enum, one item per choice
        if soft_min is not None or soft_max is not None:
            raise TypeError(f"option {f.name} is a choice: no slider limits")
        return EnumProperty(name=name, description=o.help, default=f.default,
                            items=[(c, c.capitalize(), c) for c in o.choices])
    if f.type is int:
        make, cast = IntProperty, int
    elif f.type is float:
        make, cast = FloatProperty, float
    else:
        raise TypeError(f"no Blender property for option {f.name} of type {f.type}")
    if f.optional:
        kw.update(default=cast(0), min=cast(0), description=o.help.split(" [default")[0] + NONE_AS_ZERO)
    else:
        kw["default"] = cast(f.default)
        if o.min is not None:
            kw["min"] = cast(o.min)
    if o.max is not None:
        kw["max"] = cast(o.max)
    for key, value in (("soft_min", soft_min), ("soft_max", soft_max)):
        if value is not None:
            kw[key] = cast(value)
    return make(**kw)


def _derived_annotations() -> dict:
    fields = _option_fields()
    out = {}
    for prop, (cls, field_name, blender) in DERIVED.items():
        if fields is None and prop == "render_path":
            out[prop] = EnumProperty(name=blender["name"], items=[("auto", "Auto", "")],
                                     description="dnerf_core not found (see the add-on preferences)")
        elif fields is None:  # dnerf not found yet: a placeholder of the right kind
            kind = FloatProperty if prop in ("truncation", "edit_keep_weight", "edit_label_keep_weight") else IntProperty
            out[prop] = kind(name=blender["name"], description="dnerf_core not found (see the add-on preferences)")
        else:
            out[prop] = derived_property(fields[(cls, field_name)], **blender)
    return out


class DNERF_SettingsBase:
    generator_kind: EnumProperty(
        name="Generator", default="procedural",
        items=[("procedural", "Procedural", "analytic oracle world with exact part labels"),
               ("default", "Default", "the small tri-plane generator shipped with dnerf"),
               ("checkpoint", "Checkpoint file", "a tri-plane (.pt) or EG3D (.pkl) checkpoint")])
    category: EnumProperty(name="Category", default="car",
                           items=[(c, c.capitalize(), f"{c} subjects") for c in CATEGORIES])
    checkpoint: StringProperty(name="Checkpoint", subtype="FILE_PATH", default="",
                             options={"PATH_SUPPORTS_BLEND_RELATIVE"})
    semantic_checkpoint: StringProperty(
        name="Semantic checkpoint", subtype="FILE_PATH", default="", options={"PATH_SUPPORTS_BLEND_RELATIVE"},
        description="the trained semantic branch that gives a learned generator its part labels")
    representation: EnumProperty(
        name="Representation", default="MESH",
        items=[("MESH", "Mesh", "marching-cubes mesh, faces labeled (FACE attribute 'part')"),
               ("POINTCLOUD", "Point cloud", "back-projected multi-view cloud (POINT attribute 'part')")])
    body_pose: EnumProperty(
        name="Body pose", default="rest",
        description="body pose of an articulated subject (the figure): a named pose, or a random pose from a seed",
        items=[("rest", "Rest", "standing, the canonical pose"), ("t", "T", "arms out"), ("walk", "Walk", "mid-stride"),
               ("sit", "Sit", "hips and knees bent 90 degrees"), ("wave", "Wave", "right arm raised"),
               ("RANDOM", "Random", "a random pose within the joint limits, without self-intersections, "
                                    "from the pose seed")])
    body_pose_seed: IntProperty(name="Pose seed", min=0, default=0,
                                description="seed of the random body pose (the same seed, the same pose)")
    body_armature: BoolProperty(
        name="Armature", default=True,
        description="mesh of an articulated subject: extract it in the rest pose and add an armature standing in the "
                    "body pose, so it can be posed in Blender with its part ids kept (bone rotations are the joint "
                    "angles, limits set); off: the mesh is extracted in the body pose, no armature")
    rig_views: IntProperty(name="Cameras", min=1, max=256, default=8)
    rig_poses_file: StringProperty(name="Poses file", subtype="FILE_PATH", default="",
                                   description="transforms.json or [yaw, pitch, radius] list (radians) whose cameras "
                                               "the rig gets instead of Cameras (empty: spread on the orbit)")
    render_resolution: IntProperty(name="Size", min=0, max=4096, default=0,
                                   description="render size in pixels (0: the generator's own, at least 128)")
    output_dir: StringProperty(name="Output folder", subtype="DIR_PATH", default="//dnerf_views/",
                                options={"PATH_SUPPORTS_BLEND_RELATIVE"})
    blender_render: BoolProperty(name="Blender comparison render", default=True,
                                 description="also render the labeled mesh with Cycles and compare with dnerf's masks")
    compare_engine: EnumProperty(
        name="Engine", default="CYCLES",
        items=[("CYCLES", "Cycles", "emission materials in the label colors, one centered sample per pixel"),
               ("WORKBENCH", "Workbench", "flat lighting, the part_color attribute, no anti-aliasing")])
    subject: PointerProperty(name="Subject", type=bpy.types.Object, poll=_is_subject)
    rig: PointerProperty(name="Rig", type=bpy.types.Object, poll=_is_rig)
    # What the running job (operators.ACTIVE) last reported, for the panels to show.
    progress: FloatProperty(name="Progress", subtype="PERCENTAGE", min=0, max=100, default=0)
    status: StringProperty(default="")
    last_result: StringProperty(default="", description="summary of the last finished job")


def settings_class() -> type:
    """The scene settings PropertyGroup, its dnerf options derived from dnerf_core's fields."""
    annotations = {**DNERF_SettingsBase.__annotations__, **_derived_annotations()}
    return type("DNERF_Settings", (bpy.types.PropertyGroup,), {"__annotations__": annotations})
