"""From the panel's choices to a dnerf generator (no bpy here: plain arguments in, Generator out)."""
from __future__ import annotations

import os
from pathlib import Path

# What the panel offers; the spec strings are dnerf_core.generators.load_generator's.
GENERATOR_KINDS = ("procedural", "default", "checkpoint")
CATEGORIES = ("car", "face")

_cache: dict[tuple, object] = {}


def generator_spec(kind: str, category: str = "car", checkpoint: str = "") -> str:
    """The load_generator spec for a panel choice: procedural:car, default:face, or a file path."""
    from dnerf_core.errors import GeneratorSpecError

    if kind in ("procedural", "default"):
        return f"{kind}:{category}"
    if kind == "checkpoint":
        if not checkpoint.strip():
            raise GeneratorSpecError("choose a generator checkpoint file (.pkl or .pt)")
        return os.path.abspath(os.path.expanduser(checkpoint.strip()))
    raise GeneratorSpecError(f"unknown generator kind {kind!r}; choose one of {', '.join(GENERATOR_KINDS)}")


def _cache_key(spec: str) -> tuple:
    path = Path(spec)
    stamp = path.stat().st_mtime_ns if path.is_file() else None  # a re-saved checkpoint reloads
    return spec, stamp


def load(spec: str):
    """load_generator(spec), cached; any failure becomes one DnerfError naming the spec."""
    from dnerf_core.errors import DnerfError
    from dnerf_core.generators import load_generator

    key = _cache_key(spec)
    if key in _cache:
        return _cache[key]
    try:
        gen = load_generator(spec)
    except DnerfError:
        raise
    except Exception as exc:  # e.g. a checkpoint kind this dnerf_core cannot read yet
        raise DnerfError(f"cannot load generator {spec!r}: {type(exc).__name__}: {exc}") from None
    _cache[key] = gen
    return gen


def _with_semantic_branch(gen, spec: str, semantic: str):
    """The generator with its trained semantic branch attached (DESIGN sec. 5)."""
    from dnerf_core.semantic.labeled import with_semantic

    return with_semantic(gen, semantic)


def load_labeled(spec: str, semantic_checkpoint: str = ""):
    """A generator that gives part labels, or a DnerfError saying why there are none.

    Procedural worlds carry exact labels (a semantic checkpoint is not needed and is ignored).
    A learned generator gets its labels from the DatasetNeRF semantic branch: the semantic
    checkpoint is loaded onto it; without one it is refused with a message that says so.
    """
    from dnerf_core.errors import DnerfError

    semantic = str(Path(semantic_checkpoint.strip()).expanduser()) if semantic_checkpoint.strip() else ""
    if semantic and not Path(semantic).is_file():
        raise DnerfError(f"semantic checkpoint not found: {semantic}")
    gen = load(spec)
    if gen.label_set is not None:
        return gen
    if not semantic:  # the semantic branch shipped with the default generator, if any
        from dnerf_core.generators.registry import shipped_semantic

        shipped = shipped_semantic(spec)
        semantic = str(shipped) if shipped is not None else ""
    if not semantic:
        raise DnerfError(f"{spec} has no part labels: a learned generator needs a semantic checkpoint (its "
                         "trained semantic branch); or use procedural:<category>")
    key = (_cache_key(spec), _cache_key(semantic))
    if key not in _cache:
        _cache[key] = _with_semantic_branch(gen, spec, semantic)
    return _cache[key]
