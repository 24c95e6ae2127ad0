"""Orbit video writer: frame count and size read back, label colors, same input same bytes, bad requests."""
from __future__ import annotations

import numpy as np
import pytest

from dnerf_core.errors import DnerfError
from dnerf_core.io.masks import IGNORE_COLOR
from dnerf_core.factory.export.video import mask_colors, read_video_frames, write_orbit_video
from dnerf_core.labels import IGNORE_ID, LabelSet

LABELS = LabelSet.from_names(["a", "b"], [(0, 0, 0), (255, 0, 0), (0, 0, 255)])


def _frames(n=5, size=17):
    rng = np.random.default_rng(0)
    rgb = rng.random((n, size, size, 3)).astype(np.float32)
    bands = np.repeat(np.arange(size)[None, None] * 3 // size, size, axis=1)  # [1,H,W] 3 vertical bands
    # each frame moves the bands by a column (a gif merges identical consecutive frames)
    ids = np.concatenate([np.roll(bands, k, axis=2) for k in range(n)])
    return rgb, ids


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_written_and_read_back_deterministically(tmp_path, fmt):
    rgb, ids = _frames()
    a = write_orbit_video(tmp_path / "a", rgb, ids, LABELS, fmt)
    b = write_orbit_video(tmp_path / "b", rgb, ids, LABELS, fmt)
    assert a.frames == 5 and a.size == (17, 17)
    for pa, pb in zip((a.rgb, a.mask, a.side_by_side), (b.rgb, b.mask, b.side_by_side)):
        assert pa.read_bytes() == pb.read_bytes()
    pad = 1 if fmt == "mp4" else 0  # H.264 yuv420p: odd sizes padded by one repeated row/column
    assert read_video_frames(a.rgb).shape == (5, 17 + pad, 17 + pad, 3)
    both = read_video_frames(a.side_by_side)
    assert both.shape == (5, 17 + pad, 34, 3)
    mask = read_video_frames(a.mask)[:, :17, :17]
    if fmt == "gif":  # exact palette colors
        np.testing.assert_array_equal(mask, LABELS.palette()[ids])
        np.testing.assert_array_equal(both[:, :, 17:], LABELS.palette()[ids])
    else:  # away from band borders the colors survive H.264 closely
        assert np.abs(mask[0, :, 8].astype(int) - LABELS.palette()[1]).max() < 40
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temp files left


def test_mask_colors_and_errors(tmp_path):
    ids = np.array([[0, 1, 2, IGNORE_ID]])
    np.testing.assert_array_equal(mask_colors(ids, LABELS)[0], [(0, 0, 0), (255, 0, 0), (0, 0, 255), IGNORE_COLOR])
    rgb, ids = _frames(2)
    with pytest.raises(DnerfError, match="--video-format must be one of mp4, gif"):
        write_orbit_video(tmp_path, rgb, ids, LABELS, "avi")
    with pytest.raises(DnerfError, match="label frames"):
        write_orbit_video(tmp_path, rgb, ids[:1], LABELS, "gif")
    assert list(tmp_path.iterdir()) == []
