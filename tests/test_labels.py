import numpy as np
import pytest

from dnerf_core.errors import DnerfError
from dnerf_core.labels import Label, LabelSet


def _labels():
    return LabelSet.from_names(["body", "wheel"], [(0, 0, 0), (200, 30, 30), (20, 20, 20)])


def test_json_round_trip(tmp_path):
    ls = _labels()
    path = tmp_path / "labels.json"
    ls.save(path)
    assert LabelSet.load(path) == ls
    assert ls.names == ["background", "body", "wheel"] and ls.part_names == ["body", "wheel"]
    assert ls.palette().shape == (3, 3) and ls.palette().dtype == np.uint8
    assert ls.id_of("wheel") == 2


def test_errors(tmp_path):
    with pytest.raises(DnerfError, match="0..K-1"):
        LabelSet((Label(0, "background", (0, 0, 0)), Label(2, "x", (1, 1, 1))))
    with pytest.raises(DnerfError, match="unique"):
        LabelSet((Label(0, "background", (0, 0, 0)), Label(1, "background", (1, 1, 1))))
    with pytest.raises(DnerfError, match="unknown part"):
        _labels().id_of("roof")
    with pytest.raises(DnerfError, match="not found"):
        LabelSet.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DnerfError, match="not valid JSON"):
        LabelSet.load(tmp_path / "bad.json")
