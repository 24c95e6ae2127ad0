"""The one place where `dnerf dataset` calls the library to label a subject.

Today: the registry's load_labeled_generator, Generator.sample and render_views (one chunk of
views at a time). When the public API (load_generator / label_subject) lands, switch these three
functions to it; nothing else in the dataset code touches generators.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..cameras import Cameras
from ..generators.base import Generator, Subject
from .views import ViewSet, render_views


def load_dataset_generator(spec: str, semantic: str | None) -> Generator:
    """The labeled generator for `spec` (+ semantic checkpoint); raises DnerfError on bad input."""
    from ..generators.registry import load_labeled_generator

    return load_labeled_generator(spec, semantic)


def sample_subject(generator: Generator, seed: int, truncation: float) -> Subject:
    return generator.sample([seed], truncation=truncation)


def render_chunk(generator: Generator, subject: Subject, cameras: Cameras, resolution: int) -> ViewSet:
    """A few views of one subject (the caller keeps the chunk small: memory is bounded by it)."""
    return render_views(generator, subject, cameras, resolution=resolution, batch_size=len(cameras))


def checkpoint_files(spec: str, semantic: str | None) -> tuple[Path | None, Path | None]:
    """The generator and semantic files that decide the outputs (None: analytic / none)."""
    from ..generators.registry import default_weights_path, shipped_semantic

    kind, sep, arg = spec.strip().partition(":")
    gen_file = None
    if kind == "default":
        gen_file = default_weights_path(arg)
    elif kind == "eg3d":
        gen_file = Path(arg)
    elif not sep:
        gen_file = Path(spec.strip())
    sem = Path(semantic) if semantic else shipped_semantic(spec)
    return gen_file, sem


def file_sha256(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
