"""Test helper: write a pickle laid out like an official EG3D snapshot, from a TriPlaneGAN.

The layout follows DESIGN sec. 4: a dict of G, G_ema, D, augment_pipe, training_set_kwargs, ...;
each network a "persistent object" that pickles as
`torch_utils.persistence._reconstruct_persistent_obj(meta)` with meta = {type, version,
module_src, class_name, state}; plain torch modules (Sequential, Softplus, EG3D's OSGDecoder,
renderer, ray sampler) pickled by class reference (NEWOBJ + BUILD); tensors via plain pickle
(torch._utils._rebuild_tensor_v2 over torch.storage._load_from_bytes).

The globals named in the pickle (torch_utils.persistence, training.*, dnnlib.util) exist only in
sys.modules while this module pickles, so the loader side never has them. module_src, if anyone
ever executed it, writes a marker file and raises.
"""
from __future__ import annotations

import collections
import contextlib
import copyreg
import io
import pickle
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dnerf_core.generators.networks.decoder import TriPlaneDecoder
from dnerf_core.generators.networks.layers import FullyConnected, SynthesisBlock, SynthesisLayer, ToRGB
from dnerf_core.generators.networks.mapping import MappingNetwork
from dnerf_core.generators.networks.superres import SuperResolution
from dnerf_core.generators.networks.synthesis import SynthesisNetwork
from dnerf_core.generators.triplane_gan import Backbone, TriPlaneGAN

PERSISTENCE_VERSION = 6
SG2 = "training.networks_stylegan2."
SR_CLASS = {"hybrid2x": "training.superresolution.SuperresolutionHybrid2X",
            "hybrid8x": "training.superresolution.SuperresolutionHybrid8XDC"}
PERSISTENT_CLASS = {TriPlaneGAN: "training.triplane.TriPlaneGenerator", Backbone: SG2 + "Generator",
                    MappingNetwork: SG2 + "MappingNetwork", FullyConnected: SG2 + "FullyConnectedLayer",
                    SynthesisNetwork: SG2 + "SynthesisNetwork", SynthesisBlock: SG2 + "SynthesisBlock",
                    SynthesisLayer: SG2 + "SynthesisLayer", ToRGB: SG2 + "ToRGBLayer"}
FIR = torch.tensor([[1., 3., 3., 1.]]).T @ torch.tensor([[1., 3., 3., 1.]]) / 64


def marker_source(marker: Path) -> str:
    return (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module_src was executed')\n"
            "raise RuntimeError('module_src must never be executed')\n")


# --- fake modules, present only while pickling ------------------------------------------------------
def _reconstruct_persistent_obj(meta):  # never called: it only gives the pickle its global's name
    raise AssertionError("not for loading")


class EasyDict(dict):
    pass


# The names these pickle under (resolvable only inside fake_eg3d_modules()).
_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
EasyDict.__module__ = "dnnlib.util"


_FAKE_CLASSES: dict[str, type] = {}


def _plain_class(dotted: str) -> type:
    if dotted not in _FAKE_CLASSES:
        module, name = dotted.rsplit(".", 1)
        _FAKE_CLASSES[dotted] = type(name, (), {"__module__": module, "__qualname__": name})
    return _FAKE_CLASSES[dotted]


@contextlib.contextmanager
def fake_eg3d_modules():
    """Register torch_utils.persistence, dnnlib.util and training.* so pickle can name them."""
    objs = {"torch_utils.persistence._reconstruct_persistent_obj": _reconstruct_persistent_obj,
            "dnnlib.util.EasyDict": EasyDict, **_FAKE_CLASSES}
    added = []
    for dotted, obj in objs.items():
        parts = dotted.split(".")
        for i in range(1, len(parts)):
            mod = ".".join(parts[:i])
            if mod not in sys.modules:
                sys.modules[mod] = types.ModuleType(mod)
                added.append(mod)
        setattr(sys.modules[".".join(parts[:-1])], parts[-1], obj)
    try:
        yield
    finally:
        for mod in added:
            del sys.modules[mod]


# --- pickled stand-ins -------------------------------------------------------------------------------
class Persistent:
    """Pickles like a persistent object: _reconstruct_persistent_obj(meta)."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.meta = dict(type="class", version=PERSISTENCE_VERSION, module_src=module_src,
                         class_name=class_name, state=state)

    def __reduce__(self):
        return _reconstruct_persistent_obj, (self.meta,)


class Plain:
    """Pickles like a plain (non-persistent) object of class `dotted`: NEWOBJ + BUILD(state)."""

    def __init__(self, dotted_or_class, state: dict):
        self.cls = _plain_class(dotted_or_class) if isinstance(dotted_or_class, str) else dotted_or_class
        self.state = state

    @property
    def __class__(self):  # pickle checks that NEWOBJ's class is the object's class
        return self.cls

    def __reduce_ex__(self, protocol):
        return copyreg.__newobj__, (self.cls,), self.state


class StorageTensor:
    """A tensor pickled with hand-made storage bytes: the zip torch.save format (plain pickling
    writes the legacy one, as torch 1.x did) and/or a storage location other than the CPU (snapshots
    taken on a GPU say cuda:0)."""

    def __init__(self, tensor, parameter: bool, zip_format: bool, location: str):
        self.tensor, self.parameter = tensor.contiguous(), parameter
        self.zip_format, self.location = zip_format, location

    def __reduce__(self):
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.save(self.tensor.storage(), buf, _use_new_zipfile_serialization=self.zip_format)
        data = buf.getvalue()
        if self.location != "cpu":  # the legacy format names the location as a protocol-2 string
            loc = self.location.encode()
            assert not self.zip_format and data.count(b"X\x03\x00\x00\x00cpu") == 1
            data = data.replace(b"X\x03\x00\x00\x00cpu", b"X" + len(loc).to_bytes(4, "little") + loc)
        t = self.tensor
        args = (_StorageBytes(data), 0, tuple(t.shape), t.stride(), False, collections.OrderedDict())
        if not self.parameter:
            return torch._utils._rebuild_tensor_v2, args
        return torch._utils._rebuild_parameter, (_TensorArgs(args), False, collections.OrderedDict())


class _StorageBytes:
    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return torch.storage._load_from_bytes, (self.data,)


class _TensorArgs:
    def __init__(self, args):
        self.args = args

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


def module_state(params: dict, buffers: dict, modules: dict, **extra) -> dict:
    """A torch.nn.Module-style __dict__."""
    od = collections.OrderedDict
    state = dict(training=False, _parameters=od(params), _buffers=od(buffers), _non_persistent_buffers_set=set(),
                 _backward_hooks=od(), _forward_hooks=od(), _forward_pre_hooks=od(), _state_dict_hooks=od(),
                 _load_state_dict_pre_hooks=od(), _modules=od(modules))
    state.update(extra)
    return state


# --- the builder -------------------------------------------------------------------------------------
def eg3d_kwargs(model: TriPlaneGAN) -> tuple[dict, dict]:
    """EG3D-style (init_kwargs, rendering_kwargs) describing `model`'s config."""
    cfg = model.config
    r, sr = cfg.rendering, cfg.superres
    rendering_kwargs = dict(
        image_resolution=cfg.img_resolution, disparity_space_sampling=False, clamp_mode="softplus",
        superresolution_module=SR_CLASS[sr.kind], c_gen_conditioning_zero=cfg.conditioning_zero, gpc_reg_prob=0.5,
        c_scale=1.0, superresolution_noise_mode=sr.noise_mode, density_reg=0.25, density_reg_p_dist=0.004,
        reg_type="l1", decoder_lr_mul=cfg.decoder_lr_multiplier, sr_antialias=sr.antialias,
        depth_resolution=r.depth_resolution, depth_resolution_importance=r.depth_resolution_importance,
        ray_start=r.ray_start, ray_end=r.ray_end, box_warp=r.box_warp, white_back=r.white_back,
        avg_camera_radius=cfg.orbit.radius, avg_camera_pivot=list(cfg.orbit.pivot))
    init_kwargs = dict(
        z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution, img_channels=3,
        # EG3D clamps its float16 super-resolution blocks at 256: a clamped config says fp16 blocks
        sr_num_fp16_res=4 if sr.conv_clamp is not None else 0, mapping_kwargs=EasyDict(num_layers=cfg.mapping_layers),
        rendering_kwargs=rendering_kwargs,
        sr_kwargs=EasyDict(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                           fused_modconv_default="inference_only"),
        channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=0, conv_clamp=cfg.conv_clamp)
    return init_kwargs, rendering_kwargs


class _Converter:
    def __init__(self, module_src: str, zip_storages: bool, location: str, extra: dict, drop: set, replace: dict):
        self.src, self.zip, self.location = module_src, zip_storages, location
        self.extra, self.drop, self.replace = extra, drop, replace

    def tensor(self, t, parameter: bool):
        t = t.detach().clone()
        if self.zip or self.location != "cpu":
            return StorageTensor(t, parameter, self.zip, self.location)
        return nn.Parameter(t, requires_grad=False) if parameter else t  # plain pickling, as EG3D did

    def convert(self, module: nn.Module, prefix: str = "", class_name: str | None = None):
        params, buffers = {}, {}
        for group, source, is_param in ((params, module._parameters, True), (buffers, module._buffers, False)):
            for name, t in source.items():
                key = prefix + name
                if key in self.drop:
                    continue
                group[name] = self.tensor(self.replace.get(key, t), is_param)
        for key, t in self.extra.items():
            if key.rsplit(".", 1)[0] + "." == prefix:
                params[key.rsplit(".", 1)[1]] = self.tensor(t, True)
        if isinstance(module, (SynthesisLayer, SynthesisBlock)):
            buffers["resample_filter"] = FIR.clone()  # EG3D keeps the FIR taps as a buffer; dnerf ignores it
        children = {}
        for name, child in module._modules.items():
            child_class = None
            if isinstance(module, SuperResolution) and name == "block0" and not child.up:
                child_class = "training.superresolution.SynthesisBlockNoUp"
            children[name] = self.convert(child, prefix + name + ".", child_class)
        state = module_state(params, buffers, children)
        if isinstance(module, SuperResolution):
            return Persistent(SR_CLASS[module.config.kind], state, self.src)
        if isinstance(module, TriPlaneDecoder):
            return Plain("training.triplane.OSGDecoder", state)
        if type(module) in (nn.Sequential, nn.Softplus):
            return Plain(type(module), state)
        name = class_name or PERSISTENT_CLASS[type(module)]
        state.update(_init_args=(), _init_kwargs={})
        if isinstance(module, (FullyConnected, ToRGB)):  # EG3D computes these gains with numpy
            state.update(weight_gain=np.float64(module.weight_gain), activation="linear")
        return Persistent(name, state, self.src)


def generator_record(model: TriPlaneGAN, module_src: str, *, zip_storages=False, location="cpu",
                     rendering_overrides=None, neural_resolution=None, extra=None, drop=(), replace=None):
    """The persistent-object record of an EG3D TriPlaneGenerator holding `model`'s weights.

    rendering_overrides / neural_resolution: edit what the checkpoint says; extra / drop / replace:
    add, remove or swap tensors by dotted state-dict name (to make broken checkpoints)."""
    conv = _Converter(module_src, zip_storages, location, extra or {}, set(drop), replace or {})
    root = conv.convert(model)
    init_kwargs, rendering_kwargs = eg3d_kwargs(model)
    rendering_kwargs.update(rendering_overrides or {})
    init_kwargs["rendering_kwargs"] = rendering_kwargs
    state = root.meta["state"]
    # EG3D's stateless renderer and ray sampler are plain nn.Modules; plane_axes is a plain attribute.
    state["_modules"]["renderer"] = Plain("training.volumetric_rendering.renderer.ImportanceRenderer", module_state(
        {}, {}, {"ray_marcher": Plain("training.volumetric_rendering.ray_marcher.MipRayMarcher2",
                                      module_state({}, {}, {}))}, plane_axes=torch.eye(3).expand(3, 3, 3).clone()))
    state["_modules"]["ray_sampler"] = Plain("training.volumetric_rendering.ray_sampler.RaySampler",
                                             module_state({}, {}, {}))
    state.update(_init_kwargs=init_kwargs, z_dim=model.config.z_dim, c_dim=model.config.c_dim,
                 w_dim=model.config.w_dim, img_resolution=model.config.img_resolution, rendering_kwargs=rendering_kwargs,
                 neural_rendering_resolution=neural_resolution or model.config.rendering.neural_resolution)
    return root


def other_networks(module_src: str) -> dict:
    """D, augment_pipe and training_set_kwargs: present in snapshots, ignored by the loader."""
    fc = Persistent(SG2 + "FullyConnectedLayer", module_state(
        {"weight": nn.Parameter(torch.randn(4, 4), requires_grad=False)}, {}, {}, _init_args=(), _init_kwargs={}),
        module_src)
    d = Persistent("training.dual_discriminator.DualDiscriminator", module_state(
        {}, {"resample_filter": FIR.clone()}, {"b4": fc}, _init_args=(),
        _init_kwargs=dict(c_dim=25, img_resolution=32, img_channels=3)), module_src)
    aug = Persistent("training.augment.AugmentPipe", module_state(
        {}, {"p": torch.zeros([])}, {}, _init_args=(),
        _init_kwargs=dict(xflip=np.float64(1.0), rotate90=1, xint=np.int64(1)), probs=np.arange(3.0)), module_src)
    tsk = EasyDict(class_name="training.dataset.ImageFolderDataset", path="data.zip", use_labels=True,
                   max_size=np.int64(70000), xflip=False, resolution=32, random_seed=0)
    return dict(D=d, augment_pipe=aug, training_set_kwargs=tsk)


def write_eg3d_pickle(path: Path, model: TriPlaneGAN, *, module_src: str, g_model: TriPlaneGAN | None = None,
                      with_g_ema=True, protocol=pickle.DEFAULT_PROTOCOL, **record_kwargs) -> Path:
    """Write an official-format snapshot: G_ema from `model`, G from `g_model` (default: model)."""
    snapshot = dict(training_set_kwargs=None, G=generator_record(g_model or model, module_src, **record_kwargs))
    if with_g_ema:
        snapshot["G_ema"] = generator_record(model, module_src, **record_kwargs)
    snapshot.update(other_networks(module_src))
    with fake_eg3d_modules(), open(path, "wb") as fh:
        pickle.dump(snapshot, fh, protocol=protocol)
    return path
