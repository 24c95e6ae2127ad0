"""Fixtures for the Blender add-on tests (bpy 5.0.1 as a Python module, headless).

bpy is imported unconditionally: `scripts/setup.sh --dev` installs it, so a missing bpy is a
failure, never a skip. The add-on is registered once per session the way a script would
(`blender_addon.register()`); every test starts from an empty factory scene.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bpy  # noqa: F401 - a missing bpy must fail the whole folder
import pytest

REPO = Path(__file__).resolve().parents[2]
# The add-on under test is this checkout's (an editable install made before blender_addon/ had
# an __init__.py would otherwise resolve it as an empty namespace package).
sys.path.insert(0, str(REPO))
EXPORT_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def addon():
    import blender_addon

    blender_addon.register()
    yield blender_addon
    blender_addon.unregister()


@pytest.fixture
def scene(addon):
    """An empty factory scene with the add-on registered (bpy keeps global state between tests)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def one_error(op, **kwargs) -> str:
    """Run an operator that must fail; return its single error report."""
    with pytest.raises(RuntimeError) as info:
        op(**kwargs)
    lines = str(info.value).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in lines[0]
    return lines[0][len("Error: "):]


def dnerf_export(out: Path, *args: str) -> Path:
    """Run the real `dnerf-export` command line (the venv's console script) into `out`."""
    exe = Path(sys.executable).with_name("dnerf-export")
    proc = subprocess.run([str(exe), *args, "--out", str(out), "--quiet"], capture_output=True, text=True,
                          timeout=EXPORT_TIMEOUT_S)
    assert proc.returncode == 0, f"dnerf-export failed: {proc.stderr}"
    return out


# Small settings shared by the export and the add-on, so both build the same subject.
SMALL = {"views": 4, "resolution": 64, "mesh_resolution": 64}


@pytest.fixture(scope="session")
def car_export(tmp_path_factory):
    """dnerf-export of procedural:car seed 3: cloud.ply, mesh.glb, masks."""
    return dnerf_export(tmp_path_factory.mktemp("car-export"), "--generator", "procedural:car", "--seed", "3",
                        "--views", str(SMALL["views"]), "--resolution", str(SMALL["resolution"]),
                        "--mesh-resolution", str(SMALL["mesh_resolution"]), "--ply", "--glb", "--masks")


@pytest.fixture(scope="session")
def face_export(tmp_path_factory):
    """dnerf-export of procedural:face seed 5: cloud.ply and mesh.glb."""
    return dnerf_export(tmp_path_factory.mktemp("face-export"), "--generator", "procedural:face", "--seed", "5",
                        "--views", str(SMALL["views"]), "--resolution", str(SMALL["resolution"]),
                        "--mesh-resolution", str(SMALL["mesh_resolution"]), "--ply", "--glb")
