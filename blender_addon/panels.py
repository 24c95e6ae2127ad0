"""Sidebar panels (3D viewport, N panel, tab "DatasetNeRF")."""
from __future__ import annotations

import bpy

from . import armature, dnerf_env, operators, parts, rig, subject

CATEGORY = "DatasetNeRF"


class _DnerfPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


def _props(layout, s, *names: str) -> None:
    for name in names:
        layout.prop(s, name)


def _draw_job_state(layout, s) -> None:
    runner = operators.ACTIVE["runner"]
    if runner is not None:
        box = layout.box()
        box.label(text=f"{s.status} ({s.progress:.0f}%)", icon="SORTTIME")
        box.label(text="Esc cancels")
    elif s.status:
        layout.label(text=s.status, icon="INFO")


class DNERF_PT_generate(_DnerfPanel, bpy.types.Panel):
    bl_idname = "DNERF_PT_generate"
    bl_label = "Generate labeled subject"

    def draw(self, context):
        layout, s = self.layout, context.scene.dnerf
        if not dnerf_env.available():
            layout.label(text="dnerf_core not found: see the add-on preferences", icon="ERROR")
        layout.prop(s, "generator_kind")
        if s.generator_kind == "checkpoint":
            layout.prop(s, "checkpoint")
            layout.prop(s, "semantic_checkpoint")
        else:
            layout.prop(s, "category")
            if s.generator_kind == "default":
                layout.prop(s, "semantic_checkpoint")
        row = layout.row(align=True)
        row.prop(s, "seed")
        row.prop(s, "truncation")
        posable = operators.panel_posable(s)
        if posable:
            row = layout.row(align=True)
            row.prop(s, "body_pose")
            if s.body_pose == "RANDOM":
                row.prop(s, "body_pose_seed")
        layout.prop(s, "representation", expand=True)
        if s.representation == "MESH":
            layout.prop(s, "mesh_resolution")
            if posable:
                layout.prop(s, "body_armature")
        else:
            row = layout.row(align=True)
            row.prop(s, "cloud_views")
            row.prop(s, "cloud_resolution")
        layout.operator(operators.DNERF_OT_generate_subject.bl_idname, icon="MESH_MONKEY")
        layout.prop(s, "subject")
        if s.subject is not None and armature.armature_of(s.subject) is not None:
            layout.operator(operators.DNERF_OT_generate_in_armature_pose.bl_idname, icon="ARMATURE_DATA")
        _draw_job_state(layout, s)


class DNERF_PT_legend(_DnerfPanel, bpy.types.Panel):
    """The label legend of the subject: one row per part, with select / hide buttons."""

    bl_idname = "DNERF_PT_legend"
    bl_label = "Parts"
    bl_parent_id = "DNERF_PT_generate"

    @classmethod
    def poll(cls, context):
        ob = context.scene.dnerf.subject
        return ob is not None and subject.PROP_LABELS in ob

    def draw(self, context):
        layout, ob = self.layout, context.scene.dnerf.subject
        try:
            label_set = subject.subject_label_set(ob)
            hidden = set(parts.hidden_parts(ob))
        except Exception as exc:  # noqa: BLE001 - e.g. dnerf_core missing: say so, do not break the UI
            layout.label(text=operators.error_message(exc), icon="ERROR")
            return
        materials = ob.data.materials
        for lab in label_set.labels[1:]:
            row = layout.row(align=True)
            if lab.id < len(materials) and materials[lab.id] is not None:
                row.prop(materials[lab.id], "diffuse_color", text="")  # the label color swatch
            row.label(text=f"{lab.id}  {lab.name}")
            op = row.operator(operators.DNERF_OT_select_part.bl_idname, text="", icon="RESTRICT_SELECT_OFF")
            op.part_name = lab.name
            is_hidden = lab.name in hidden
            op = row.operator(operators.DNERF_OT_hide_part.bl_idname, text="",
                              icon="HIDE_ON" if is_hidden else "HIDE_OFF")
            op.part_name, op.hide = lab.name, not is_hidden
        if hidden:
            layout.operator(operators.DNERF_OT_show_all_parts.bl_idname)


class DNERF_PT_rig(_DnerfPanel, bpy.types.Panel):
    bl_idname = "DNERF_PT_rig"
    bl_label = "Camera rig"

    def draw(self, context):
        layout, s = self.layout, context.scene.dnerf
        _props(layout, s, "rig_views", "rig_poses_file")
        layout.operator(operators.DNERF_OT_camera_rig.bl_idname, icon="CAMERA_DATA")
        layout.prop(s, "rig")
        if s.rig is not None:
            layout.label(text=f"{len(rig.rig_cameras(s.rig))} cameras, generator {s.rig[rig.RIG_PROP]}")


class DNERF_PT_render(_DnerfPanel, bpy.types.Panel):
    bl_idname = "DNERF_PT_render"
    bl_label = "Render multi-view masks"

    def draw(self, context):
        layout, s = self.layout, context.scene.dnerf
        _props(layout, s, "output_dir", "render_resolution", "render_path")
        row = layout.row()
        row.prop(s, "blender_render")
        row.prop(s, "compare_engine", text="")
        layout.operator(operators.DNERF_OT_render_multiview.bl_idname, icon="RENDER_STILL")
        if s.last_result:
            layout.label(text=s.last_result)


class DNERF_PT_edit(_DnerfPanel, bpy.types.Panel):
    """3D-aware semantic editing from the active rig camera's view."""

    bl_idname = "DNERF_PT_edit"
    bl_label = "Edit by inversion"

    def draw(self, context):
        layout, s = self.layout, context.scene.dnerf
        cam = context.scene.camera
        ok = cam is not None and rig.VIEW_PROP in cam
        layout.label(text=f"Camera: {cam.name if cam else 'none'}" + ("" if ok else " (not a rig camera)"),
                     icon="CAMERA_DATA" if ok else "ERROR")
        layout.operator(operators.DNERF_OT_make_edit_mask.bl_idname, icon="IMAGE_DATA")
        layout.label(text="Paint the mask (or repaint 'part'), then:")
        row = layout.row(align=True)
        row.prop(s, "edit_steps")
        row.prop(s, "edit_keep_weight")
        row.prop(s, "edit_label_keep_weight")
        layout.operator(operators.DNERF_OT_fit_edit.bl_idname, icon="MOD_UVPROJECT")
        _draw_job_state(layout, s)


CLASSES = (DNERF_PT_generate, DNERF_PT_legend, DNERF_PT_rig, DNERF_PT_render, DNERF_PT_edit)
