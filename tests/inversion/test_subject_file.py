"""Fitted-subject files: round trip, bound to their generator, never executed."""
import pytest
import torch

from dnerf_core.errors import CheckpointError
from dnerf_core.inversion import Pose, fitted_from, load_fitted, save_fitted


def test_round_trip(face, tmp_path):
    gen = face.generator
    ws = gen.sample([5]).ws + 0.1
    fitted = fitted_from(face, ws, Pose(0.1, -0.2, 2.7), "edit", {"seed": 5})
    save_fitted(tmp_path / "s.pt", fitted)
    back = load_fitted(tmp_path / "s.pt", face)
    assert torch.equal(back.ws, ws) and back.pose == Pose(0.1, -0.2, 2.7) and back.kind == "edit"
    assert back.info == {"seed": 5} and back.generator_spec == "default:face"
    with torch.no_grad():
        assert torch.equal(back.subject(face).planes, gen.synthesize(ws, [-1]).planes)


def test_refused_on_another_generator_and_when_not_a_subject_file(face, car, tmp_path):
    save_fitted(tmp_path / "s.pt", fitted_from(face, face.generator.sample([1]).ws,
                                               Pose(0, 0, 2.7), "rgb"))
    with pytest.raises(CheckpointError, match="fitted on another generator"):
        load_fitted(tmp_path / "s.pt", car)
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a fitted subject"):
        load_fitted(tmp_path / "other.pt", face)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a loadable fitted subject"):
        load_fitted(tmp_path / "junk.pt", face)
