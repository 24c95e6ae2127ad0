"""The one place where `dnerf dataset` calls the library to label a subject.

The factory sits below the public API, so this builds what `dnerf_core.load_generator` builds
from the layers beneath it (the registry, then the semantic branch) and renders views a chunk at a
time (`label_subject` renders all of a subject's views at once; a dataset streams them).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..cameras import Cameras
from ..device import resolve_device
from ..generators.base import Generator, Subject
from .views import ViewSet, render_views


def load_dataset_generator(spec: str, semantic: str | None, device: str = "cpu") -> Generator:
    """The labeled generator for `spec` (+ semantic checkpoint; None: the shipped branch if any),
    on `device`; raises DnerfError on bad input."""
    from ..generators.registry import load_generator, shipped_semantic
    from ..generators.spec import GeneratorSpec
    from ..semantic.labeled import with_semantic

    parsed = GeneratorSpec.parse(spec)
    generator = load_generator(parsed, device="cpu")
    checkpoint = semantic if semantic else shipped_semantic(parsed)
    labeled = with_semantic(generator, checkpoint) if checkpoint else generator
    target = resolve_device(device)
    if target.type != "cpu":  # weights load on the CPU, then move (the branch with its generator)
        generator.to(target)
        if labeled is not generator:
            labeled.branch.to(target)
    return labeled


def sample_subject(generator: Generator, seed: int, truncation: float, pose=None) -> Subject:
    """The subject of `seed`; pose: a --pose spec for an articulated generator ("random": the
    subject's derived pose seed), None: its rest pose (or a rigid generator's subject)."""
    if pose is None:
        return generator.sample([seed], truncation=truncation)
    from ..generators.posing import subject_pose_spec

    return generator.sample([seed], truncation=truncation, pose=subject_pose_spec(pose, seed))


def body_pose_record(generator: Generator, subject: Subject) -> dict:
    """{"body_pose": resolved joint angles} for an articulated subject, {} for a rigid one."""
    from ..generators.posing import subject_pose

    pose = subject_pose(generator, subject)
    return {} if pose is None else {"body_pose": pose.to_dict()}


def render_chunk(generator: Generator, subject: Subject, cameras: Cameras, resolution: int,
                 render: str = "volume") -> ViewSet:
    """A few views of one subject (the caller keeps the chunk small: memory is bounded by it);
    render: the render path (the surface path bakes the subject once, on its first chunk)."""
    return render_views(generator, subject, cameras, resolution=resolution, batch_size=len(cameras), render=render)


def checkpoint_files(spec: str, semantic: str | None) -> tuple[Path | None, Path | None]:
    """The generator and semantic files that decide the outputs (None: analytic / none)."""
    from ..generators.registry import default_weights_path, shipped_semantic

    from ..generators.spec import GeneratorSpec

    parsed = GeneratorSpec.parse(spec)
    gen_file = None
    if parsed.kind == "default":
        gen_file = default_weights_path(parsed.arg)
    elif parsed.path is not None:
        gen_file = Path(parsed.path)
    sem = Path(semantic) if semantic else shipped_semantic(parsed)
    return gen_file, sem


def file_sha256(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
