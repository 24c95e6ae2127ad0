"""Turn a generator spec string into a Generator.

Specs:
  procedural:<category>       analytic oracle world (exact labels): car, face
  default:<category>          the small tri-plane generator shipped with the package
  preset:<name>               an EG3D-sized tri-plane generator with random weights (benchmarks)
  eg3d:<path.pkl> | <path.pkl> an official EG3D checkpoint, loaded without running its code
  <path.pt>                   a tri-plane generator saved by dnerf, or a plain EG3D-keyed state
                              dict (both loaded weights_only)
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import GeneratorSpecError
from .base import Generator

KINDS = ("procedural", "default", "preset", "eg3d")
DEFAULT_WEIGHTS_PACKAGE = "dnerf_core.weights"


def default_weights_path(category: str) -> Path:
    """Where the embedded default generator for a category lives inside the package."""
    return Path(str(resources.files(DEFAULT_WEIGHTS_PACKAGE).joinpath(f"default_{category}.pt")))


def default_semantic_path(category: str) -> Path:
    """Where the semantic branch shipped with the default generator of a category lives."""
    return Path(str(resources.files(DEFAULT_WEIGHTS_PACKAGE).joinpath(f"default_{category}_semantic.pt")))


def shipped_semantic(spec: str) -> Path | None:
    """The semantic branch shipped beside `default:<category>`'s weights, if the spec names one."""
    kind, _, category = spec.strip().partition(":")
    if kind != "default":
        return None
    path = default_semantic_path(category)
    return path if path.is_file() else None


def load_labeled_generator(spec: str, semantic: str | Path | None = None) -> Generator:
    """A generator for labeled outputs: `spec` with the semantic checkpoint `semantic`, or for
    `default:<category>` the semantic branch shipped beside its weights when there is one."""
    generator = load_generator(spec)
    if semantic is None:
        semantic = shipped_semantic(spec)
    if semantic is None:
        return generator
    from ..semantic.labeled import with_semantic

    return with_semantic(generator, semantic)


def _load_checkpoint(path: Path, kind: str) -> Generator:
    if not path.is_file():
        raise GeneratorSpecError(f"checkpoint not found: {path}")
    from . import eg3d

    # .pt files (dnerf weight files, plain EG3D-keyed state dicts) load with weights_only;
    # anything else named by eg3d: or ending in .pkl goes through the safe EG3D unpickler.
    if path.suffix == ".pt":
        return eg3d.load_state_dict_file(path)
    return eg3d.load_eg3d(path)


def load_generator(spec: str) -> Generator:
    """Build the generator a spec names; unknown specs raise GeneratorSpecError with the choices."""
    spec = (spec or "").strip()
    kind, sep, arg = spec.partition(":")
    if not sep:
        path = Path(spec)
        if path.suffix in (".pkl", ".pt"):
            return _load_checkpoint(path, "eg3d" if path.suffix == ".pkl" else "pt")
        raise GeneratorSpecError(
            f"unknown generator {spec!r}; use one of {', '.join(k + ':...' for k in KINDS)} or a .pkl/.pt file")
    if kind == "procedural":
        from .procedural import ProceduralGenerator

        return ProceduralGenerator(arg)
    if kind == "default":
        from .procedural import CATEGORIES

        if arg not in CATEGORIES:
            raise GeneratorSpecError(f"unknown category {arg!r}; known categories: {', '.join(CATEGORIES)}")
        path = default_weights_path(arg)
        if not path.is_file():
            raise GeneratorSpecError(
                f"the default generator for {arg!r} is not in this installation ({path}); "
                f"train it with scripts/train_generator.py or use procedural:{arg}")
        return _load_checkpoint(path, "pt")
    if kind == "preset":
        from .triplane_gan import PRESETS, TriPlaneGAN

        if arg not in PRESETS:
            raise GeneratorSpecError(f"unknown preset {arg!r}; known presets: {', '.join(PRESETS)}")
        return TriPlaneGAN(PRESETS[arg]).eval()
    if kind == "eg3d":
        return _load_checkpoint(Path(arg), "eg3d")
    raise GeneratorSpecError(f"unknown generator kind {kind!r} in {spec!r}; known kinds: {', '.join(KINDS)}")
