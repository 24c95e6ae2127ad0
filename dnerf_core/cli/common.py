"""What every command shares: options derived from config dataclasses, the one-line error
handling (exit code 2), the generator and device options, a lazy progress bar."""
from __future__ import annotations

import math
from dataclasses import MISSING

import click

from ..errors import DnerfError
from ..options import DeviceOptions, OptionField, option_fields

EXIT_USAGE = 2
# the spellings of dnerf_core.generators.spec (kept here so `dnerf --help` needs no generator code)
GENERATOR_HELP = ("generator spec: procedural:car|face|figure (exact oracle), default:car|face|figure (shipped tri-plane "
                  "generator), preset:NAME (random EG3D-sized weights), eg3d:FILE.pkl, or FILE.pt")
CONTEXT = {"help_option_names": ["-h", "--help"]}

__all__ = ["CONTEXT", "EXIT_USAGE", "GENERATOR_HELP", "LazyBar", "config_from", "config_options", "device_option",
           "generator_option", "parse_view", "run"]


def _click_type(f: OptionField):
    o = f.option
    if o.choices is not None:
        return click.Choice(list(o.choices))
    if o.path == "file":
        return click.Path(dir_okay=False)
    if o.path == "dir":
        return click.Path(file_okay=False)
    # numbers are read as plain int/float: their ranges (and NaN / inf) are checked by the
    # config's validate(), the one place that knows them
    return f.type


def _help(f: OptionField) -> str:
    text = f.option.help
    span = f.range_text()
    if span:
        text += f" [range: {span}]"
    return text


def click_option(f: OptionField, default=MISSING):
    """The click option of one config field (`default` overrides the field's)."""
    o = f.option
    value = f.default if default is MISSING else default
    names = [o.spelling] if o.spelling else [f.flag_name]
    if o.short:
        names.append(o.short)
    if f.type is bool:
        if o.flag:
            return click.option(*names, f.name, is_flag=True, default=bool(value), help=_help(f))
        if not o.spelling:
            names[0] = f"{f.flag_name}/--no-{f.flag_name[2:]}"
        return click.option(*names, f.name, default=value, help=_help(f))
    return click.option(*names, f.name, type=_click_type(f), default=value, show_default=value is not None,
                        help=_help(f))


def config_options(config_cls, skip: tuple[str, ...] = (), defaults: dict | None = None):
    """A decorator adding one click option per option field of `config_cls` (in field order)."""
    defaults = defaults or {}

    def deco(fn):
        for f in reversed(option_fields(config_cls)):
            if f.option.cli and f.name not in skip:
                fn = click_option(f, defaults.get(f.name, MISSING))(fn)
        return fn
    return deco


def config_from(config_cls, kwargs: dict, **extra):
    """`config_cls` built from (and popping) the command's keyword arguments of its fields, validated."""
    values = {f.name: kwargs.pop(f.name) for f in option_fields(config_cls) if f.name in kwargs}
    config = config_cls(**values, **extra)
    return config.validate() if hasattr(config, "validate") else config


def generator_option(default: str | None = "default:car", help: str = GENERATOR_HELP):
    return click.option("--generator", "-g", "generator_spec", default=default, show_default=default is not None,
                        help=help)


def device_option(fn):
    """--device, from DeviceOptions (resolved, and refused when unusable, by load_generator)."""
    return config_options(DeviceOptions)(fn)


def parse_view(ctx, param, value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        yaw, pitch = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected YAW,PITCH in degrees (e.g. 30,10), got {value!r}") from None
    if not (math.isfinite(yaw) and math.isfinite(pitch)) or abs(pitch) >= 85:
        raise click.BadParameter(f"yaw and pitch must be finite and |pitch| < 85 degrees, got {value!r}")
    return yaw, pitch


class LazyBar:
    """A step progress bar that appears with the first step (an input error before it prints
    nothing but its one message)."""

    def __init__(self, total: int, quiet: bool, desc: str):
        self.total, self.quiet, self.desc, self.bar = total, quiet, desc, None

    def __call__(self, step: int, loss: float) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=self.total, disable=self.quiet, unit="step", desc=self.desc)
        self.bar.n = step
        self.bar.set_postfix(loss=f"{loss:.4f}")
        self.bar.refresh()

    def __enter__(self) -> "LazyBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def run(command: click.Command, args: list[str] | None, prog_name: str) -> int:
    """Run a click command; every user error is one line on stderr and exit code 2."""
    try:
        rv = command.main(args=args, prog_name=prog_name, standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"{prog_name}: error: {exc.format_message()}", err=True)
        return EXIT_USAGE
    except DnerfError as exc:
        click.echo(f"{prog_name}: error: {exc}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo(f"{prog_name}: interrupted", err=True)
        return 130


def views_or_poses(poses, n_option: str = "views") -> None:
    """--poses replaces --views: refuse both given explicitly (one would be silently ignored)."""
    ctx = click.get_current_context()
    if poses is not None and ctx.get_parameter_source(n_option) == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give --views or --poses, not both")
