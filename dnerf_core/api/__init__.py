"""dnerf's Python API: load a generator, label a subject in memory, export it.

    >>> import dnerf_core as dn
    >>> gen = dn.load_generator("procedural:car", device="cpu")
    >>> labeled = dn.label_subject(gen, seed=7, views=2, resolution=32, mesh_resolution=32)
    >>> labeled.views.rgb.shape, labeled.views.mask.shape
    (torch.Size([2, 32, 32, 3]), torch.Size([2, 32, 32]))
    >>> labeled.label_set.names[:3]
    ['background', 'body', 'hood']

The command line, the Blender add-on and research/ use these names and nothing below them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..cameras import Cameras
from ..device import resolve_device
from ..errors import DnerfError
from ..factory.labeled_subject import (DEFAULT_MESH_RESOLUTION, LabeledSubject, check_views_fit,
                                       compute_labeled_subject, orbit_views)
from ..factory.export_options import (DEFAULT_FORMATS, DEFAULT_RENDER_PATH, DEFAULT_VIEW_RESOLUTION, FORMATS,
                                     ExportOptions)
from ..factory.subject_export import ExportResult, NerfOptions, write_subject
from ..factory.views import default_view_resolution
from ..generators.base import Generator, Subject
from ..generators.registry import load_generator as _load_base, shipped_semantic
from ..generators.spec import GeneratorSpec

__all__ = ["Cameras", "DEFAULT_FORMATS", "ExportOptions", "ExportResult", "FORMATS", "GeneratorSpec",
           "LabeledSubject", "NerfOptions", "export", "label_subject", "load_generator", "orbit_views", "sample_subject"]


def load_generator(spec: str | GeneratorSpec, semantic: str | Path | bool | None = None,
                   device: str = "auto") -> Generator:
    """The generator `spec` names (a GeneratorSpec or its text), ready to label subjects.

    semantic: a semantic checkpoint (`dnerf train-semantic`) that labels a learned generator;
    None takes the branch shipped beside `default:<category>`'s weights when there is one;
    False loads the generator alone (what a semantic branch is trained on).
    device: 'cpu', 'cuda[:N]' or 'auto' (cuda when available); weights load to the CPU first and
    are then moved. The result carries its spec as `.spec`.

    >>> import dnerf_core as dn
    >>> gen = dn.load_generator("default:car", device="cpu")
    >>> gen.spec.kind, gen.spec.category, gen.label_set.names[1]
    ('default', 'car', 'body')
    """
    target = resolve_device(device)  # an unusable device fails before the (slow) load
    spec = GeneratorSpec.parse(spec)
    generator = _load_base(spec, device="cpu")
    if semantic is None:
        semantic = shipped_semantic(spec)
    if semantic is not None and semantic is not False:
        from ..semantic.labeled import with_semantic

        generator = with_semantic(generator, semantic)
    return _to_device(generator, target)


def _to_device(generator, device):
    if device.type == "cpu":
        return generator
    from ..generators.posing import base_generator

    base = base_generator(generator)
    if hasattr(base, "to"):
        base.to(device)
    branch = getattr(generator, "branch", None)
    if branch is not None:
        branch.to(device)
    return generator


def sample_subject(generator: Generator, seed: int | None = None, subject=None, truncation: float = 1.0,
                   pose=None) -> Subject:
    """The one subject `label_subject` labels: the seed's, or `subject` (a Subject, or a fitted
    subject file of `dnerf invert` / `dnerf edit`); pose: its body pose (articulated generators
    only, see label_subject)."""
    from ..generators.posing import base_generator, check_pose_spec, require_posable, subject_pose_spec

    if (seed is None) == (subject is None):
        raise DnerfError("give exactly one of seed=... or subject=...")
    ExportOptions(seed=seed if seed is not None else 0, truncation=truncation).validate()
    check_pose_spec(pose)  # a bad pose is refused before the generator is asked anything
    require_posable(generator, pose, "pose")
    if subject is None:
        kwargs = {} if pose is None else {"pose": subject_pose_spec(pose, seed)}
        return generator.sample([seed], truncation=truncation, **kwargs)
    if isinstance(subject, (str, Path)):
        from ..inversion.subject_file import load_fitted

        subject = load_fitted(subject, generator).subject(generator)
    if pose is not None:
        subject = base_generator(generator).repose(subject, subject_pose_spec(pose, seed))
    return subject


def label_subject(generator: Generator, seed: int | None = None, *, subject=None, cameras: Cameras | None = None,
                  views: int = 8, resolution: int | None = DEFAULT_VIEW_RESOLUTION, truncation: float = 1.0,
                  cloud: bool = True,
                  mesh: bool = True, voxel_size: float | None = None,
                  mesh_resolution: int = DEFAULT_MESH_RESOLUTION,
                  progress: Callable[[str, int], None] | None = None, video: int = 0,
                  render: str = DEFAULT_RENDER_PATH, pose=None) -> LabeledSubject:
    """One subject labeled in memory: views (RGB, part mask, depth, cameras), a part-labeled point
    cloud and a part-labeled mesh.

    seed or subject: which subject (subject: a Subject or a fitted subject.pt path);
    cameras: the views to render (Cameras), else `views` cameras spread over the generator's
    orbit (0: no views, for a mesh alone); resolution: view size in pixels (None: the generator's
    neural resolution, at least 128); cloud / mesh: False skips
    them; voxel_size: point-cloud voxel (None: bounds/128); mesh_resolution: marching-cubes grid;
    progress(stage, n): called as work is done (n views rendered, 0 when a stage starts);
    video: frames of an orbit video to render too (LabeledSubject.video; 0: none);
    render: how views are rendered, "auto" (the default: "fast" where the generator has it, else
    "volume"), "volume" (the full ray march, the reference), "fast" (the march skipping empty
    space) or "surface" (rays cast against the subject's baked mesh, fields evaluated at the hit;
    needs the `fast` extra); recorded, resolved, as LabeledSubject.render;
    pose: the body pose of an articulated subject (procedural:figure, default:figure): a named pose
    ("t", "walk", "sit", "wave", "rest"), "random" (a pose seed derived from the seed), "random:N" or
    an int N (pose seed N), JSON text or a .json file of joint angles, or a Pose; refused (PoseError)
    for a rigid generator. The resolved angles are recorded as LabeledSubject.pose (export.json's
    body_pose); an articulated subject without one stands in the rest pose.

    >>> import dnerf_core as dn
    >>> gen = dn.load_generator("default:car", device="cpu")
    >>> labeled = dn.label_subject(gen, seed=7, views=3, resolution=32, mesh_resolution=32)
    >>> len(labeled.views), labeled.views.depth.shape
    (3, torch.Size([3, 32, 32]))
    >>> len(labeled.cloud) > 100, len(labeled.mesh.faces) > 100
    (True, True)
    """
    # the ranges of dnerf-export's options, checked in their one place
    ExportOptions(resolution=resolution, truncation=truncation, voxel_size=voxel_size,
                  mesh_resolution=mesh_resolution, render=render).validate()
    if cameras is None and isinstance(views, int) and not isinstance(views, bool):
        check_views_fit(views, resolution or default_view_resolution(generator))
    chosen = sample_subject(generator, seed, subject, truncation, pose)
    if cameras is None:
        cameras = orbit_views(generator, views)
    return compute_labeled_subject(generator, chosen, cameras, resolution,
                                   seed=seed, subject_file=str(subject) if isinstance(subject, (str, Path)) else None,
                                   truncation=truncation, cloud=cloud, mesh=mesh, voxel_size=voxel_size,
                                   mesh_resolution=mesh_resolution, progress=progress, video=video, render=render)


def export(labeled: LabeledSubject, out: str | Path, formats=DEFAULT_FORMATS, extra: dict | None = None,
           nerf: NerfOptions = NerfOptions()) -> ExportResult:
    """Write a labeled subject into the folder `out`, as `dnerf-export` does: labels.json,
    export.json (settings and checksums) and the chosen formats of FORMATS:
    ply (cloud.ply), glb (mesh.glb, one node per part), masks (rgb/, mask/, depth/,
    transforms.json), pts (ShapeNet-part cloud.pts + cloud.seg). All files appear together or,
    on any error, none. extra: more keys recorded in transforms.json (e.g. where the cameras came
    from); nerf: split, mask and video settings (NerfOptions). Returns an ExportResult (.out,
    .files, .n_points, .n_faces).

    >>> import tempfile, dnerf_core as dn
    >>> gen = dn.load_generator("procedural:face", device="cpu")
    >>> labeled = dn.label_subject(gen, seed=2, views=2, resolution=32, mesh_resolution=32)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = dn.export(labeled, tmp, formats=("ply", "masks"))
    ...     sorted(p.relative_to(result.out).as_posix() for p in result.files)[:4]
    ['cloud.ply', 'depth/000.png', 'depth/001.png', 'export.json']
    """
    return write_subject(labeled, out, formats, extra, nerf)

