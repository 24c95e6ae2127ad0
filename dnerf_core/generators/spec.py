"""GeneratorSpec: the name of a generator, parsed once and carried by the generator it loads.

Spellings (what `--generator` and `dnerf_core.load_generator` accept):
  procedural:<category>        analytic oracle world (exact labels): car, face, figure (posable)
  default:<category>           the small tri-plane generator shipped with the package (figure:
                               the articulated one, generators/articulated.py)
  preset:<name>                an EG3D-sized tri-plane generator with random weights (benchmarks)
  eg3d:<path> | <path.pkl>     an official EG3D checkpoint, loaded without running its code
  <path.pt>                    a tri-plane generator saved by dnerf, or a plain EG3D-keyed state dict
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import GeneratorSpecError

KINDS = ("procedural", "default", "preset", "eg3d", "file")
# Kinds written as "kind:argument"; a bare .pkl / .pt path is kind eg3d / file.
PREFIXED_KINDS = ("procedural", "default", "preset", "eg3d")
# Kinds whose argument is an oracle category (same seeds = same subjects as procedural:<category>).
CATEGORY_KINDS = ("procedural", "default")
CHECKPOINT_SUFFIXES = (".pkl", ".pt")


@dataclass(frozen=True)
class GeneratorSpec:
    """A parsed generator spec.

    kind: one of KINDS; arg: the category (procedural, default), preset name (preset) or file
    path (eg3d, file); text: the spec as written (what files record as provenance).

    >>> spec = GeneratorSpec.parse("default:car")
    >>> spec.kind, spec.category, str(spec)
    ('default', 'car', 'default:car')
    >>> GeneratorSpec.parse("weights/ffhq.pkl").kind
    'eg3d'
    """

    kind: str
    arg: str
    text: str

    @classmethod
    def parse(cls, spec: "str | GeneratorSpec") -> "GeneratorSpec":
        """A spec from its text; an unknown spelling raises GeneratorSpecError naming the choices."""
        if isinstance(spec, GeneratorSpec):
            return spec
        text = (spec or "").strip() if isinstance(spec, str) else str(spec)
        kind, sep, arg = text.partition(":")
        if sep and kind in PREFIXED_KINDS:
            if not arg:
                raise GeneratorSpecError(f"generator spec {text!r} names no {kind} argument")
            return cls(kind, arg, text)
        suffix = Path(text).suffix
        if suffix in CHECKPOINT_SUFFIXES:
            return cls("eg3d" if suffix == ".pkl" else "file", text, text)
        if sep and len(kind) > 1:  # one letter before ':' is a Windows drive, not a kind
            raise GeneratorSpecError(f"unknown generator kind {kind!r} in {text!r}; known kinds: "
                                     f"{', '.join(PREFIXED_KINDS)}")
        raise GeneratorSpecError(f"unknown generator {text!r}; use one of "
                                 f"{', '.join(k + ':...' for k in PREFIXED_KINDS)} or a .pkl/.pt file")

    @property
    def category(self) -> str | None:
        """The oracle category of procedural:/default: specs (None for the others)."""
        return self.arg if self.kind in CATEGORY_KINDS else None

    @property
    def path(self) -> Path | None:
        """The checkpoint file of eg3d: and file specs (None for the others)."""
        return Path(self.arg) if self.kind in ("eg3d", "file") else None

    @property
    def name(self) -> str:
        """Category, preset name or file name: short enough for folder and object names."""
        return self.path.name if self.path is not None else self.arg

    def __str__(self) -> str:
        return self.text


def spec_of(generator) -> GeneratorSpec | None:
    """The spec a generator was loaded from (a labeled generator answers for the one it wraps)."""
    return getattr(generator, "spec", None)


def describe(generator) -> str:
    """The generator for messages and provenance: its spec, else its name."""
    spec = spec_of(generator)
    return str(spec) if spec is not None else str(getattr(generator, "name", type(generator).__name__))
