"""Bad input gives one clear Blender report (an ERROR line), never a traceback."""
from __future__ import annotations

import bpy
import pytest

from blender_addon import subject
from dnerf_core.errors import DnerfError


def _one_error(op, **kwargs) -> str:
    """Run an operator that must fail; return its single error report."""
    with pytest.raises(RuntimeError) as info:
        op(**kwargs)
    lines = str(info.value).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in lines[0]
    return lines[0][len("Error: "):]


def test_missing_checkpoint_file(scene, tmp_path):
    missing = tmp_path / "nowhere" / "generator.pt"
    scene.dnerf.generator_kind, scene.dnerf.checkpoint = "checkpoint", str(missing)
    msg = _one_error(bpy.ops.dnerf.generate_subject)
    assert msg == f"checkpoint not found: {missing}"
    assert scene.dnerf.status == msg  # the panel shows it too
    assert not scene.objects  # nothing half-made


def test_no_checkpoint_chosen(scene):
    scene.dnerf.generator_kind, scene.dnerf.checkpoint = "checkpoint", ""
    assert "choose a generator checkpoint file" in _one_error(bpy.ops.dnerf.generate_subject)


def test_bad_generator_spec(scene, tmp_path):
    weird = tmp_path / "weights.bin"
    weird.write_bytes(b"not a checkpoint")
    scene.dnerf.generator_kind, scene.dnerf.checkpoint = "checkpoint", str(weird)
    assert _one_error(bpy.ops.dnerf.generate_subject).startswith("unknown generator")
    # the rig operator reads the same spec and fails the same way
    assert _one_error(bpy.ops.dnerf.camera_rig).startswith("unknown generator")


@pytest.mark.parametrize("name", ["generator.pt", "generator.pkl"])
def test_damaged_checkpoint_file(scene, tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(b"garbage, not a checkpoint")
    scene.dnerf.generator_kind, scene.dnerf.checkpoint = "checkpoint", str(bad)
    msg = _one_error(bpy.ops.dnerf.generate_subject)
    assert msg.startswith(f"{bad}: not a ")  # dnerf_core's CheckpointError, word for word
    assert not scene.objects


def test_missing_semantic_checkpoint(scene, tmp_path):
    scene.dnerf.semantic_checkpoint = str(tmp_path / "semantic.pt")
    assert _one_error(bpy.ops.dnerf.generate_subject) == f"semantic checkpoint not found: {tmp_path / 'semantic.pt'}"


def test_learned_generator_without_labels(scene, tmp_path):
    """A learned generator gives no part labels until the semantic branch exists: a clear refusal."""
    with pytest.raises(DnerfError, match="has no part labels: a learned generator needs a semantic checkpoint"):
        subject.generate_subject(subject.SubjectRequest("preset:shapenetcars128-64", mesh_resolution=16))
    semantic = tmp_path / "semantic.pt"
    semantic.write_bytes(b"\0")
    with pytest.raises(DnerfError, match="no semantic branch"):
        subject.generate_subject(subject.SubjectRequest("preset:shapenetcars128-64", mesh_resolution=16,
                                                        semantic_checkpoint=str(semantic)))
    assert not scene.objects


def test_render_needs_subject_and_rig(scene, tmp_path):
    scene.dnerf.output_dir = str(tmp_path)
    assert "select a subject" in _one_error(bpy.ops.dnerf.render_multiview)
    scene.dnerf.mesh_resolution = 16
    bpy.ops.dnerf.generate_subject()
    assert _one_error(bpy.ops.dnerf.render_multiview) == "create a camera rig first"


def test_relative_output_folder_needs_a_saved_file(scene):
    scene.dnerf.output_dir = "//views/"
    assert "save the file first" in _one_error(bpy.ops.dnerf.render_multiview)


def test_out_of_range_values(scene):
    with pytest.raises(DnerfError, match="mesh resolution must be between 16 and 512"):
        subject.generate_subject(subject.SubjectRequest("procedural:car", mesh_resolution=8))
    with pytest.raises(DnerfError, match="unknown category"):
        subject.generate_subject(subject.SubjectRequest("procedural:boat"))
