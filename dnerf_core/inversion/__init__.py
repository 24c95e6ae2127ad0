"""Inversion and 3D-aware semantic editing (DatasetNeRF sec. 4.4) on learned tri-plane generators.

invert_rgb / invert_mask fit a latent and camera pose to an image or a part mask; edit_subject
changes a subject so one view shows an edited part mask; subject_file stores what they find.
The names are imported on first use, so the settings (config.py, options.py) load without torch.
"""
import importlib

# public name -> module of this package that defines it
_LAZY = {"FitConfig": "config", "EDIT_FIT": "config", "EditResult": "edit", "edit_subject": "edit",
         "render_view": "edit", "transplant_part": "edit", "FitResult": "fit", "invert_mask": "mask", "Pose": "pose",
         "invert_rgb": "rgb", "FittedSubject": "subject_file", "fitted_from": "subject_file",
         "load_fitted": "subject_file", "save_fitted": "subject_file"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
