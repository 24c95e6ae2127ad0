"""Select or hide one part of a spawned subject, by part name.

Select: sets the selection flags of the part's faces (meshes; visible in Edit Mode) or the
`.selection` attribute of its points (point clouds). Hide: faces and points keep existing (the
`part` attribute is never touched); a boolean attribute HIDDEN_ATTRIBUTE marks the hidden ones and
a Geometry Nodes modifier deletes the marked elements from the evaluated geometry, so a hidden part
disappears in the viewport and in renders, for meshes and point clouds alike, and "Show all"
brings it back.
"""
from __future__ import annotations

import bpy
import numpy as np

from .subject import PART_ATTRIBUTE, part_values, subject_label_set

HIDDEN_ATTRIBUTE = "dnerf_hidden"
MODIFIER_NAME = "dnerf hide parts"
NODE_GROUP_NAME = "dnerf hide parts"


def _part_id(ob, part_name: str) -> int:
    from dnerf_core import DnerfError

    label_set = subject_label_set(ob)
    if label_set is None or PART_ATTRIBUTE not in ob.data.attributes:
        raise DnerfError(f"{ob.name if ob else 'nothing'} is not a labeled dnerf subject")
    return label_set.id_of(part_name)


def _domain(ob) -> str:
    return "FACE" if ob.type == "MESH" else "POINT"


def _changed(ob) -> None:
    """Tell Blender the data changed (meshes have update(); point clouds only update_tag())."""
    if hasattr(ob.data, "update"):
        ob.data.update()
    else:
        ob.data.update_tag()
    ob.update_tag()


def _leave_edit_mode(ob) -> bool:
    """Flags written from Python are overwritten by Edit Mode's own copy: work in Object Mode."""
    if ob.mode != "EDIT":
        return False
    with bpy.context.temp_override(active_object=ob, object=ob):
        bpy.ops.object.mode_set(mode="OBJECT")
    return True


def _read_flags(data, name: str, n: int) -> np.ndarray:
    out = np.zeros(n, bool)
    attr = data.attributes.get(name)
    if attr is not None:
        attr.data.foreach_get("value", out)
    return out


def _write_flags(data, name: str, domain: str, values: np.ndarray) -> None:
    attr = data.attributes.get(name) or data.attributes.new(name, "BOOLEAN", domain)
    attr.data.foreach_set("value", np.ascontiguousarray(values, dtype=bool))


def select_part(ob, part_name: str, extend: bool = False) -> int:
    """Select the part's faces/points (others deselected unless extend). Returns how many."""
    sel = part_values(ob) == _part_id(ob, part_name)
    was_edit = _leave_edit_mode(ob)
    if ob.type == "MESH":
        me = ob.data
        if extend:
            sel = sel | _read_flags(me, ".select_poly", len(me.polygons))
        # A face shows as selected in Edit Mode only with its vertices selected too. Edges are
        # left alone: in bpy 5.0.1 writing edge selection from Python crashed (segfault) or hit
        # a mistyped attribute, and Edit Mode derives them from the vertices when it flushes.
        corners = np.zeros(len(me.loops), np.int32)
        me.loops.foreach_get("vertex_index", corners)
        starts = np.zeros(len(me.polygons), np.int32)
        me.polygons.foreach_get("loop_start", starts)
        sizes = np.diff(np.append(starts, len(me.loops)))
        vsel = np.zeros(len(me.vertices), bool)
        vsel[corners[np.repeat(sel, sizes)]] = True
        _write_flags(me, ".select_vert", "POINT", vsel)
        _write_flags(me, ".select_poly", "FACE", sel)
    else:
        pc = ob.data
        if extend:
            sel = sel | _read_flags(pc, ".selection", len(pc.points))
        _write_flags(pc, ".selection", "POINT", sel)
    _changed(ob)
    if was_edit:
        with bpy.context.temp_override(active_object=ob, object=ob):
            bpy.ops.object.mode_set(mode="EDIT")
    return int(sel.sum())


def _hide_node_group() -> bpy.types.NodeTree:
    """Geometry nodes: delete faces (meshes) or points (clouds) whose HIDDEN_ATTRIBUTE is true."""
    ng = bpy.data.node_groups.get(NODE_GROUP_NAME)
    if ng is not None:
        return ng
    ng = bpy.data.node_groups.new(NODE_GROUP_NAME, "GeometryNodeTree")
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = ng.nodes, ng.links
    gin, gout = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    flag = nodes.new("GeometryNodeInputNamedAttribute")
    flag.data_type = "BOOLEAN"
    flag.inputs["Name"].default_value = HIDDEN_ATTRIBUTE
    # One delete per domain: a mesh has the flag on faces, a point cloud on points; the other
    # delete finds no such attribute on its domain (false everywhere) and removes nothing.
    del_faces = nodes.new("GeometryNodeDeleteGeometry")
    del_faces.domain = "FACE"
    del_points = nodes.new("GeometryNodeDeleteGeometry")
    del_points.domain = "POINT"
    is_cloud = nodes.new("GeometryNodeSeparateComponents")
    links.new(gin.outputs[0], is_cloud.inputs[0])
    links.new(is_cloud.outputs["Mesh"], del_faces.inputs["Geometry"])
    links.new(flag.outputs["Attribute"], del_faces.inputs["Selection"])
    links.new(is_cloud.outputs["Point Cloud"], del_points.inputs["Geometry"])
    links.new(flag.outputs["Attribute"], del_points.inputs["Selection"])
    join = nodes.new("GeometryNodeJoinGeometry")
    links.new(del_points.outputs[0], join.inputs[0])
    links.new(del_faces.outputs[0], join.inputs[0])
    links.new(join.outputs[0], gout.inputs[0])
    return ng


def set_part_hidden(ob, part_name: str, hidden: bool = True) -> int:
    """Hide (or show) one part. Returns the number of faces/points of that part."""
    sel = part_values(ob) == _part_id(ob, part_name)
    was_edit = _leave_edit_mode(ob)
    data = ob.data
    attr = data.attributes.get(HIDDEN_ATTRIBUTE) or data.attributes.new(HIDDEN_ATTRIBUTE, "BOOLEAN", _domain(ob))
    flags = np.zeros(len(attr.data), bool)
    attr.data.foreach_get("value", flags)
    flags[sel] = hidden
    attr.data.foreach_set("value", flags)
    if ob.modifiers.get(MODIFIER_NAME) is None:
        mod = ob.modifiers.new(MODIFIER_NAME, "NODES")
        mod.node_group = _hide_node_group()
    _changed(ob)
    if was_edit:
        with bpy.context.temp_override(active_object=ob, object=ob):
            bpy.ops.object.mode_set(mode="EDIT")
    return int(sel.sum())


def show_all_parts(ob) -> None:
    attr = ob.data.attributes.get(HIDDEN_ATTRIBUTE)
    if attr is not None:
        attr.data.foreach_set("value", np.zeros(len(attr.data), bool))
        _changed(ob)


def hidden_parts(ob) -> list[str]:
    """Names of the parts with any hidden element."""
    attr = ob.data.attributes.get(HIDDEN_ATTRIBUTE) if ob is not None else None
    label_set = subject_label_set(ob)
    if attr is None or label_set is None:
        return []
    flags = np.zeros(len(attr.data), bool)
    attr.data.foreach_get("value", flags)
    ids = np.unique(part_values(ob)[flags])
    return [label_set.labels[i].name for i in ids]


def evaluated_count(ob, depsgraph=None) -> int:
    """Faces (meshes) or points (clouds) left after the hide modifier: what the viewport shows."""
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    ev = ob.evaluated_get(depsgraph)
    return len(ev.data.polygons) if ob.type == "MESH" else len(ev.data.points)
