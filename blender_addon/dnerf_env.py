"""Finding dnerf_core from inside Blender.

The add-on does not bundle dnerf (it needs torch, far too big for an extension zip). It imports
`dnerf_core` from a Python environment, tried in this order:
1. whatever Blender's own Python can already import (dnerf installed into Blender's Python with
   pip, or the bpy module running inside a venv that has dnerf, as in the tests);
2. the folder set in the add-on preference "dnerf site-packages": the `site-packages` folder of
   a Python 3.11 venv where `pip install dnerf` (or `scripts/setup.sh`) was run. It is appended to
   sys.path (appended, not prepended, so Blender's own numpy keeps priority).
Nothing here imports dnerf_core at add-on import time: the add-on always registers, and the panel
says what is missing when dnerf cannot be found.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

PACKAGE = "dnerf_core"


class DnerfUnavailable(Exception):
    """dnerf_core cannot be imported; the message says how to fix that."""


def add_site_packages(path: str) -> bool:
    """Append a site-packages folder to sys.path (once). Returns True when it was added."""
    if not path:
        return False
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DnerfUnavailable(f"the dnerf site-packages folder does not exist: {folder}")
    text = str(folder.resolve())
    if text in sys.path:
        return False
    sys.path.append(text)
    importlib.invalidate_caches()
    return True


def import_dnerf(site_packages: str = ""):
    """Import dnerf_core (adding `site_packages` to sys.path when given); clear error otherwise."""
    if site_packages:
        add_site_packages(site_packages)
    try:
        return importlib.import_module(PACKAGE)
    except ImportError as exc:
        where = f" (also looked in {site_packages})" if site_packages else ""
        raise DnerfUnavailable(
            f"cannot import dnerf_core{where}: {exc}. Install dnerf into Blender's Python with pip, or set "
            "the add-on preference 'dnerf site-packages' to the site-packages folder of a Python "
            f"{sys.version_info.major}.{sys.version_info.minor} venv that has dnerf installed") from None


def available() -> bool:
    try:
        importlib.import_module(PACKAGE)
        return True
    except ImportError:
        return False
