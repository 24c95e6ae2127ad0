"""Options defined once: each option's default, range and help live on its config dataclass field.

    @dataclass(frozen=True)
    class ExportOptions:
        views: int = field(default=8, metadata=opt("number of views", min=1, short="-n"))

The command line (dnerf_core/cli/options.py) and the Blender add-on derive their options and
properties from these fields; `validate_fields` is the one range check behind every config's
`validate()`. It refuses NaN and infinities wherever a number is read, so `--truncation nan`
is one clear error, never an empty export.
"""
from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from .errors import DnerfError

OPTION_KEY = "dnerf_option"


@dataclass(frozen=True)
class Option:
    """What a config field says about itself.

    help: one sentence for --help and tooltips; min / max: inclusive bounds (None: open);
    min_open: the minimum itself is refused (e.g. a positive size); short: a one-letter CLI alias
    ('-n'); flag: a boolean given as a bare switch (--quiet) rather than --x/--no-x; choices: the
    allowed strings; path: a file or folder path (CLI: 'file' or 'dir'); cli: False for fields the
    command line does not expose; spelling: the CLI's own spelling when it is not the field's
    (e.g. '--w-plus/--one-w' for a field w_plus)."""

    help: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    short: str | None = None
    flag: bool = False
    choices: tuple[str, ...] | None = None
    path: str | None = None
    cli: bool = True
    spelling: str | None = None


def opt(help: str, **kw) -> dict:
    """Field metadata for one option: `field(default=..., metadata=opt("...", min=1))`."""
    return {OPTION_KEY: Option(help, **kw)}


@dataclass(frozen=True)
class OptionField:
    """A config field seen as an option: name, python type (without None), default, optional?"""

    name: str
    type: type
    default: Any
    optional: bool
    option: Option

    @property
    def flag_name(self) -> str:
        """How messages name the option: its command-line spelling."""
        if self.option.spelling:
            return self.option.spelling.split("/")[0]
        return "--" + self.name.replace("_", "-")

    def range_text(self) -> str:
        """The allowed range for help texts ('' when open)."""
        lo, hi, o = self.option.min, self.option.max, self.option
        if lo is not None and hi is not None:
            return f"{lo:g}..{hi:g}"
        if lo is not None:
            return f"{'>' if o.min_open else '>='}{lo:g}"
        if hi is not None:
            return f"<={hi:g}"
        return ""


def _resolve_type(annotation) -> tuple[type, bool]:
    """(the type without None, whether None is allowed) of a resolved annotation."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return inner[0], len(inner) < len(args)
    return annotation, False


def option_fields(config) -> list[OptionField]:
    """The option-carrying fields of a config dataclass (class or instance), in field order."""
    cls = config if isinstance(config, type) else type(config)
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        option = f.metadata.get(OPTION_KEY)
        if option is None:
            continue
        typ, optional = _resolve_type(hints[f.name])
        out.append(OptionField(f.name, typ, f.default, optional, option))
    return out


def _check_number(f: OptionField, value) -> None:
    name = f.flag_name
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DnerfError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise DnerfError(f"{name} must be a finite number, got {value}")
    if f.type is int and value != int(value):
        raise DnerfError(f"{name} must be an integer, got {value}")
    lo, hi, o = f.option.min, f.option.max, f.option
    if lo is not None and hi is not None and not lo <= value <= hi:
        raise DnerfError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
    if lo is not None and (value < lo or (o.min_open and value == lo)):
        what = "positive" if lo == 0 and o.min_open else (
            "a non-negative integer" if lo == 0 and f.type is int else f"at least {lo:g}")
        raise DnerfError(f"{name} must be {what}, got {value:g}")
    if hi is not None and value > hi:
        raise DnerfError(f"{name} must be at most {hi:g}, got {value:g}")


def validate_fields(config) -> None:
    """Every option field of `config` within its range and finite (None allowed where optional);
    a violation raises DnerfError naming the option as the command line spells it."""
    if not is_dataclass(config):
        raise TypeError(f"validate_fields takes a config dataclass, got {type(config).__name__}")
    for f in option_fields(config):
        value = getattr(config, f.name)
        if value is None:
            if not f.optional:
                raise DnerfError(f"{f.flag_name} needs a value")
            continue
        if f.type in (int, float):
            _check_number(f, value)
        elif f.option.choices is not None and value not in f.option.choices:
            raise DnerfError(f"{f.flag_name} must be one of {', '.join(f.option.choices)}, got {value!r}")


def finite(name: str, value: float) -> float:
    """`value` as a float if it is a finite number, else DnerfError naming `name`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DnerfError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise DnerfError(f"{name} must be a finite number, got {value}")
    return number


@dataclass(frozen=True)
class DeviceOptions:
    """Where a command computes (every command has it; resolved by dnerf_core.device)."""

    device: str = field(default="auto", metadata=opt("where to compute: cpu, cuda[:N], or auto (cuda when available)"))
