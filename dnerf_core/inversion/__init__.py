"""Inversion and 3D-aware semantic editing (DatasetNeRF sec. 4.4) on learned tri-plane generators.

invert_rgb / invert_mask fit a latent and camera pose to an image or a part mask; edit_subject
changes a subject so one view shows an edited part mask; subject_file stores what they find.
"""
from .config import FitConfig
from .edit import EDIT_FIT, EditResult, edit_subject, render_view, transplant_part
from .fit import FitResult
from .mask import invert_mask
from .pose import Pose
from .rgb import invert_rgb
from .subject_file import FittedSubject, fitted_from, load_fitted, save_fitted

__all__ = ["EDIT_FIT", "EditResult", "FitConfig", "FitResult", "FittedSubject", "Pose", "edit_subject", "fitted_from",
           "invert_mask", "invert_rgb", "load_fitted", "render_view", "save_fitted", "transplant_part"]
