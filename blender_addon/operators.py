"""Operators: thin wrappers over the synchronous functions in subject.py, rig.py, multiview.py
and parts.py.

Long operators (generate, rig, render) run
- from the UI (invoke): as a modal operator driven by a window-manager timer, one job step per
  tick (jobs.ModalRunner), torch work in a worker thread, progress in the status bar and panel,
  Esc cancels;
- from Python / tests (execute, the default for bpy.ops calls): to the end at once (jobs.run_sync),
  since the bpy module runs no timers or modal handlers.
Every failure becomes one Blender report ({'ERROR'}, message); no traceback reaches the user.
"""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import armature, dnerf_env, edit, generator_spec, multiview, parts, preferences, rig, subject
from .jobs import ModalRunner, run_sync

TIMER_INTERVAL_S = 0.1
ACTIVE: dict = {"runner": None}  # at most one dnerf job at a time (one worker thread)


def error_message(exc: BaseException) -> str:
    """One line for the user: our own errors as they are, anything else with its kind."""
    ours = isinstance(exc, dnerf_env.DnerfUnavailable)
    try:
        from dnerf_core import DnerfError

        ours = ours or isinstance(exc, DnerfError)
    except ImportError:
        pass
    text = str(exc) if ours else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _settings(context):
    return context.scene.dnerf


def _panel_spec(s) -> str:
    return generator_spec.generator_spec(s.generator_kind, s.category, bpy.path.abspath(s.checkpoint))


def panel_posable(s) -> bool:
    return s.generator_kind != "checkpoint" and s.category in generator_spec.POSABLE_CATEGORIES


def panel_pose(s) -> str | None:
    """The body pose the panel asks for: a named pose or "random:SEED" for the posable category;
    None (no pose) for the rigid ones, whose subjects refuse one."""
    if not panel_posable(s):
        return None
    return f"random:{int(s.body_pose_seed)}" if s.body_pose == "RANDOM" else s.body_pose


def _output_dir(s) -> str:
    from dnerf_core import DnerfError

    raw = s.output_dir.strip()
    if not raw:
        raise DnerfError("choose an output folder")
    if raw.startswith("//") and not bpy.data.filepath:
        raise DnerfError(f"the output folder {raw!r} is relative to the .blend file: save the file first "
                         "or choose an absolute folder")
    return bpy.path.abspath(raw)


class _JobOperator:
    """Mixin: subclasses define make_job(context) -> job and finished(context, result) -> str."""

    bl_options = {"REGISTER", "UNDO"}  # every job adds to or changes the scene
    # Set by invoke() for the modal run (plain attributes: annotations would be read as bpy properties).
    _runner = None
    _timer = None

    def make_job(self, context):
        raise NotImplementedError

    def finished(self, context, result) -> str:
        raise NotImplementedError

    def _fail(self, context, exc: BaseException) -> set:
        msg = error_message(exc)
        _settings(context).status = msg
        self.report({"ERROR"}, msg)
        return {"CANCELLED"}

    def _done(self, context, result) -> set:
        msg = self.finished(context, result)
        s = _settings(context)
        s.status, s.last_result, s.progress = msg, msg, 100.0
        self.report({"INFO"}, msg)
        return {"FINISHED"}

    def _start_job(self, context):
        if ACTIVE["runner"] is not None:
            from dnerf_core import DnerfError

            raise DnerfError("another dnerf job is running; wait for it or press Esc to cancel it")
        preferences.ensure_dnerf(context)
        return self.make_job(context)

    def execute(self, context):
        try:
            result = run_sync(self._start_job(context))
        except Exception as exc:  # noqa: BLE001 - every failure is a report
            return self._fail(context, exc)
        return self._done(context, result)

    def invoke(self, context, event):
        try:
            job = self._start_job(context)
        except Exception as exc:  # noqa: BLE001
            return self._fail(context, exc)
        self._runner = ModalRunner(job)
        ACTIVE["runner"] = self._runner
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        _settings(context).status = "starting (Esc cancels)"
        return {"RUNNING_MODAL"}

    def _stop(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.area is not None:
            context.area.header_text_set(None)
        ACTIVE["runner"] = None

    def modal(self, context, event):
        runner = self._runner
        if event.type == "ESC" and event.value == "PRESS":
            runner.cancel()
            _settings(context).status = "cancelling..."
            return {"RUNNING_MODAL"}  # consumed: Esc means "stop the job", nothing else
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        done = runner.tick()
        s = _settings(context)
        s.progress = 100.0 * runner.fraction
        s.status = runner.message
        context.window_manager.progress_update(s.progress)
        if context.area is not None:
            context.area.header_text_set(f"dnerf: {runner.message} ({s.progress:.0f}%), Esc to cancel")
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        if not done:
            return {"RUNNING_MODAL"}
        self._stop(context)
        if runner.cancelled:
            s.status = "cancelled"
            self.report({"WARNING"}, "dnerf job cancelled")
            return {"CANCELLED"}
        if runner.error is not None:
            return self._fail(context, runner.error)
        try:
            return self._done(context, runner.result)
        except Exception as exc:  # noqa: BLE001
            return self._fail(context, exc)

    def cancel(self, context):  # Blender calls this when the window closes mid-job
        if self._runner is not None:
            self._runner.cancel()
        self._stop(context)


class DNERF_OT_generate_subject(_JobOperator, bpy.types.Operator):
    """Build a part-labeled mesh or point cloud with dnerf and add it to the scene"""

    bl_idname = "dnerf.generate_subject"
    bl_label = "Generate labeled subject"

    def make_job(self, context):
        s = _settings(context)
        req = subject.SubjectRequest(
            spec=_panel_spec(s), seed=s.seed, truncation=s.truncation, representation=s.representation,
            semantic_checkpoint=bpy.path.abspath(s.semantic_checkpoint) if s.semantic_checkpoint else "",
            mesh_resolution=s.mesh_resolution, views=s.cloud_views, resolution=s.cloud_resolution or None,
            pose=panel_pose(s), rig=panel_posable(s) and s.representation == "MESH" and s.body_armature)
        return subject.generate_subject_job(req, context.scene.collection)

    def finished(self, context, ob) -> str:
        _settings(context).subject = ob
        n = len(ob.data.polygons) if ob.type == "MESH" else len(ob.data.points)
        unit = "faces" if ob.type == "MESH" else "points"
        return f"{ob.name}: {n} {unit} labeled"


class DNERF_OT_generate_in_armature_pose(_JobOperator, bpy.types.Operator):
    """Build the subject again with dnerf in its armature's current pose, as a new object: the
    generator's own posed geometry and labels (the armature shows their rigid approximation)"""

    bl_idname = "dnerf.generate_in_armature_pose"
    bl_label = "Generate in armature pose"

    def make_job(self, context):
        import dataclasses

        from dnerf_core import DnerfError

        ob = _settings(context).subject
        if ob is None or armature.armature_of(ob) is None:
            raise DnerfError("select a subject with an armature (a figure mesh generated with Armature on)")
        req = dataclasses.replace(subject.request_of(ob), rig=False, name=f"{ob.name} posed")
        return subject.generate_subject_job(req, context.scene.collection)

    def finished(self, context, ob) -> str:
        _settings(context).subject = ob
        return f"{ob.name}: {len(ob.data.polygons)} faces labeled in the armature's pose"


def _rig_job(spec: str, n: int, collection, poses_file: str | None = None):
    """Job form of rig.build_camera_rig (loading a checkpoint may take a while)."""
    from .jobs import Offload

    cameras = yield Offload(lambda report: rig.camera_rig_poses(spec, n, poses_file), 0.0, 0.8, "load generator")
    return rig.create_rig(cameras, collection=collection, spec=spec)


class DNERF_OT_camera_rig(_JobOperator, bpy.types.Operator):
    """Add cameras on the generator's orbit (dnerf's own poses and focal), under one empty"""

    bl_idname = "dnerf.camera_rig"
    bl_label = "Create camera rig"

    def make_job(self, context):
        s = _settings(context)
        spec = s.subject[subject.PROP_GENERATOR] if s.subject is not None else _panel_spec(s)
        return _rig_job(spec, s.rig_views, context.scene.collection,
                        bpy.path.abspath(s.rig_poses_file) if s.rig_poses_file else None)

    def finished(self, context, rig_ob) -> str:
        _settings(context).rig = rig_ob
        return f"{rig_ob.name}: {len(rig.rig_cameras(rig_ob))} cameras"


class DNERF_OT_render_multiview(_JobOperator, bpy.types.Operator):
    """Write dnerf's RGB, mask and depth for every rig camera plus transforms.json, and render the
    labeled mesh with Blender for comparison"""

    bl_idname = "dnerf.render_multiview"
    bl_label = "Render multi-view masks"
    bl_options = {"REGISTER"}  # writes files, changes nothing to undo

    def make_job(self, context):
        s = _settings(context)
        req = multiview.RenderRequest(out=_output_dir(s), resolution=s.render_resolution or None,
                                      blender_render=s.blender_render, engine=s.compare_engine,
                                      render=s.render_path)
        return multiview.render_multiview_job(s.subject, s.rig, req, context.scene)

    def finished(self, context, result) -> str:
        msg = f"{result.views} views written to {result.out}"
        if result.agreement:
            msg += f"; Blender render agrees with dnerf masks on {100 * result.pooled_agreement:.1f}% of foreground pixels"
        return msg


def _subject_for(context):
    from dnerf_core import DnerfError

    ob = _settings(context).subject
    if ob is None:
        raise DnerfError("no dnerf subject: generate one first")
    return ob


class DNERF_OT_select_part(bpy.types.Operator):
    """Select the faces (mesh) or points (point cloud) of one part"""

    bl_idname = "dnerf.select_part"
    bl_label = "Select part"
    bl_options = {"REGISTER", "UNDO"}

    part_name: StringProperty(name="Part")
    extend: BoolProperty(name="Extend", default=False, description="keep the current selection")

    def execute(self, context):
        try:
            preferences.ensure_dnerf(context)
            n = parts.select_part(_subject_for(context), self.part_name, self.extend)
        except Exception as exc:  # noqa: BLE001
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{self.part_name}: {n} selected")
        return {"FINISHED"}


class DNERF_OT_hide_part(bpy.types.Operator):
    """Hide (or show again) one part; the part attribute is kept"""

    bl_idname = "dnerf.hide_part"
    bl_label = "Hide part"
    bl_options = {"REGISTER", "UNDO"}

    part_name: StringProperty(name="Part")
    hide: BoolProperty(name="Hide", default=True)

    def execute(self, context):
        try:
            preferences.ensure_dnerf(context)
            parts.set_part_hidden(_subject_for(context), self.part_name, self.hide)
        except Exception as exc:  # noqa: BLE001
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class DNERF_OT_show_all_parts(bpy.types.Operator):
    """Show every part of the subject again"""

    bl_idname = "dnerf.show_all_parts"
    bl_label = "Show all parts"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        try:
            preferences.ensure_dnerf(context)
            parts.show_all_parts(_subject_for(context))
        except Exception as exc:  # noqa: BLE001
            self.report({"ERROR"}, error_message(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


def _edit_subject(context):
    """The subject to edit: the active object if it is a dnerf subject, else the panel's subject."""
    active = context.view_layer.objects.active
    if active is not None and subject.PROP_KIND in active:
        return active
    return edit.subject_object(_settings(context).subject)


def _edit_camera(context, name: str):
    from dnerf_core import DnerfError

    if name:
        cam = bpy.data.objects.get(name)
        if cam is None:
            raise DnerfError(f"no object named {name!r}")
        return edit.rig_camera(cam)
    return edit.rig_camera(context.scene.camera)


def _show_image(context, image) -> None:
    """Show the image in every open Image Editor (nothing to do without a UI)."""
    screen = getattr(context, "screen", None)
    for area in screen.areas if screen else ():
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = image


class DNERF_OT_make_edit_mask(_JobOperator, bpy.types.Operator):
    """Render dnerf's part mask of the active rig camera's view into an image in the label colors,
    to paint the edit on in the Image Editor"""

    bl_idname = "dnerf.make_edit_mask"
    bl_label = "Make edit mask"

    camera: StringProperty(name="Camera", default="", description="rig camera (empty: the scene's camera)")

    def make_job(self, context):
        return edit.make_edit_mask_job(_edit_subject(context), _edit_camera(context, self.camera))

    def finished(self, context, image) -> str:
        _show_image(context, image)
        w, h = image.size
        return f"{image.name}: {w}x{h}; paint parts in their colors (transparent = don't care), then Fit edit by inversion"


class DNERF_OT_fit_edit(_JobOperator, bpy.types.Operator):
    """Edit the subject in 3D so the active rig camera's view shows the painted edit mask (or the
    repainted part attribute), by fitting its latents; the subject is replaced by the edited one"""

    bl_idname = "dnerf.fit_edit"
    bl_label = "Fit edit by inversion"

    steps: IntProperty(name="Steps", default=0, min=0, max=5000,
                       description="optimization steps (0: the scene's Edit steps setting)")
    source: EnumProperty(
        name="Edit from", default="AUTO",
        items=[("AUTO", "Auto", "the camera's edit mask image if there is one, else the repainted part attribute"),
               ("IMAGE", "Edit mask image", "the painted edit mask image of the camera (Make edit mask)"),
               ("PART", "Part attribute", "the repainted part attribute of the mesh (vs part_original)")])
    camera: StringProperty(name="Camera", default="", description="rig camera (empty: the scene's camera)")

    def make_job(self, context):
        s = _settings(context)
        steps = self.steps or s.edit_steps
        return edit.fit_edit_job(_edit_subject(context), _edit_camera(context, self.camera), steps=steps,
                                 source=self.source, keep_weight=s.edit_keep_weight,
                                 label_keep_weight=s.edit_label_keep_weight)

    def finished(self, context, out) -> str:
        ob = bpy.data.objects.get(out.object_name)
        where = ob.get(subject.PROP_SUBJECT_FILE, out.path) if ob is not None else out.path
        return (f"{out.object_name} edited ({out.source}): {out.region_pixels} pixels changed, {100 * out.agreement:.0f}% of "
                f"them now show the painted part; {out.seconds:.1f} s; saved to {where}")


CLASSES = (DNERF_OT_generate_subject, DNERF_OT_generate_in_armature_pose, DNERF_OT_make_edit_mask, DNERF_OT_fit_edit, DNERF_OT_camera_rig, DNERF_OT_render_multiview, DNERF_OT_select_part,
           DNERF_OT_hide_part, DNERF_OT_show_all_parts)
