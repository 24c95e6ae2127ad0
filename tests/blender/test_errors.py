"""Bad input gives one clear Blender report (an ERROR line), never a traceback."""
from __future__ import annotations

import bpy
import pytest

from blender_addon import subject
from conftest import one_error as _one_error
from dnerf_core.errors import DnerfError

pytestmark = pytest.mark.e2e




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


@pytest.fixture(scope="module")
def learned_checkpoint(tmp_path_factory):
    """A real learned generator file: the small default tri-plane architecture, random weights,
    saved in dnerf's weight format (it has no part labels of its own)."""
    import torch
    from dnerf_core.generators.default_config import default_config
    from dnerf_core.generators.triplane_gan import TriPlaneGAN
    from dnerf_core.generators.triplane_io import save_triplane

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("learned") / "tiny_car.pt"
    save_triplane(path, TriPlaneGAN(default_config("car")).eval())
    return path


@pytest.mark.slow
def test_learned_generator_without_semantic_checkpoint(scene, learned_checkpoint):
    scene.dnerf.generator_kind, scene.dnerf.checkpoint = "checkpoint", str(learned_checkpoint)
    msg = _one_error(bpy.ops.dnerf.generate_subject)
    assert msg.startswith(f"{learned_checkpoint} has no part labels: a learned generator needs a semantic checkpoint")
    assert not scene.objects
    # the same generator gives a camera rig: only labels need the semantic branch
    scene.dnerf.rig_views = 2
    assert bpy.ops.dnerf.camera_rig() == {"FINISHED"}


@pytest.mark.slow
def test_learned_generator_with_a_damaged_semantic_checkpoint(scene, tmp_path, learned_checkpoint):
    semantic = tmp_path / "semantic.pt"
    semantic.write_bytes(b"not a semantic checkpoint")
    scene.dnerf.generator_kind, scene.dnerf.checkpoint = "checkpoint", str(learned_checkpoint)
    scene.dnerf.semantic_checkpoint = str(semantic)
    msg = _one_error(bpy.ops.dnerf.generate_subject)
    # dnerf_core's semantic loader refuses the file in one clear line
    assert msg.startswith(f"{semantic}: not a loadable semantic checkpoint"), msg
    assert not scene.objects
    with pytest.raises(DnerfError):
        subject.generate_subject(subject.SubjectRequest(str(learned_checkpoint), semantic_checkpoint=str(semantic)))


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
    with pytest.raises(DnerfError, match="--mesh-resolution must be between 16 and 512"):
        subject.generate_subject(subject.SubjectRequest("procedural:car", mesh_resolution=8))
    with pytest.raises(DnerfError, match="unknown category"):
        subject.generate_subject(subject.SubjectRequest("procedural:boat"))
