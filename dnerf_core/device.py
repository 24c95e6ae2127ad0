"""Where tensors live and which mixed precision each kind of device may use.

Every entry point takes a device name: 'cpu', 'cuda' (or 'cuda:N') or 'auto' (cuda when
available). Weights load to the CPU first and are moved; tensors made later take the device of
their inputs, so nothing below the entry points names a device.
"""
from __future__ import annotations

import torch

from .errors import DnerfError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = "auto"
DEVICE_HELP = "where to compute: cpu, cuda[:N], or auto (cuda when available)"


class DeviceError(DnerfError):
    """A device that is not usable on this machine."""


def resolve_device(name: str | torch.device | None = DEFAULT_DEVICE) -> torch.device:
    """'auto' / None -> cuda if available else cpu; 'cuda' on a machine without CUDA -> DeviceError."""
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or DEFAULT_DEVICE).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise DeviceError(f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)}") from exc
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise DeviceError(f"device {name!r} is not supported: use one of {', '.join(DEVICE_CHOICES)}")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {name!r}: CUDA is not available on this machine "
                          f"(torch {torch.__version__}); use --device cpu or auto")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def low_precision_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype for the optional reduced-precision paths on `device`: bfloat16 on CPU
    (oneDNN has fast bf16 convolutions), bfloat16 on CUDA where the GPU supports it (it keeps
    float32's exponent range, so StyleGAN activations cannot overflow), else float16."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16
