"""The add-on registers its sidebar panels and operators, and keeps the import boundaries."""
from __future__ import annotations

import subprocess
import sys

import bpy
import pytest

from conftest import REPO

pytestmark = pytest.mark.e2e

OPERATORS = ("generate_subject", "camera_rig", "render_multiview", "select_part", "hide_part", "show_all_parts")
PANELS = {"DNERF_PT_generate": "Generate labeled subject", "DNERF_PT_legend": "Parts",
          "DNERF_PT_rig": "Camera rig", "DNERF_PT_render": "Render multi-view masks"}


def test_panels_and_operators_exist(scene):
    for name in OPERATORS:
        assert hasattr(bpy.ops.dnerf, name), name
        # poll() runs the real operator lookup: a missing operator raises here
        assert bpy.ops.dnerf.__getattr__(name).idname() == f"DNERF_OT_{name}"
    for idname, label in PANELS.items():
        panel = getattr(bpy.types, idname)
        assert panel.bl_label == label
        assert panel.bl_space_type == "VIEW_3D" and panel.bl_region_type == "UI"
        assert panel.bl_category == "DatasetNeRF"
    assert scene.dnerf.generator_kind == "procedural"


def test_dnerf_settings_come_from_dnerf_core_options(scene):
    """Default, range and description of the panel's dnerf options are dnerf_core's fields."""
    import dnerf_core as dn
    from dnerf_core.options import option_fields

    export = {f.name: f for f in option_fields(dn.ExportOptions)}
    edit = {f.name: f for f in option_fields(dn.EditOptions)}
    s = scene.dnerf
    assert (s.seed, s.mesh_resolution, s.cloud_views) == (export["seed"].default, export["mesh_resolution"].default,
                                                         export["views"].default)
    assert s.truncation == export["truncation"].default and s.cloud_resolution == 0  # 0 = the generator's
    assert (s.edit_steps, s.edit_keep_weight, s.edit_label_keep_weight) == (
        edit["steps"].default, edit["keep_weight"].default, edit["label_keep_weight"].default)
    rna = s.bl_rna.properties["mesh_resolution"]
    assert (rna.hard_min, rna.hard_max) == (export["mesh_resolution"].option.min, export["mesh_resolution"].option.max)
    assert rna.description == export["mesh_resolution"].option.help
    # a choice option becomes an enum of its choices, with its default
    assert s.render_path == export["render"].default
    items = s.bl_rna.properties["render_path"].enum_items
    assert tuple(i.identifier for i in items) == export["render"].option.choices


@pytest.mark.slow
def test_unregister_then_register_again(addon):
    addon.unregister()
    try:
        assert not hasattr(bpy.types, "DNERF_PT_generate")
        assert not hasattr(bpy.types.Scene, "dnerf")
    finally:
        addon.register()
    assert hasattr(bpy.types, "DNERF_PT_generate")


def _modules_loaded_after(code: str) -> set[str]:
    script = f"import sys\nsys.path.insert(0, {str(REPO)!r})\n{code}\nprint(' '.join(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


@pytest.mark.slow
def test_dnerf_core_never_imports_bpy():
    # Every module that imports here (one that fails for reasons of its own, e.g. an optional
    # cluster extra, is not this test's business); none of them may pull in bpy.
    loaded = _modules_loaded_after(
        "import pkgutil, importlib, dnerf_core\n"
        "for m in pkgutil.walk_packages(dnerf_core.__path__, 'dnerf_core.'):\n"
        "    try:\n"
        "        importlib.import_module(m.name)\n"
        "    except Exception:\n"
        "        pass")
    assert "bpy" not in loaded
    assert "dnerf_core.factory.mesh" in loaded  # the walk did import the library


@pytest.mark.slow
def test_addon_registers_without_dnerf_core_and_says_what_is_missing():
    """With dnerf_core unimportable the add-on still registers; an operator reports how to fix it."""
    code = ("import sys; sys.modules['dnerf_core'] = None\n"  # None in sys.modules: import fails
            f"sys.path.insert(0, {str(REPO)!r})\n"
            "import bpy, blender_addon\n"
            "blender_addon.register()\n"
            "assert hasattr(bpy.types, 'DNERF_PT_generate')\n"
            "try:\n"
            "    bpy.ops.dnerf.camera_rig()\n"
            "except RuntimeError as exc:\n"
            "    print('REPORT', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = out.stdout.split("REPORT", 1)[1].strip()
    assert report.startswith("Error: cannot import dnerf_core")
    assert "dnerf site-packages" in report and "Traceback" not in out.stdout + out.stderr
