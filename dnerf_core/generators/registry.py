"""Turn a GeneratorSpec (generators/spec.py) into a Generator that carries it as `.spec`.

Weights are read to the CPU and then moved to the device (dnerf_core.device.resolve_device), so
a checkpoint written on a GPU loads anywhere and nothing below names a device.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import GeneratorSpecError
from .base import Generator
from .spec import KINDS, GeneratorSpec

DEFAULT_WEIGHTS_PACKAGE = "dnerf_core.weights"

__all__ = ["KINDS", "default_semantic_path", "default_weights_path", "load_generator", "shipped_semantic"]


def default_weights_path(category: str) -> Path:
    """Where the embedded default generator for a category lives inside the package."""
    return Path(str(resources.files(DEFAULT_WEIGHTS_PACKAGE).joinpath(f"default_{category}.pt")))


def default_semantic_path(category: str) -> Path:
    """Where the semantic branch shipped with the default generator of a category lives."""
    return Path(str(resources.files(DEFAULT_WEIGHTS_PACKAGE).joinpath(f"default_{category}_semantic.pt")))


def shipped_semantic(spec: str | GeneratorSpec) -> Path | None:
    """The semantic branch shipped beside `default:<category>`'s weights, if the spec names one."""
    spec = GeneratorSpec.parse(spec)
    if spec.kind != "default":
        return None
    path = default_semantic_path(spec.arg)
    return path if path.is_file() else None


def _load_checkpoint(path: Path) -> Generator:
    if not path.is_file():
        raise GeneratorSpecError(f"checkpoint not found: {path}")
    from . import eg3d

    # .pt files (dnerf weight files, plain EG3D-keyed state dicts) load with weights_only;
    # anything else named by eg3d: or ending in .pkl goes through the safe EG3D unpickler.
    if path.suffix == ".pt":
        return eg3d.load_state_dict_file(path)
    return eg3d.load_eg3d(path)


def _build(spec: GeneratorSpec) -> Generator:
    if spec.kind == "procedural":
        from .procedural import POSABLE_CATEGORIES, ProceduralGenerator

        if spec.arg in POSABLE_CATEGORIES:  # the posable world (procedural/figure.py)
            from .procedural.figure import FigureGenerator

            return FigureGenerator()
        return ProceduralGenerator(spec.arg)
    if spec.kind == "default":
        from .procedural import CATEGORIES, POSABLE_CATEGORIES

        if spec.arg not in CATEGORIES + POSABLE_CATEGORIES:
            raise GeneratorSpecError(f"unknown category {spec.arg!r}; known categories: "
                                     f"{', '.join(CATEGORIES + POSABLE_CATEGORIES)}")
        path = default_weights_path(spec.arg)
        if not path.is_file():
            script = "train_articulated.py" if spec.arg in POSABLE_CATEGORIES else "train_generator.py"
            raise GeneratorSpecError(
                f"the default generator for {spec.arg!r} is not in this installation ({path}); "
                f"train it with scripts/{script} or use procedural:{spec.arg}")
        if spec.arg in POSABLE_CATEGORIES:  # an articulated tri-plane generator (generators/articulated.py)
            from .articulated import load_articulated

            return load_articulated(path)
        return _load_checkpoint(path)
    if spec.kind == "preset":
        from .triplane_gan import PRESETS, TriPlaneGAN

        if spec.arg not in PRESETS:
            raise GeneratorSpecError(f"unknown preset {spec.arg!r}; known presets: {', '.join(PRESETS)}")
        return TriPlaneGAN(PRESETS[spec.arg]).eval()
    return _load_checkpoint(spec.path)


def load_generator(spec: str | GeneratorSpec, device="cpu") -> Generator:
    """Build the generator a spec names, on `device` ('cpu', 'cuda[:N]', 'auto'), with `.spec` set.
    Unknown specs raise GeneratorSpecError with the choices; an unusable device DeviceError."""
    from ..device import resolve_device

    spec = GeneratorSpec.parse(spec)
    target = resolve_device(device)  # before the (slow) load: a bad device fails fast
    generator = _build(spec)
    if target.type != "cpu" and hasattr(generator, "to"):
        generator = generator.to(target)
    generator.spec = spec
    return generator
