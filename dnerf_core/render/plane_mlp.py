"""Tri-plane fields as one fused CPU kernel: lookup, decoder layers and activations per point.

A tri-plane field reads a point's summed plane features and runs them through a small MLP. In
eager PyTorch every step of that (the taps, the lookup, each layer, softplus at ~2 ns an element
on a 2-core CPU) is a pass over memory; the native kernel (_plane_mlp_native.c, built by
setup.py) keeps a tile of 8 points in L1 from the taps to the outputs. It runs where it can and
the eager code everywhere else, so it is an accelerator, never a requirement:

- `PlaneMLP` is the decoder in the kernel's form (weights folded, transposed);
- `SummedDecode` pairs a field's eager decode (the reference: summed features -> outputs) with
  its PlaneMLP and `finish`, which turns the kernel's raw outputs into the eager decode's;
- `summed_plane_reader(planes, box_warp, decode)` -> points [N,P,3] -> decode's outputs: the
  kernel on a CPU, in float32, with no gradient asked, when it is built and this CPU has AVX2 and
  FMA; else decode.eager over plane_taps.summed_plane_lookup.

Both give the same numbers up to float rounding (tests/render/test_plane_mlp.py). The kernel's
threads are torch's (OpenMP, torch.set_num_threads); every point is computed alone, so outputs do
not depend on the thread count. DNERF_NATIVE=0 in the environment turns the kernel off (an A/B
switch for benchmarks and bug reports).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .plane_taps import check_point_sets, plane_table, summed_plane_lookup
from .triplane import PLANE_AXES

# the kernel keeps a tile's widths in fixed buffers (DN_MAX_WIDTH in the C file)
MAX_WIDTH = 128
NATIVE_MODULE = "dnerf_core.render._plane_mlp_native"
DISABLE_ENV = "DNERF_NATIVE"


@dataclass(frozen=True)
class PlaneMLP:
    """y = softplus(features @ w_in + b_in) @ w_out + b_out per point, then from column
    sigmoid_from on sigmoid(y) * sigmoid_scale + sigmoid_shift (None: no sigmoid).

    w_in [C,H] (None: the features are already the hidden pre-activation, H = C), b_in [H],
    w_out [H,O], b_out [O]."""

    w_in: Tensor | None
    b_in: Tensor
    w_out: Tensor
    b_out: Tensor
    sigmoid_from: int | None = None
    sigmoid_scale: float = 1.0
    sigmoid_shift: float = 0.0

    def __call__(self, features: Tensor) -> Tensor:
        """The same computation in eager PyTorch ([...,C] -> [...,O]), for tests."""
        x = features if self.w_in is None else features @ self.w_in
        y = F.softplus(x + self.b_in) @ self.w_out + self.b_out
        if self.sigmoid_from is None:
            return y
        head, tail = y[..., :self.sigmoid_from], y[..., self.sigmoid_from:]
        return torch.cat([head, tail.sigmoid() * self.sigmoid_scale + self.sigmoid_shift], dim=-1)


@dataclass(frozen=True)
class SummedDecode:
    """A field's decode of summed plane features, eagerly and in the kernel's form.

    eager: summed features [N,P,C] -> outputs (the reference); mlp: the same as a PlaneMLP, or
    None where the decoder has no such form (then the eager decode always runs); finish: the
    kernel's raw outputs [N,P,O] -> the eager decode's outputs."""

    eager: Callable[[Tensor], Any]
    mlp: PlaneMLP | None
    finish: Callable[[Tensor], Any]


class _Spec(ctypes.Structure):
    """dn_plane_mlp in _plane_mlp_native.c, field for field."""

    _fields_ = [("table", ctypes.c_void_p), ("c", ctypes.c_int64), ("h", ctypes.c_int64), ("w", ctypes.c_int64),
                ("axes", ctypes.c_int64 * 6), ("scale_w", ctypes.c_float), ("offset_w", ctypes.c_float),
                ("scale_h", ctypes.c_float), ("offset_h", ctypes.c_float), ("points_per_subject", ctypes.c_int64),
                ("w_in", ctypes.c_void_p), ("b_in", ctypes.c_void_p), ("hidden", ctypes.c_int64),
                ("w_out", ctypes.c_void_p), ("b_out", ctypes.c_void_p), ("out", ctypes.c_int64),
                ("out_pad", ctypes.c_int64), ("sigmoid_from", ctypes.c_int64), ("sigmoid_scale", ctypes.c_float),
                ("sigmoid_shift", ctypes.c_float)]


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The built kernel, if there is one and this CPU runs it (loaded once)."""
    spec = importlib.util.find_spec(NATIVE_MODULE)
    if spec is None or spec.origin is None:
        return None
    lib = ctypes.CDLL(spec.origin)
    lib.dn_plane_mlp_supported.restype = ctypes.c_int
    lib.dn_plane_mlp_run.restype = ctypes.c_int
    lib.dn_plane_mlp_run.argtypes = [ctypes.POINTER(_Spec), ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
    return lib if lib.dn_plane_mlp_supported() else None


def native_available() -> bool:
    """Whether summed_plane_reader can run the kernel here (built, AVX2 + FMA, not turned off)."""
    return os.environ.get(DISABLE_ENV, "1") != "0" and _library() is not None


@contextlib.contextmanager
def native_kernel(on: bool):
    """Run the body with the kernel switched on (where it can run) or off: DNERF_NATIVE set for
    the duration, restored after (for side-by-side timings and for counting evaluations with
    the eager decoders' hooks)."""
    before = os.environ.get(DISABLE_ENV)
    os.environ[DISABLE_ENV] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DISABLE_ENV, None)
        else:
            os.environ[DISABLE_ENV] = before


def _width_ok(n: int) -> bool:
    return 0 < n <= MAX_WIDTH and n % 8 == 0


def _padded(x: Tensor, width: int) -> Tensor:
    """x [...,O] zero-padded to [...,width], float32, contiguous."""
    out = x.new_zeros(*x.shape[:-1], width, dtype=torch.float32)
    out[..., :x.shape[-1]] = x
    return out


def _native_reader(planes: Tensor, box_warp: float, mlp: PlaneMLP) -> Callable[[Tensor], Tensor] | None:
    """points [N,P,3] -> mlp's outputs [N,P,O] through the kernel, or None where it cannot run."""
    n, n_planes, c, h, w = planes.shape
    hidden, out = mlp.b_in.shape[0], mlp.b_out.shape[0]
    pad = -(-out // 8) * 8
    if (planes.device.type != "cpu" or planes.dtype != torch.float32 or n_planes != len(PLANE_AXES)
            or not (_width_ok(c) and _width_ok(hidden) and _width_ok(pad))
            or (mlp.w_in is None and hidden != c) or 3 * h * w >= 2 ** 31):
        return None
    weights = [mlp.w_in, mlp.b_in, mlp.w_out, mlp.b_out]
    if torch.is_grad_enabled() and (planes.requires_grad or any(t is not None and t.requires_grad for t in weights)):
        return None
    lib = _library()
    table = plane_table(planes).rows.contiguous()
    w_in = None if mlp.w_in is None else mlp.w_in.detach().to(torch.float32).contiguous()
    b_in = mlp.b_in.detach().to(torch.float32).contiguous()
    w_out, b_out = _padded(mlp.w_out.detach(), pad), _padded(mlp.b_out.detach(), pad)
    sigmoid_from = out if mlp.sigmoid_from is None else mlp.sigmoid_from
    keep = (table, w_in, b_in, w_out, b_out)  # alive as long as the reader

    def read(points: Tensor) -> Tensor:
        check_point_sets(points.shape[0], n)
        pts = points.detach().to(torch.float32).reshape(-1, 3).contiguous()
        result = torch.empty(pts.shape[0], out, dtype=torch.float32)
        if len(pts):
            spec = _Spec(keep[0].data_ptr(), c, h, w, (ctypes.c_int64 * 6)(*(a for axes in PLANE_AXES for a in axes)),
                         w / box_warp, (w - 1) / 2, h / box_warp, (h - 1) / 2, points.shape[1],
                         0 if keep[1] is None else keep[1].data_ptr(), keep[2].data_ptr(), hidden,
                         keep[3].data_ptr(), keep[4].data_ptr(), out, pad, sigmoid_from,
                         mlp.sigmoid_scale, mlp.sigmoid_shift)
            if lib.dn_plane_mlp_run(ctypes.byref(spec), pts.data_ptr(), len(pts), result.data_ptr()) != 0:
                raise RuntimeError("the native plane MLP refused a shape it was checked to take")
        return result.reshape(n, points.shape[1], out)

    return read


def summed_plane_reader(planes: Tensor, box_warp: float, decode: SummedDecode) -> Callable[[Tensor], Any]:
    """points [N,P,3] -> decode's outputs at the points of planes [N,3,C,H,W]: the native kernel
    where it runs (see the module doc), else decode.eager over summed_plane_lookup. Build one
    reader per planes and reuse it across chunks (it prepares the table and weights once). A
    call whose points ask for a gradient takes the eager path."""
    native = None
    if decode.mlp is not None and native_available():
        native = _native_reader(planes, box_warp, decode.mlp)
    lookup = summed_plane_lookup(planes, box_warp)
    if native is None:
        return lambda points: decode.eager(lookup(points))

    def read(points: Tensor):
        if torch.is_grad_enabled() and points.requires_grad:
            return decode.eager(lookup(points))
        return decode.finish(native(points))

    return read
