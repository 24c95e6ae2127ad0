"""A pickle reader for official EG3D checkpoints that never runs code from the file.

An EG3D `.pkl` is written with plain `pickle.dump`. Its networks are "persistent objects": each
one pickles as a call to `torch_utils.persistence._reconstruct_persistent_obj(meta)`, and the
original loader EXECUTES the Python source carried in `meta['module_src']` to rebuild the class.
Here every global the pickle asks for is looked up in an explicit allow-list instead:

- tensor rebuild helpers -> our own checked versions; embedded storages are loaded with
  `torch.load(weights_only=True)` (legacy and zip formats both);
- the persistent-object reconstructor -> a function returning an inert PersistentRecord
  (class name + state); module_src is dropped unread;
- torch.nn / EG3D module classes (rebuilt by NEWOBJ or copyreg._reconstructor) -> inert
  ModuleRecord subclasses that only keep the state pickle hands them;
- OrderedDict, set, dnnlib's EasyDict (-> a plain dict), numpy scalars (-> Python numbers),
  numpy dtypes and arrays (numpy's own data-only reconstruction).

Anything else (os.system, builtins.eval, subprocess.Popen, ...) raises CheckpointError naming the
global, before it can be called.
"""
from __future__ import annotations

import collections
import io
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from ..errors import CheckpointError

PERSISTENT_RECONSTRUCT = ("torch_utils.persistence", "_reconstruct_persistent_obj")
# Module classes are only ever labels here (inert stand-ins), so whole namespaces can be named:
# torch's own modules and EG3D's training package (plain nn.Modules such as OSGDecoder or the
# renderer are pickled by class reference, not as persistent objects).
MODULE_CLASS_PREFIXES = ("torch.nn.modules.", "training.", "torch_utils.")
EASYDICT_CLASSES = {("dnnlib.util", "EasyDict"), ("dnnlib", "EasyDict")}
# numpy 1.x pickles name numpy.core.*, numpy 2.x numpy._core.*.
_NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")


class Record:
    """Common face of the inert stand-ins: a dotted class name and the object's state dict."""

    class_name: str = ""
    state: dict

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.class_name}>"


class PersistentRecord(Record):
    """What a persistent object becomes: its class name and state, its source text discarded."""

    def __init__(self, class_name: str, state: dict, version: Any):
        self.class_name, self.state, self.version = class_name, state, version


class ModuleRecord(Record):
    """Base of the per-class stand-ins for plain (non-persistent) module classes."""

    def __init__(self, *args, **kwargs):  # only reached if a pickle calls the class directly
        self.state = {}
        self.args = args

    def __setstate__(self, state):
        # BUILD hands (dict_state, slot_state) for classes with slots; keep the dict part only.
        if isinstance(state, tuple) and len(state) == 2:
            state = state[0]
        self.state = state if isinstance(state, dict) else {}


class EasyDictRecord(dict):
    """dnnlib.util.EasyDict stand-in: its items arrive through SETITEMS; nothing else to do."""

    def __setstate__(self, state):
        pass


def _reconstruct_persistent_obj(meta):
    """Stand-in for EG3D's reconstructor. Deliberately never reads meta['module_src']."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        kind = meta.get("type") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"unsupported persistent object record (type {kind!r})")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"persistent object {meta.get('class_name')!r} has no state dict")
    return PersistentRecord(str(meta.get("class_name", "")), state, meta.get("version"))


def _load_storage_from_bytes(data: bytes):
    """Our torch.storage._load_from_bytes: the embedded bytes are a torch.save of one storage,
    read with weights_only=True (no arbitrary globals) onto the CPU (checkpoints may say cuda)."""
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("a tensor storage record does not hold bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation chatter
        storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    if not isinstance(storage, torch.storage.TypedStorage):
        raise CheckpointError(f"an embedded storage loaded as {type(storage).__name__}, not a typed storage")
    return storage


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """Checked twin of torch._utils._rebuild_tensor_v2: a view on an already-loaded storage.
    Hooks and tensor metadata are dropped (a weight file has no use for them)."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise CheckpointError(f"tensor record over {type(storage).__name__}, not a storage")
    if not isinstance(storage_offset, int) or not all(isinstance(v, int) for v in (*size, *stride)):
        raise CheckpointError("tensor record with non-integer offset, size or stride")
    if len(size) != len(stride) or storage_offset < 0 or any(v < 0 for v in (*size, *stride)):
        raise CheckpointError(f"tensor record with invalid view (offset {storage_offset}, size {size}, stride {stride})")
    # set_() does not bounds-check the view, so a crafted record could read past the storage.
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation chatter
        if last >= storage.size():
            raise CheckpointError(f"tensor record reaches element {last} of a {storage.size()}-element storage")
        return torch.empty(0, dtype=storage.dtype).set_(storage._untyped_storage, storage_offset,
                                                        tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """Parameters come back as plain tensors: only their values are needed."""
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("parameter record without a tensor")
    return data


def _copyreg_reconstructor(cls, base, state):
    """copyreg._reconstructor for protocol-0/1 pickles of plain objects: only our stand-ins."""
    if not (isinstance(cls, type) and issubclass(cls, (ModuleRecord, EasyDictRecord)) and base is object):
        raise CheckpointError(f"refusing to reconstruct {cls!r} from base {base!r}")
    return cls.__new__(cls)


def _numpy_dtype(spec, align=False, copy=True):
    dtype = np.dtype(spec)
    if dtype.kind not in "biufc":
        raise CheckpointError(f"refusing numpy dtype {dtype}")
    return dtype


def _numpy_scalar(dtype, data=None):
    """A numpy scalar -> the Python number it holds."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or not isinstance(data, bytes):
        raise CheckpointError("refusing a non-numeric numpy scalar")
    return np.frombuffer(data, dtype=dtype, count=1)[0].item()


class _NdarrayToken:
    """Stands for numpy.ndarray, which pickles only as _reconstruct's subtype argument; the real
    class would let a pickle allocate arbitrary uninitialized arrays by calling it."""


def _numpy_reconstruct(subtype, shape, dtype_code):
    # numpy writes _reconstruct(ndarray, (0,), b'b') and fills the array in BUILD (__setstate__).
    if subtype is not _NdarrayToken or tuple(shape) != (0,):
        raise CheckpointError(f"refusing numpy array reconstruction ({subtype!r}, shape {shape!r})")
    return np.ndarray.__new__(np.ndarray, (0,), dtype_code)


def _numpy_frombuffer(buf, dtype, shape, order="C"):
    """numpy's protocol-5 array reconstruction, numeric dtypes only."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or order not in ("C", "F"):
        raise CheckpointError("refusing a non-numeric numpy array")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order=order).copy()


_FIXED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    PERSISTENT_RECONSTRUCT: _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "object"): object,
    ("copyreg", "_reconstructor"): _copyreg_reconstructor,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): _NdarrayToken,
    **{(m, "scalar"): _numpy_scalar for m in _NUMPY_MULTIARRAY},
    **{(m, "_reconstruct"): _numpy_reconstruct for m in _NUMPY_MULTIARRAY},
    **{(m, "_frombuffer"): _numpy_frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    **{name: EasyDictRecord for name in EASYDICT_CLASSES},
}


class SafeUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose find_class answers only from the allow-list above."""

    def __init__(self, file: BinaryIO, source: str = "<stream>"):
        super().__init__(file)
        self.source = source
        self._stand_ins: dict[str, type] = {}

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key in _FIXED:
            return _FIXED[key]
        if module.startswith(MODULE_CLASS_PREFIXES) and name.isidentifier():
            full = f"{module}.{name}"
            if full not in self._stand_ins:
                self._stand_ins[full] = type(name, (ModuleRecord,), {"class_name": full})
            return self._stand_ins[full]
        raise CheckpointError(
            f"{self.source}: refusing to load: the pickle asks for the global '{module}.{name}', which is "
            "not a tensor-rebuild helper or a module class (nothing from the file was executed)")

    def persistent_load(self, pid):
        raise CheckpointError(f"{self.source}: unexpected persistent id in pickle")


def one_line(exc: BaseException) -> str:
    """An exception's message as one line for the CLI. torch's weights-only refusals span many
    lines and suggest retrying with weights_only=False; keep only the global they refused."""
    text = str(exc)
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return f"it asks for the global '{refused.group(1)}', which weights-only loading refuses"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Weights only load failed")]
    return f"{type(exc).__name__}: {(lines or [''])[0][:300]}"


def safe_load(path: str | Path) -> Any:
    """Unpickle `path` through SafeUnpickler; any failure is a CheckpointError naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return SafeUnpickler(fh, str(path)).load()
    except CheckpointError as exc:
        if str(path) in str(exc):
            raise
        raise CheckpointError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc.strerror or exc})") from exc
    except Exception as exc:  # truncated / corrupt pickles raise many types (EOFError, UnpicklingError, ...)
        raise CheckpointError(f"{path}: not a readable EG3D checkpoint ({one_line(exc)})") from exc


__all__ = ["Record", "PersistentRecord", "ModuleRecord", "SafeUnpickler", "safe_load"]
