"""dnerf: a 3D-aware labeled-data factory (DatasetNeRF on tri-plane generators).

    import dnerf_core as dn
    gen = dn.load_generator("default:car", semantic=None, device="auto")
    labeled = dn.label_subject(gen, seed=7, views=8, resolution=64)
    dn.export(labeled, "out/car-7", formats=("ply", "glb", "masks"))

The names below are the public API (dnerf_core/api.py). They are imported on first use, so
`import dnerf_core` stays light (no torch until a name that needs it is touched).
"""
from __future__ import annotations

import importlib

__all__ = ["Cameras", "DEFAULT_FORMATS", "DnerfError", "EditOptions", "ExportOptions", "ExportResult", "FORMATS", "GeneratorSpec",
           "LabelSet", "LabeledSubject", "NerfOptions", "DatasetConfig", "make_dataset", "__version__", "export", "label_subject", "load_generator", "orbit_views",
           "sample_subject"]

# public name -> module that defines it
_LAZY = {
    "Cameras": "dnerf_core.cameras",
    "DnerfError": "dnerf_core.errors",
    "LabelSet": "dnerf_core.labels",
    "EditOptions": "dnerf_core.inversion.options",
    "DatasetConfig": "dnerf_core.factory.dataset_plan",
    "make_dataset": "dnerf_core.factory.dataset",
    **{name: "dnerf_core.api" for name in ("DEFAULT_FORMATS", "ExportOptions", "ExportResult", "FORMATS",
                                           "GeneratorSpec", "LabeledSubject", "NerfOptions", "export", "label_subject",
                                           "load_generator", "orbit_views", "sample_subject")},
}


def _version() -> str:
    """The installed distribution's version, else (a source checkout) pyproject.toml's."""
    from importlib import metadata

    try:
        return metadata.version("dnerf")
    except metadata.PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.is_file() else None
        return found.group(1) if found else "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        value = _version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'dnerf_core' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
