"""Official EG3D checkpoints -> TriPlaneGAN, without executing anything from the file.

load_eg3d(path)             an official `.pkl` (read by safe_unpickle: no code from the pickle runs)
load_state_dict_file(path)  a `.pt`: dnerf's own weight file, or a plain EG3D-keyed state dict
                            (both read with torch.load(weights_only=True))

TriPlaneGAN's parameter names are EG3D's (backbone.*, decoder.net.*, superresolution.*), so the
weights are a rename-free copy; the config comes from the checkpoint's init kwargs, rendering
kwargs and neural rendering resolution, and where the checkpoint is silent (EG3D hard-codes the
plane size, decoder width and super-resolution channels) from the tensor shapes.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from ..errors import CheckpointError
from ..render.config import RenderingConfig
from . import triplane_io
from .networks.superres import SuperResConfig
from .safe_unpickle import Record, one_line, safe_load
from .triplane_gan import N_PLANES, PRESETS, TriPlaneConfig, TriPlaneGAN

# EG3D state-dict entries dnerf has no use for. resample_filter: the fixed [1,3,3,1] FIR taps
# (dnerf builds them from a constant); renderer / ray_sampler: EG3D's stateless rendering helpers.
IGNORED_KEY_PATTERNS = (re.compile(r"(^|\.)resample_filter$"), re.compile(r"^(renderer|ray_sampler)\."))
# Networks in an EG3D snapshot, in order of preference (G_ema holds the averaged weights used for
# inference; G is the raw training copy).
GENERATOR_KEYS = ("G_ema", "G")
SR_KINDS = {"SuperresolutionHybrid8XDC": "hybrid8x", "SuperresolutionHybrid8X": "hybrid8x",
            "SuperresolutionHybrid2X": "hybrid2x"}
# Raw render -> SR input resize factor of each kind (8x: output/4 then two 2x blocks; 2x: output/2).
SR_INPUT_DIVISOR = {"hybrid8x": 4, "hybrid2x": 2}
NOISE_MODES = ("const", "random", "none")
# The conv clamp EG3D gives every block it builds for float16.
SR_FP16_CONV_CLAMP = 256.0


def is_ignored(key: str) -> bool:
    return any(p.search(key) for p in IGNORED_KEY_PATTERNS)


# --- pickle records -> state dict and kwargs --------------------------------------------------------
def flatten_state(record: Record, prefix: str = "") -> dict[str, Tensor]:
    """Dotted state_dict of a module record: its _parameters, persistent _buffers and, recursively,
    its _modules (persistent or plain stand-ins alike)."""
    state = record.state
    out: dict[str, Tensor] = {}
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        entries = state.get(group) or {}
        if not isinstance(entries, Mapping):
            raise CheckpointError(f"{record.class_name}: {group} is a {type(entries).__name__}, not a mapping")
        for name, value in entries.items():
            if value is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(value, Tensor):
                raise CheckpointError(f"{prefix}{name}: expected a tensor, found {type(value).__name__}")
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, Record):
            raise CheckpointError(f"{prefix}{name}: expected a module, found {type(child).__name__}")
        out.update(flatten_state(child, f"{prefix}{name}."))
    return out


def init_kwargs(record: Record) -> dict:
    """Constructor kwargs a persistent object was built with (kept in its state as _init_kwargs)."""
    kw = record.state.get("_init_kwargs", record.state.get("init_kwargs")) or {}
    return dict(kw) if isinstance(kw, Mapping) else {}


# --- config ------------------------------------------------------------------------------------------
def _shape(sd: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(f"the checkpoint has no {key!r} (not an EG3D tri-plane generator?)")
    return tuple(sd[key].shape)


def sizes_from_state_dict(sd: Mapping[str, Tensor]) -> dict:
    """Network sizes readable from EG3D tensor shapes (TriPlaneConfig field -> value), plus
    'sr_channels' / 'sr_output' when the generator has super-resolution."""
    res = sorted(int(m.group(1)) for k in sd if (m := re.match(r"backbone\.synthesis\.b(\d+)\.conv1\.weight$", k)))
    if not res:
        raise CheckpointError("the checkpoint has no backbone.synthesis blocks (not an EG3D tri-plane generator?)")
    top = res[-1]
    channels = {r: _shape(sd, f"backbone.synthesis.b{r}.conv1.weight")[0] for r in res}
    channel_max = max(channels.values())
    below = [r for r in res if channels[r] < channel_max]
    # channels(r) = min(base // r, max): the first resolution below the cap pins base down.
    channel_base = channels[below[0]] * below[0] if below else channel_max * top
    img_channels = _shape(sd, f"backbone.synthesis.b{top}.torgb.weight")[0]
    if img_channels % N_PLANES:
        raise CheckpointError(f"backbone outputs {img_channels} channels, not 3 planes' worth")
    w_dim, fc0_in = _shape(sd, "backbone.mapping.fc0.weight")
    c_dim = _shape(sd, "backbone.mapping.embed.weight")[1] if "backbone.mapping.embed.weight" in sd else 0
    hidden, plane_ch = _shape(sd, "decoder.net.0.weight")
    out = dict(z_dim=fc0_in - (w_dim if c_dim else 0), w_dim=w_dim, c_dim=c_dim, plane_resolution=top,
               plane_channels=img_channels // N_PLANES, channel_base=channel_base, channel_max=channel_max,
               mapping_layers=sum(1 for k in sd if re.match(r"backbone\.mapping\.fc\d+\.weight$", k)),
               decoder_hidden=hidden, decoder_features=_shape(sd, "decoder.net.2.weight")[0] - 1)
    if plane_ch != out["plane_channels"]:
        raise CheckpointError(f"decoder reads {plane_ch} channels but the planes have {out['plane_channels']}")
    if "superresolution.block1.conv1.weight" in sd:
        out["sr_channels"] = (_shape(sd, "superresolution.block0.conv1.weight")[0],
                              _shape(sd, "superresolution.block1.conv1.weight")[0])
        out["sr_output"] = _shape(sd, "superresolution.block1.conv1.noise_const")[-1]
    return out


def _sized(base: TriPlaneConfig, sizes: dict, sr_kind: str | None, sr_settings: dict | None = None,
           **overrides) -> TriPlaneConfig:
    """base with the file's sizes and `overrides`; super-resolution rebuilt as `sr_kind` at the
    size the weights produce (antialias / noise_mode from base unless sr_settings says)."""
    fields = {k: v for k, v in sizes.items() if not k.startswith("sr_")}
    fields.update(overrides)
    superres = None
    if "sr_output" in sizes:
        if sr_kind is None:
            raise CheckpointError("the weights have super-resolution blocks but the settings name none")
        out_res = sizes["sr_output"]
        old = base.superres
        settings = dict(antialias=old.antialias, noise_mode=old.noise_mode, conv_clamp=old.conv_clamp) if old else {}
        settings.update(sr_settings or {})
        superres = SuperResConfig(sr_kind, out_res // SR_INPUT_DIVISOR[sr_kind], out_res, sizes["sr_channels"],
                                  **settings)
        fields["img_resolution"] = out_res
    else:
        if sr_kind is not None:
            raise CheckpointError(f"the settings name {sr_kind} super-resolution but the weights have none")
        fields["img_resolution"] = fields.get("rendering", base.rendering).neural_resolution
    return dataclasses.replace(base, superres=superres, **fields)


def _number(kwargs: Mapping, key: str, kind=float):
    if key not in kwargs:
        raise CheckpointError(f"rendering_kwargs has no {key!r}")
    value = kwargs[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckpointError(f"rendering_kwargs[{key!r}] = {value!r} is not supported (a number is needed)")
    return kind(value)


def _closest_preset(sr_kind: str | None, pivot) -> TriPlaneConfig:
    """The released configuration a checkpoint most resembles (same super-resolution kind, nearest
    orbit pivot): the source of what EG3D keeps outside the file (field of view, pose ranges,
    surface threshold)."""
    same = [p for p in PRESETS.values() if (p.superres.kind if p.superres else None) == sr_kind] or list(PRESETS.values())
    return min(same, key=lambda p: sum((a - b) ** 2 for a, b in zip(p.orbit.pivot, pivot)))


def config_from_eg3d(kwargs: Mapping, rendering_kwargs: Mapping, neural_resolution: int,
                     sd: Mapping[str, Tensor]) -> TriPlaneConfig:
    """TriPlaneConfig of an EG3D TriPlaneGenerator from its init kwargs, rendering kwargs, neural
    rendering resolution and (for what EG3D hard-codes) its tensor shapes."""
    rk = rendering_kwargs
    if rk.get("disparity_space_sampling"):
        raise CheckpointError("disparity-space sampling is not supported")
    if rk.get("clamp_mode", "softplus") != "softplus":
        raise CheckpointError(f"density clamp mode {rk.get('clamp_mode')!r} is not supported (softplus only)")
    conditioning_zero = bool(rk.get("c_gen_conditioning_zero", False))
    if not conditioning_zero and float(rk.get("c_scale", 1.0)) != 1.0:
        raise CheckpointError(f"c_scale {rk.get('c_scale')!r} is not supported (1 only)")
    rendering = RenderingConfig(_number(rk, "depth_resolution", int), _number(rk, "depth_resolution_importance", int),
                                _number(rk, "ray_start"), _number(rk, "ray_end"), _number(rk, "box_warp"),
                                bool(rk.get("white_back", False)), int(neural_resolution))
    sr_kind = None
    sr_module = rk.get("superresolution_module")
    if sr_module:
        sr_kind = SR_KINDS.get(str(sr_module).rsplit(".", 1)[-1])
        if sr_kind is None:
            raise CheckpointError(f"super-resolution module {sr_module!r} is not supported "
                                  f"(known: {', '.join(SR_KINDS)})")
    noise_mode = rk.get("superresolution_noise_mode", "none")
    if noise_mode not in NOISE_MODES:
        raise CheckpointError(f"superresolution_noise_mode {noise_mode!r} is not one of {NOISE_MODES}")
    pivot = tuple(float(v) for v in rk.get("avg_camera_pivot", (0.0, 0.0, 0.0)))
    preset = _closest_preset(sr_kind, pivot)
    orbit = dataclasses.replace(preset.orbit, radius=float(rk.get("avg_camera_radius", preset.orbit.radius)),
                                pivot=pivot)
    mapping_kwargs = kwargs.get("mapping_kwargs") or {}
    sizes = sizes_from_state_dict(sd)
    overrides = dict(rendering=rendering, orbit=orbit, conditioning_zero=conditioning_zero,
                     conv_clamp=None if kwargs.get("conv_clamp") is None else float(kwargs["conv_clamp"]),
                     decoder_lr_multiplier=float(rk.get("decoder_lr_mul", 1.0)),
                     mapping_lr_multiplier=float(mapping_kwargs.get("lr_multiplier", 0.01)))
    # What the constructor was told wins over what shapes suggest; load() then checks the shapes.
    for key in ("z_dim", "w_dim", "c_dim", "channel_base", "channel_max"):
        if key in kwargs:
            overrides[key] = int(kwargs[key])
    if "num_layers" in mapping_kwargs:
        overrides["mapping_layers"] = int(mapping_kwargs["num_layers"])
    sr_settings = dict(antialias=bool(rk.get("sr_antialias", True)), noise_mode=noise_mode)
    if "sr_num_fp16_res" in kwargs:  # EG3D clamps exactly the blocks it builds for float16
        sr_settings["conv_clamp"] = SR_FP16_CONV_CLAMP if int(kwargs["sr_num_fp16_res"]) > 0 else None
    cfg = _sized(preset, sizes, sr_kind, sr_settings, **overrides)
    if "img_resolution" in kwargs and int(kwargs["img_resolution"]) != cfg.img_resolution:
        raise CheckpointError(f"img_resolution {kwargs['img_resolution']} does not match the "
                              f"super-resolution output {cfg.img_resolution}")
    return cfg


def config_from_state_dict(sd: Mapping[str, Tensor], base: str | TriPlaneConfig | None = None) -> TriPlaneConfig:
    """Config of a bare state dict: sizes from its shapes, everything else (rendering, orbit,
    super-resolution kind) from `base` (a preset name or a config), by default the preset whose
    output resolution the super-resolution blocks produce."""
    sizes = sizes_from_state_dict(sd)
    if isinstance(base, str):
        if base not in PRESETS:
            raise CheckpointError(f"unknown preset {base!r}; known presets: {', '.join(PRESETS)}")
        base = PRESETS[base]
    if base is None:
        matches = [p for p in PRESETS.values() if p.img_resolution == sizes.get("sr_output")]
        if not matches:
            raise CheckpointError("cannot tell the rendering settings of this state dict from its shapes; "
                                  f"name a preset ({', '.join(PRESETS)})")
        base = matches[0]
    return _sized(base, sizes, base.superres.kind if base.superres else None)


# --- weights -> model --------------------------------------------------------------------------------
def build_model(config: TriPlaneConfig, sd: Mapping[str, Tensor], name: str, source: str) -> TriPlaneGAN:
    """A TriPlaneGAN with `sd` copied in: EG3D's unused entries dropped by IGNORED_KEY_PATTERNS,
    anything else missing, extra or mis-shaped is a CheckpointError."""
    try:
        model = TriPlaneGAN(config, name=name)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise CheckpointError(f"{source}: the checkpoint's sizes do not make a generator ({exc})") from exc
    target = model.state_dict()
    wanted = {k: v for k, v in sd.items() if not is_ignored(k)}
    missing = sorted(set(target) - set(wanted))
    extra = sorted(set(wanted) - set(target))
    bad = [f"{k} {tuple(wanted[k].shape)} vs {tuple(target[k].shape)}"
           for k in sorted(set(target) & set(wanted)) if wanted[k].shape != target[k].shape]
    if missing or extra or bad:
        parts = [f"{label} {items[:4]}{' ...' if len(items) > 4 else ''}"
                 for label, items in (("missing", missing), ("unexpected", extra), ("shape mismatch", bad)) if items]
        raise CheckpointError(f"{source}: weights do not fit the generator: {'; '.join(parts)}")
    model.load_state_dict({k: v.to(target[k].dtype) for k, v in wanted.items()})
    return model.eval().requires_grad_(False)


def load_eg3d(path: str | Path) -> TriPlaneGAN:
    """An official EG3D network pickle as a TriPlaneGAN (G_ema, else G), in eval mode."""
    path = Path(path)
    data = safe_load(path)
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: not an EG3D snapshot (a {type(data).__name__}, not a dict of networks)")
    key = next((k for k in GENERATOR_KEYS if isinstance(data.get(k), Record)), None)
    if key is None:
        raise CheckpointError(f"{path}: no generator network ({' or '.join(GENERATOR_KEYS)}) in the snapshot")
    g = data[key]
    state = g.state
    kwargs = init_kwargs(g)
    rk = state.get("rendering_kwargs", kwargs.get("rendering_kwargs"))
    if not isinstance(rk, Mapping):
        raise CheckpointError(f"{path}: {key} ({g.class_name}) has no rendering_kwargs: not a tri-plane generator")
    neural_res = state.get("neural_rendering_resolution", rk.get("neural_rendering_resolution"))
    if isinstance(neural_res, bool) or not isinstance(neural_res, int) or neural_res <= 0:
        raise CheckpointError(f"{path}: {key} has no valid neural_rendering_resolution ({neural_res!r})")
    sd = flatten_state(g)
    try:
        config = config_from_eg3d(kwargs, rk, neural_res, sd)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable generator settings ({exc})") from exc
    return build_model(config, sd, f"eg3d:{path.stem}", str(path))


def load_state_dict_file(path: str | Path, preset: str | TriPlaneConfig | None = None) -> TriPlaneGAN:
    """A `.pt` file: dnerf's own weight file (triplane_io), or a plain EG3D-keyed state dict
    (optionally under a 'G_ema' / 'state_dict' key) whose sizes come from its shapes and whose
    rendering settings come from `preset` (see config_from_state_dict). weights_only throughout."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt files and refused globals raise many types
        raise CheckpointError(f"{path}: not a loadable weights-only .pt file ({one_line(exc)})") from exc
    if isinstance(payload, Mapping) and payload.get("format") == triplane_io.FORMAT:
        return triplane_io.load_triplane(path)
    if isinstance(payload, Mapping):
        for key in ("G_ema", "state_dict"):
            if isinstance(payload.get(key), Mapping):
                payload = payload[key]
                break
    if not isinstance(payload, Mapping) or not payload or not all(isinstance(v, Tensor) for v in payload.values()):
        raise CheckpointError(f"{path}: neither a dnerf weight file nor a state dict of tensors")
    try:
        config = config_from_state_dict(payload, preset)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return build_model(config, payload, path.stem, str(path))
