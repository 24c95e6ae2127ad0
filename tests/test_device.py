"""Device names: auto picks what exists, an absent CUDA is one clear error."""
from __future__ import annotations

import pytest
import torch

from dnerf_core.device import DeviceError, low_precision_dtype, resolve_device


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_clear_error():
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["tpu", "gpu0", "mps"])
def test_unknown_devices_are_refused(name):
    with pytest.raises(DeviceError):
        resolve_device(name)


def test_low_precision_on_cpu_is_bfloat16():
    assert low_precision_dtype(torch.device("cpu")) == torch.bfloat16
