"""The main job: one subject of a generator -> labeled PLY cloud, part GLB, masks, transforms.

`write_subject` writes a LabeledSubject (factory/labeled_subject.py): everything goes into a
staging folder inside the output folder and is moved into place only when all of it succeeded,
so a failed export leaves the output folder as it was (dnerf-export's options: export_options.py).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DnerfError
from ..io.atomic import atomic_write_text, staged_output
from .export_options import DEFAULT_FORMATS, FORMATS, NEEDS_CLOUD
from .labeled_subject import LabeledSubject

MANIFEST_NAME = "export.json"


@dataclass
class ExportResult:
    """out: the output folder; files: every file written (export.json included); n_points /
    n_faces: size of the written cloud / mesh (0 when not written)."""

    out: Path
    files: list[Path] = field(default_factory=list)
    n_points: int = 0
    n_faces: int = 0


def check_formats(formats, allow_none: bool = False) -> tuple[str, ...]:
    """`formats` (names of FORMATS) as a tuple, unknown names refused, and no names unless
    allow_none (an export of an orbit video alone)."""
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise DnerfError(f"unknown export format(s) {', '.join(map(repr, unknown))}; known: {', '.join(FORMATS)}")
    if not formats and not allow_none:
        raise DnerfError(f"nothing to export: choose at least one of {', '.join(FORMATS)}")
    return formats


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_outputs(labeled: LabeledSubject, formats: tuple[str, ...], stage: Path, extra: dict,
                   nerf: NerfOptions) -> ExportResult:
    from .export.frames import write_frames
    from .export.glb import write_glb
    from .export.ply import write_point_cloud_ply
    from .export.shapenet_part import write_pts_seg

    result = ExportResult(stage)
    labeled.label_set.save(stage / "labels.json")
    if "masks" in formats:
        if labeled.views is None:
            raise DnerfError("this labeled subject has no views (label_subject(..., views=0))")
        write_frames(stage, labeled.views, labeled.label_set, {**labeled.provenance, **extra},
                     ply_file_path="cloud.ply" if "ply" in formats else None, eval_views=nerf.eval_views,
                     include_mask=nerf.nerf_mask)
    if any(f in formats for f in NEEDS_CLOUD):
        if labeled.cloud is None:
            raise DnerfError("this labeled subject has no point cloud (label_subject(..., cloud=False))")
        if "ply" in formats:
            write_point_cloud_ply(stage / "cloud.ply", labeled.cloud, labeled.label_set)
        if "pts" in formats:
            write_pts_seg(stage / "cloud", labeled.cloud)
        result.n_points = len(labeled.cloud)
    if "glb" in formats:
        if labeled.mesh is None:
            raise DnerfError("this labeled subject has no mesh (label_subject(..., mesh=False))")
        write_glb(stage / "mesh.glb", labeled.mesh, labeled.label_set)
        result.n_faces = len(labeled.mesh.faces)
    if labeled.video is not None:
        from .export.video import write_orbit_video

        write_orbit_video(stage, labeled.video.rgb, labeled.video.labels, labeled.label_set, nerf.video_format,
                          nerf.video_fps)
    return result


@dataclass(frozen=True)
class NerfOptions:
    """How the views are laid out for NeRF tools (factory/export/frames.py): eval_views: frames held
    out as val/test (None: max(2, 10%)); nerf_mask: also write fg_mask/ as mask_path; and how an
    orbit video (LabeledSubject.video) is encoded: video_format "mp4" or "gif", video_fps."""

    eval_views: int | None = None
    nerf_mask: bool = False
    video_format: str = "mp4"
    video_fps: int = 24


def write_subject(labeled: LabeledSubject, out: str | Path, formats=DEFAULT_FORMATS,
                  extra: dict | None = None, nerf: NerfOptions = NerfOptions()) -> ExportResult:
    """Write `labeled` into `out` (labels.json, the chosen formats, its orbit video if any,
    export.json with checksums): all files appear together or, on any error, none. extra: more
    keys for transforms.json."""
    formats = check_formats(formats, allow_none=labeled.video is not None)
    with staged_output(out) as staged:
        stage = staged.stage
        result = _write_outputs(labeled, formats, stage, dict(extra or {}), nerf)
        manifest = {
            "generator": labeled.generator, "seed": labeled.seed, "subject_file": labeled.subject_file,
            "views": len(labeled.views) if labeled.views is not None else 0, "resolution": labeled.resolution, "truncation": labeled.truncation,
            "n_points": result.n_points, "n_faces": result.n_faces, "render": labeled.render,
            "video": len(labeled.video) if labeled.video is not None else 0, "poses": (extra or {}).get("poses"),
            # an articulated subject's body pose (resolved joint angles); rigid exports keep their bytes
            **({"body_pose": labeled.pose} if labeled.pose is not None else {}),
            "files": {str(p.relative_to(stage)): _sha256(p) for p in sorted(stage.rglob("*")) if p.is_file()},
        }
        atomic_write_text(stage / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    result.files = staged.published
    result.out = staged.out
    return result

