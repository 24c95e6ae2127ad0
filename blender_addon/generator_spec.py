"""From the panel's choices to a dnerf generator (no bpy here: plain arguments in, Generator out).
Everything goes through dnerf_core's public API (dnerf_core.load_generator), on the device the
add-on's preference names (Auto: a CUDA GPU when available); results come back as CPU arrays."""
from __future__ import annotations

import os
from pathlib import Path

# What the panel offers; the spec strings are dnerf_core.GeneratorSpec's.
GENERATOR_KINDS = ("procedural", "default", "checkpoint")
CATEGORIES = ("car", "face", "figure")  # figure: the posable one (its subjects take a body pose)
POSABLE_CATEGORIES = ("figure",)

_cache: dict[tuple, object] = {}


def generator_spec(kind: str, category: str = "car", checkpoint: str = "") -> str:
    """The load_generator spec for a panel choice: procedural:car, default:face, or a file path."""
    from dnerf_core import DnerfError

    if kind in ("procedural", "default"):
        return f"{kind}:{category}"
    if kind == "checkpoint":
        if not checkpoint.strip():
            raise DnerfError("choose a generator checkpoint file (.pkl or .pt)")
        return os.path.abspath(os.path.expanduser(checkpoint.strip()))
    raise DnerfError(f"unknown generator kind {kind!r}; choose one of {', '.join(GENERATOR_KINDS)}")


def _cache_key(spec: str) -> tuple:
    path = Path(spec)
    stamp = path.stat().st_mtime_ns if path.is_file() else None  # a re-saved checkpoint reloads
    return spec, stamp


def preferred_device() -> str:
    """The add-on preference's device ("auto" where Blender's preferences cannot be read)."""
    try:
        from .preferences import device
    except ImportError:  # no bpy: plain Python using this module
        return "auto"
    return device()


def _load(spec: str, semantic, device: str):
    """dnerf_core.load_generator; any failure becomes one DnerfError naming the spec."""
    import dnerf_core as dn

    try:
        return dn.load_generator(spec, semantic, device=device)
    except dn.DnerfError:
        raise
    except Exception as exc:  # e.g. a checkpoint kind this dnerf_core cannot read yet
        raise dn.DnerfError(f"cannot load generator {spec!r}: {type(exc).__name__}: {exc}") from None


def load(spec: str, device: str | None = None):
    """The generator alone (no semantic branch), cached per device (None: the preference)."""
    device = device or preferred_device()
    key = (_cache_key(spec), device)
    if key not in _cache:
        _cache[key] = _load(spec, False, device)
    return _cache[key]


def load_labeled(spec: str, semantic_checkpoint: str = "", device: str | None = None):
    """A generator that gives part labels, or a DnerfError saying why there are none.

    Procedural worlds carry exact labels (a semantic checkpoint is not needed and is ignored).
    A learned generator gets its labels from the DatasetNeRF semantic branch: the semantic
    checkpoint is loaded onto it; without one it is refused with a message that says so.
    """
    from dnerf_core import DnerfError

    semantic = str(Path(semantic_checkpoint.strip()).expanduser()) if semantic_checkpoint.strip() else ""
    if semantic and not Path(semantic).is_file():
        raise DnerfError(f"semantic checkpoint not found: {semantic}")
    device = device or preferred_device()
    gen = load(spec, device)
    if gen.label_set is not None:
        return gen
    # no checkpoint given: the semantic branch shipped with the default generator, if any
    key = (_cache_key(spec), _cache_key(semantic) if semantic else "shipped", device)
    if key not in _cache:
        labeled = _load(spec, semantic or None, device)
        if labeled.label_set is None:
            raise DnerfError(f"{spec} has no part labels: a learned generator needs a semantic checkpoint (its "
                             "trained semantic branch); or use procedural:<category>")
        _cache[key] = labeled
    return _cache[key]
