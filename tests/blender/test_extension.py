"""The built zip installs as a Blender extension and works; the add-on preference finds dnerf_core.

Each case runs in its own Python process: installing an extension changes Blender's preferences
and registers a second copy of the add-on's classes, which must not leak into the other tests.
BLENDER_USER_RESOURCES points Blender's user folders at a temporary directory.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SUBPROCESS_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("addon") / "dnerf.zip"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_addon.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    return out


def _run(code: str, tmp_path: Path) -> str:
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender-user")}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT_S, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_zip_layout(addon_zip):
    with zipfile.ZipFile(addon_zip) as zf:
        names = zf.namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "README.md" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    source = {p.relative_to(REPO / "blender_addon").as_posix() for p in (REPO / "blender_addon").rglob("*.py")
              if "__pycache__" not in p.parts}
    assert source <= set(names)
    # reproducible: building again gives the same bytes
    again = addon_zip.with_name("again.zip")
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_addon.py"), "--out", str(again)], check=True,
                   capture_output=True, timeout=60)
    assert again.read_bytes() == addon_zip.read_bytes()


def test_blenders_own_validator_accepts_the_zip(addon_zip):
    """Blender's extension tool (`blender --command extension validate`, shipped in the bpy wheel)."""
    import bpy

    tool = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    assert tool.is_file(), f"Blender's extension tool is not where bpy {bpy.app.version_string} keeps it: {tool}"
    proc = subprocess.run([sys.executable, str(tool), "validate", str(addon_zip)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "Success" in proc.stdout, proc.stdout + proc.stderr


def test_zip_installs_as_extension_and_runs(addon_zip, tmp_path):
    out = _run(f"""
        import bpy, addon_utils
        repo = bpy.context.preferences.extensions.repos.new(
            name="dnerf test", module="dnerf_test", custom_directory={str(tmp_path / 'repo')!r}, source="USER")
        result = bpy.ops.extensions.package_install_files(
            filepath={str(addon_zip)!r}, repo="dnerf_test", enable_on_install=True)
        assert result == {{"FINISHED"}}, result
        module = "bl_ext.dnerf_test.dnerf"
        assert addon_utils.check(module) == (True, True), addon_utils.check(module)
        assert module in bpy.context.preferences.addons.keys()
        import sys
        assert sys.modules[module].__file__.startswith({str(tmp_path / 'repo')!r})
        assert bpy.types.DNERF_PT_generate.bl_category == "DatasetNeRF"
        # the installed copy does real work (no factory reset here: it would disable the extension)
        bpy.context.scene.dnerf.rig_views = 3
        assert bpy.ops.dnerf.camera_rig() == {{"FINISHED"}}
        rig = bpy.context.scene.dnerf.rig
        print("CAMERAS", len(rig.children))
        # the add-on preference exists under the extension's module name
        print("PREFS", type(bpy.context.preferences.addons[module].preferences).__name__)
    """, tmp_path)
    assert "CAMERAS 3" in out
    assert "PREFS DNERF_AddonPreferences" in out


def test_preference_folder_makes_dnerf_core_importable(tmp_path):
    """The documented fallback: Blender's Python lacks dnerf; the preference names a site-packages
    folder that has it (here a folder holding a link to this checkout's dnerf_core)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "dnerf_core").symlink_to(REPO / "dnerf_core", target_is_directory=True)
    addons = tmp_path / "addons"  # the add-on alone, without the checkout's dnerf_core beside it
    addons.mkdir()
    (addons / "blender_addon").symlink_to(REPO / "blender_addon", target_is_directory=True)
    out = _run(f"""
        import importlib.util, sys
        # make this interpreter one where dnerf is not installed: drop the editable-install hook
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        sys.path[:] = [p for p in sys.path if p not in ("", {str(REPO)!r})]
        assert importlib.util.find_spec("dnerf_core") is None, "precondition: dnerf_core must not be importable"
        import bpy, addon_utils
        sys.path.append({str(addons)!r})
        sys.modules.pop("dnerf_core", None)
        addon_utils.enable("blender_addon", default_set=True)
        try:
            bpy.ops.dnerf.camera_rig()
        except RuntimeError as exc:
            print("BEFORE", exc)
        prefs = bpy.context.preferences.addons["blender_addon"].preferences
        prefs.site_packages = {str(site)!r}
        assert bpy.ops.dnerf.camera_rig() == {{"FINISHED"}}
        import dnerf_core
        print("FROM", dnerf_core.__file__)
    """, tmp_path)
    assert "BEFORE Error: cannot import dnerf_core" in out
    assert f"FROM {site / 'dnerf_core' / '__init__.py'}" in out


def test_device_preference(tmp_path):
    """The add-on preference picks the compute device: Auto by default; CUDA on a machine without
    it is one clear error and nothing is made; CPU works."""
    out = _run(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import bpy, addon_utils, torch
        addon_utils.enable("blender_addon", default_set=True)
        prefs = bpy.context.preferences.addons["blender_addon"].preferences
        print("DEFAULT", prefs.device)
        s = bpy.context.scene.dnerf
        s.generator_kind, s.category, s.mesh_resolution = "procedural", "car", 32
        before = len(bpy.context.scene.objects)
        if not torch.cuda.is_available():
            prefs.device = "cuda"
            try:
                bpy.ops.dnerf.generate_subject()
            except RuntimeError as exc:
                print("CUDA", str(exc).strip().replace(chr(10), " | "))
            print("NEW OBJECTS", len(bpy.context.scene.objects) - before)
        prefs.device = "cpu"
        print("CPU", bpy.ops.dnerf.generate_subject(), len(bpy.context.scene.objects) > before)
    """, tmp_path)
    assert "DEFAULT auto" in out
    assert "CPU {'FINISHED'} True" in out
    import torch

    if not torch.cuda.is_available():
        line = next(x for x in out.splitlines() if x.startswith("CUDA "))
        assert line.startswith("CUDA Error: ") and "CUDA" in line[len("CUDA Error: "):] and " | " not in line
        assert "NEW OBJECTS 0" in out
