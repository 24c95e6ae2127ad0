"""The public API (dnerf_core/__init__.py, api.py): its docstring examples run, names are stable,
the generator carries its spec, and `import dnerf_core` stays light."""
import doctest
import json
import subprocess
import sys

import pytest

import dnerf_core as dn
from dnerf_core import api
from dnerf_core.api import inversion as api_inversion, semantic as api_semantic
from dnerf_core.generators import spec as spec_module

PUBLIC = {"__version__", "AnnotationKit", "Cameras", "DatasetConfig", "DEFAULT_FORMATS", "DnerfError", "edit",
          "edit_start", "edit_subject", "EditOptions", "ensure_dir", "EditStart", "export", "ExportOptions",
          "ExportResult", "FORMATS", "GeneratorSpec", "IGNORE_ID", "intrinsics_matrix", "invert", "InvertOptions",
          "JobOutcome", "KitOptions", "label_subject", "LabeledSubject", "LabelSet", "load_generator", "load_kit",
          "make_dataset", "make_kit", "MAX_ABS_PITCH", "NerfOptions", "option_fields", "orbit_views", "Pose",
          "PoseFile", "ray_bundle", "read_pose_file", "render_view", "require_branch", "sample_subject",
          "save_edited", "SemanticConfig", "SemanticTrainConfig", "Skeleton", "subject_skeleton", "train_semantic", "TrainSemanticOptions",
          "write_mask_png", "write_view_mask"}


@pytest.mark.slow  # the examples load generators and render
@pytest.mark.parametrize("module", [api, api_semantic, api_inversion, spec_module], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_public_names():
    assert set(dn.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(dn, name) is not None
    assert dn.__version__.count(".") >= 2


def test_import_is_light():
    code = "import sys, dnerf_core; print('torch' in sys.modules, dnerf_core.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False" and out[1] == dn.__version__


def test_spec_parsed_once_and_carried():
    spec = dn.GeneratorSpec.parse("eg3d:ffhq.pkl")
    assert (spec.kind, spec.path.name, spec.category, str(spec)) == ("eg3d", "ffhq.pkl", None, "eg3d:ffhq.pkl")
    assert dn.GeneratorSpec.parse("my/gen.pt").kind == "file"
    assert dn.GeneratorSpec.parse(spec) is spec
    for bad, says in (("nonsense:car", "unknown generator kind"), ("car", "unknown generator"),
                      ("procedural:", "names no procedural")):
        with pytest.raises(dn.DnerfError, match=says):
            dn.GeneratorSpec.parse(bad)
    gen = dn.load_generator("procedural:face", device="cpu")
    assert gen.spec == dn.GeneratorSpec("procedural", "face", "procedural:face")
    labeled = dn.load_generator("default:face", device="cpu")
    assert labeled.spec.kind == "default" and labeled.label_set is not None  # shipped semantic branch
    assert dn.load_generator("default:face", semantic=False, device="cpu").label_set is None


def test_cuda_without_cuda_is_refused_before_loading():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(dn.DnerfError, match="CUDA is not available"):
        dn.load_generator("procedural:car", device="cuda")


def test_label_subject_with_cameras_and_export_round_trip(tmp_path):
    from dnerf_core.cameras import orbit_cameras

    gen = dn.load_generator("procedural:car", device="cpu")
    cams = orbit_cameras([0.3, -0.4], [0.1, 0.2], gen.orbit)
    labeled = dn.label_subject(gen, seed=3, cameras=cams, resolution=32, mesh=False)
    assert labeled.mesh is None and len(labeled.views) == 2 and labeled.views.cameras is cams
    with pytest.raises(dn.DnerfError, match="no mesh"):
        dn.export(labeled, tmp_path / "a", formats=("glb",))
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    result = dn.export(labeled, tmp_path / "b", formats=("ply", "pts"))
    manifest = json.loads((tmp_path / "b" / "export.json").read_text())
    assert manifest["generator"] == "procedural:car" and manifest["seed"] == 3 and manifest["views"] == 2
    assert result.n_points == len(labeled.cloud) > 0 and (tmp_path / "b" / "cloud.seg").is_file()
    with pytest.raises(dn.DnerfError, match="unknown export format"):
        dn.export(labeled, tmp_path / "c", formats=("obj",))
    with pytest.raises(dn.DnerfError, match="exactly one of"):
        dn.label_subject(gen, views=1)


def test_views_that_cannot_fit_in_memory_are_refused_before_any_work():
    gen = dn.load_generator("procedural:car", device="cpu")
    with pytest.raises(dn.DnerfError, match=r"100000000 views at 128x128 need about .* TB of memory"):
        dn.label_subject(gen, 1, views=100_000_000)
