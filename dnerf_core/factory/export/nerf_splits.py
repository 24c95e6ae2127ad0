"""Explicit train / val / test frame lists for nerfstudio (transforms.json `*_filenames` keys).

Why explicit: without them nerfstudio 1.1.5 splits by `train_split_fraction` 0.9 with
`ceil(0.9 * n)` training frames, so any export of up to 10 views gets an EMPTY eval split and
training crashes at the first eval step. With the keys, nerfstudio uses them as given (all
three must be present once any is).

The rule (n = number of frames; eval = the frames held out for evaluation):
- n >= 4: eval_views frames held out (default max(2, ceil(0.1 n)), nerfstudio's own 10%,
  never fewer than 2; at most n - 2, so at least 2 frames always train), the rest train;
- n = 2 or 3: one frame held out, the other 1 or 2 train (with 3 views: train 2, eval 1);
- n = 1: the single frame is train, val and test at once (nothing can be held out; nerfstudio
  still gets a non-empty eval split, which it needs, and evaluates on the training view).
val and test are the same held-out frames: nerfstudio itself does that with its fraction
split (val during `ns-train`, test for `ns-eval`), and the few views of a subject are better
spent on training than on a second held-out set. Held-out frames are spread evenly over the
frame order (k + 1/2) * n / n_eval, so on an orbit they sit between training views instead of
at one end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import DnerfError

DEFAULT_EVAL_FRACTION = 0.1  # nerfstudio's default train_split_fraction is 0.9
MIN_EVAL_VIEWS = 2
MIN_TRAIN_VIEWS = 2


@dataclass(frozen=True)
class FrameSplit:
    """Frame indices per split (sorted); val == test (see the module docstring)."""

    train: list[int]
    val: list[int]
    test: list[int]

    def filenames(self, names: list[str]) -> dict[str, list[str]]:
        """{train,val,test}_filenames for transforms.json, given every frame's file_path."""
        return {f"{key}_filenames": [names[i] for i in getattr(self, key)] for key in ("train", "val", "test")}


def default_eval_views(n: int) -> int:
    """How many of n frames are held out when the caller does not say (module docstring)."""
    if n <= 1:
        return 0
    if n <= 3:
        return 1
    return min(max(MIN_EVAL_VIEWS, math.ceil(DEFAULT_EVAL_FRACTION * n)), n - MIN_TRAIN_VIEWS)


def nerfstudio_splits(n: int, eval_views: int | None = None) -> FrameSplit:
    """Split n frames (see the module docstring); eval_views overrides the held-out count
    (1 .. n - 1; with n = 1 only None or 0 are accepted and the frame is used for all three)."""
    k = check_split_request(n, eval_views)
    if n == 1:
        return FrameSplit([0], [0], [0])
    held = sorted({min(n - 1, int((j + 0.5) * n / k)) for j in range(k)})
    held_set = set(held)
    train = [i for i in range(n) if i not in held_set]
    return FrameSplit(train, held, list(held))


def check_split_request(n: int, eval_views: int | None) -> int:
    """The held-out count nerfstudio_splits(n, eval_views) will use; a count no split can honour
    raises DnerfError. Cheap whatever n is, so options are checked before any work."""
    if n < 1:
        raise DnerfError(f"cannot split {n} frames")
    k = default_eval_views(n) if eval_views is None else eval_views
    if n == 1:
        if k not in (0, 1):
            raise DnerfError(f"--eval-views must be 0 or 1 with a single view, got {k}")
    elif not 1 <= k <= n - 1:
        raise DnerfError(f"--eval-views must be between 1 and {n - 1} for {n} views (every split needs a frame), "
                         f"got {k}")
    return k
