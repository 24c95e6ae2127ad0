"""Render multi-view masks: dnerf's RGB / mask / depth per rig camera, plus Blender's own render of
the labeled mesh through the same cameras, and how well the two agree.

Output folder (dnerf's writers, the same files `dnerf-export --masks` writes):
  rgb/NNN.png, mask/NNN.png (palette, index = label id), depth/NNN.png (16-bit camera z-depth),
  transforms.json (OpenGL cam2world from the rig), labels.json;
plus Blender's side:
  blender/NNN.png        Blender's render of the labeled mesh in flat label colors: Cycles with the
                         parts' emission materials (default), or Workbench with flat lighting
                         showing the `part_color` attribute (no anti-aliasing)
  blender_mask/NNN.png   that render decoded back to label ids (palette PNG)
  agreement.json         per view: pixels where either side is foreground, and the fraction equal.
The dnerf side is rendered from the subject stored on the object (generator, seed, truncation),
so both sides show the same subject; the cameras are read back from the rig, so moved cameras
are honoured.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import generator_spec, rig as rig_mod, subject as subject_mod
from .jobs import Offload, Progress
from .parts import MODIFIER_NAME as HIDE_MODIFIER

ALPHA_FOREGROUND = 0.5  # Blender pixels at least this opaque are surface, the rest background
# A 1-sample render with a tiny box filter samples (almost) the pixel center, like dnerf's rays.
CYCLES_SAMPLES = 1
FILTER_WIDTH = 0.01
ENGINES = ("CYCLES", "WORKBENCH")


@dataclass
class RenderRequest:
    out: str
    resolution: int | None = None  # None: the generator's own resolution
    blender_render: bool = True
    engine: str = "CYCLES"  # one of ENGINES
    render: str = "auto"  # dnerf's render path for its views (dnerf_core.ExportOptions.render)


@dataclass
class RenderResult:
    out: Path
    views: int = 0
    agreement: list[float] = field(default_factory=list)  # per view, on foreground pixels
    foreground: list[int] = field(default_factory=list)  # per view, pixels foreground on either side

    @property
    def pooled_agreement(self) -> float:
        """Agreement over the foreground pixels of all views together."""
        total = sum(self.foreground)
        if not total:
            return float("nan")
        return float(sum(a * n for a, n in zip(self.agreement, self.foreground)) / total)


def _dnerf_views(source, cameras, resolution, report, render: str = "auto"):
    """source: the subject's SubjectRequest (seed, or fitted-subject file after an edit) ->
    a dnerf_core.LabeledSubject with the rig's views (no cloud, no mesh)."""
    import dnerf_core as dn

    gen = generator_spec.load_labeled(source.spec, source.semantic_checkpoint)
    report(0.05, "sample subject")
    subject = subject_mod.sample_subject(gen, source)
    done = [0]

    def views_done(stage: str, n: int) -> None:
        done[0] += n
        report(0.1 + 0.9 * done[0] / len(cameras), f"dnerf views {done[0]}/{len(cameras)}")

    return dn.label_subject(gen, subject=subject, cameras=cameras, resolution=resolution, cloud=False, mesh=False,
                            progress=views_done, render=render)


def _write_dnerf_outputs(out: Path, labeled, extra: dict, report) -> None:
    """dnerf-export's masks output (dnerf_core.export), so the files are the same."""
    import dnerf_core as dn

    report(0.0, "write views")
    dn.export(labeled, out, formats=("masks",), extra=extra)


def decode_label_render(rgba: np.ndarray, label_set) -> np.ndarray:
    """[H,W,4] uint8 render in flat label colors -> [H,W] label ids (nearest label color; clear
    pixels are background). Nearest, not exact: 8-bit color management may be off by one."""
    palette = label_set.palette().astype(np.int32)  # [K,3]
    rgb = rgba[..., :3].astype(np.int32)
    dist = ((rgb[..., None, :] - palette[None, None]) ** 2).sum(-1)  # [H,W,K]
    ids = dist.argmin(-1)
    ids[rgba[..., 3] < ALPHA_FOREGROUND * 255] = 0
    return ids.astype(np.int64)


def mask_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Fraction of pixels with equal ids among those that are foreground (id > 0) in a or b."""
    fg = (a > 0) | (b > 0)
    n = int(fg.sum())
    return (float((a[fg] == b[fg]).mean()) if n else 1.0), n


class _RenderSettings:
    """Set the scene up for flat label-color renders and put every setting back afterwards."""

    def __init__(self, scene, keep_visible: bpy.types.Object, width: int, height: int, engine: str = "CYCLES"):
        self.scene, self.keep, self.size, self.engine = scene, keep_visible, (width, height), engine
        self.saved: list[tuple[object, str, object]] = []
        self.hidden: list[bpy.types.Object] = []

    def _set(self, owner, attr: str, value) -> None:
        self.saved.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, value)

    def __enter__(self):
        s, r = self.scene, self.scene.render
        self._set(s, "camera", s.camera)
        if self.engine == "WORKBENCH":
            # Flat lighting shows colors as they are; the active color attribute (part_color,
            # CORNER domain) is what 'VERTEX' displays; no anti-aliasing blends part borders.
            self._set(r, "engine", "BLENDER_WORKBENCH")
            shading = s.display.shading
            self._set(shading, "light", "FLAT")
            self._set(shading, "color_type", "VERTEX")
            self._set(s.display, "render_aa", "OFF")
        else:
            self._set(r, "engine", "CYCLES")
        self._set(r, "resolution_x", self.size[0])
        self._set(r, "resolution_y", self.size[1])
        self._set(r, "resolution_percentage", 100)
        self._set(r, "pixel_aspect_x", 1.0)
        self._set(r, "pixel_aspect_y", 1.0)
        self._set(r, "film_transparent", True)
        self._set(r, "use_compositing", False)
        self._set(r, "use_sequencer", False)
        self._set(r.image_settings, "file_format", "PNG")
        self._set(r.image_settings, "color_mode", "RGBA")
        self._set(r.image_settings, "color_depth", "8")
        self._set(s.view_settings, "view_transform", "Standard")
        self._set(s.view_settings, "look", "None")
        self._set(s.view_settings, "exposure", 0.0)
        self._set(s.view_settings, "gamma", 1.0)
        c = s.cycles
        self._set(c, "device", "CPU")
        self._set(c, "samples", CYCLES_SAMPLES)
        self._set(c, "use_adaptive_sampling", False)
        self._set(c, "use_denoising", False)
        self._set(c, "pixel_filter_type", "BOX")
        self._set(c, "filter_width", FILTER_WIDTH)
        self._set(c, "max_bounces", 0)
        # The whole labeled mesh, whatever is hidden for viewing: dnerf's masks show every part.
        self._set(self.keep, "hide_render", False)
        hide_parts = self.keep.modifiers.get(HIDE_MODIFIER)
        if hide_parts is not None:
            self._set(hide_parts, "show_render", False)
        for ob in s.objects:  # only the subject: other objects would occlude it
            if ob is not self.keep and not ob.hide_render and ob.type not in ("CAMERA", "EMPTY"):
                ob.hide_render = True
                self.hidden.append(ob)
        return self

    def __exit__(self, *exc) -> None:
        for owner, attr, value in reversed(self.saved):
            try:
                setattr(owner, attr, value)
            except (TypeError, ValueError, AttributeError):
                pass  # e.g. a camera deleted meanwhile: nothing to restore
        for ob in self.hidden:
            ob.hide_render = False


def render_blender_view(scene, camera_ob, path: Path) -> np.ndarray:
    """Render one view with the current settings, write it to `path`, return [H,W,4] uint8."""
    from PIL import Image

    scene.camera = camera_ob
    scene.render.filepath = str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.render.render(write_still=True, scene=scene.name)
    if not path.is_file():
        raise RuntimeError(f"Blender did not write its render to {path}")
    with Image.open(path) as img:
        return np.asarray(img.convert("RGBA"))


def render_multiview_job(subject_ob: bpy.types.Object, rig_ob: bpy.types.Object, req: RenderRequest, scene=None):
    """Job (see jobs.py). Returns a RenderResult."""
    from dnerf_core import DnerfError
    import dnerf_core as dn
    from dnerf_core import write_mask_png

    scene = scene or bpy.context.scene
    if subject_ob is None or subject_mod.PROP_GENERATOR not in subject_ob:
        raise DnerfError("select a subject made by 'Generate labeled subject' first")
    if req.blender_render and subject_ob.type != "MESH":
        raise DnerfError("Blender's comparison render needs the mesh representation; generate a mesh subject")
    if rig_ob is None or rig_mod.RIG_PROP not in rig_ob:
        raise DnerfError("create a camera rig first")
    if req.resolution is not None and not 8 <= req.resolution <= 4096:
        raise DnerfError(f"resolution must be between 8 and 4096, got {req.resolution}")
    if req.engine not in ENGINES:
        raise DnerfError(f"render engine must be one of {', '.join(ENGINES)}, got {req.engine!r}")
    dn.ExportOptions(render=req.render).validate()  # an unknown path, or surface without its extra
    out = dn.ensure_dir(req.out)
    spec = subject_ob[subject_mod.PROP_GENERATOR]
    seed = int(subject_ob[subject_mod.PROP_SEED])
    source = subject_mod.request_of(subject_ob)
    cameras = rig_mod.cameras_from_rig(rig_ob)
    cams = rig_mod.rig_cameras(rig_ob)
    n = len(cams)
    span = 0.6 if req.blender_render else 0.9

    labeled = yield Offload(lambda report: _dnerf_views(source, cameras, req.resolution, report, req.render),
                            0.0, span * 0.7, "dnerf views")
    label_set, views = labeled.label_set, labeled.views
    extra = {"generator": spec, "seed": seed, "rig": rig_ob.name, "blender_subject": subject_ob.name}
    if source.subject_file:
        extra["subject_file"] = source.subject_file
    yield Offload(lambda report: _write_dnerf_outputs(out, labeled, extra, report),
                  span * 0.7, span, "write dnerf views")
    result = RenderResult(out, views=n)
    if not req.blender_render:
        return result
    h, w = views.labels.shape[1:]
    renders = []
    with _RenderSettings(scene, subject_ob, w, h, req.engine):
        for i, cam in enumerate(cams):
            yield Progress(span + 0.35 * i / n, f"Blender render {i + 1}/{n}")
            renders.append(render_blender_view(scene, cam, out / "blender" / f"{i:03d}.png"))

    def compare(report):
        rows = []
        for i, rgba in enumerate(renders):
            ids = decode_label_render(rgba, label_set)
            write_mask_png(out / "blender_mask" / f"{i:03d}.png", ids, label_set)
            agree, n_fg = mask_agreement(ids, views.labels[i].numpy())
            rows.append({"view": i, "foreground_pixels": n_fg, "agreement": agree})
            report((i + 1) / n)
        result.agreement = [r["agreement"] for r in rows]
        result.foreground = [r["foreground_pixels"] for r in rows]
        summary = {"generator": spec, "seed": seed, "engine": req.engine, "views": rows,
                   "pooled_agreement": result.pooled_agreement}
        (out / "agreement.json").write_text(json.dumps(summary, indent=2) + "\n")

    yield Offload(compare, 0.95, 1.0, "compare masks")
    return result


def render_multiview(subject_ob, rig_ob, req: RenderRequest, scene=None) -> RenderResult:
    """Synchronous Render multi-view masks (what tests and scripts call)."""
    from .jobs import run_sync

    return run_sync(render_multiview_job(subject_ob, rig_ob, req, scene))
