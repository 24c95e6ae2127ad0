"""One material per part, in the exact label color.

Each material shows the label color three ways, so every Blender renderer gives the same flat
colors: the viewport/Workbench color (`diffuse_color`), and for Cycles/EEVEE an Emission shader
(strength 1) as the surface, so lighting never changes the color. Label colors are sRGB; Blender
material colors are linear, hence the conversion. With the 'Standard' view transform a render
then shows the label colors themselves (to within 8-bit rounding).
"""
from __future__ import annotations

import bpy

MATERIAL_PREFIX = "dnerf"


def srgb_to_linear(rgb_u8) -> tuple[float, float, float]:
    """sRGB 0..255 -> linear 0..1 (IEC 61966-2-1), the curve Blender's color management inverts."""
    out = []
    for c in rgb_u8:
        c = c / 255.0
        out.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return tuple(out)


def label_material(label_set_name: str, label) -> bpy.types.Material:
    """The material for one label (created once per label set and label, then reused)."""
    name = f"{MATERIAL_PREFIX}.{label_set_name}.{label.id:02d}.{label.name}"
    mat = bpy.data.materials.get(name)
    if mat is None:
        mat = bpy.data.materials.new(name)
    lin = srgb_to_linear(label.color)
    mat.diffuse_color = (*lin, 1.0)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True  # always on (and deprecated) from Blender 5.0
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    emit = nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (*lin, 1.0)
    emit.inputs["Strength"].default_value = 1.0
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    # Emission here is only a flat color, not a light: keep Cycles from building a light tree
    # over every triangle (seconds per render on a big mesh).
    mat.cycles.emission_sampling = "NONE"
    mat["dnerf_label_id"] = label.id
    mat["dnerf_label_name"] = label.name
    return mat


def assign_label_materials(data, label_set, label_set_name: str) -> None:
    """Material slot i holds label i's material (background included), so material index = part id."""
    data.materials.clear()
    for label in label_set.labels:
        data.materials.append(label_material(label_set_name, label))
