"""dnerf for Blender: generate part-labeled subjects, camera rigs and multi-view masks with dnerf.

Works as a Blender 4.2+ extension (blender_manifest.toml) and as a plain package: from Python
with the bpy module, `import blender_addon; blender_addon.register()` registers the same panels
and operators (that is how the tests use it). Nothing here imports dnerf_core at import time
(see dnerf_env.py): the add-on registers even where dnerf cannot be found and says so in its panel.
Registering reads the defaults and ranges of the dnerf options in the panel from dnerf_core when it
can be imported (properties.py); they are derived again once the preferences make it importable.
"""
from __future__ import annotations

import bpy

from . import operators, panels, preferences, properties

CLASSES = (preferences.DNERF_AddonPreferences, *operators.CLASSES, *panels.CLASSES)
_settings = {"class": None}  # the registered scene settings class (built from dnerf_core's options)


def register_settings() -> None:
    """(Re-)register scene.dnerf with the dnerf options dnerf_core defines (placeholders without it)."""
    if _settings["class"] is not None:
        del bpy.types.Scene.dnerf
        bpy.utils.unregister_class(_settings["class"])
    _settings["class"] = properties.settings_class()
    bpy.utils.register_class(_settings["class"])
    bpy.types.Scene.dnerf = bpy.props.PointerProperty(type=_settings["class"])


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    # When enabled with a preference set, make dnerf_core importable right away.
    try:
        preferences.ensure_dnerf()
    except Exception:  # noqa: BLE001 - not found yet: the panel and preferences say so
        pass
    register_settings()


def unregister() -> None:
    runner = operators.ACTIVE["runner"]
    if runner is not None:
        runner.cancel()
    del bpy.types.Scene.dnerf
    bpy.utils.unregister_class(_settings["class"])
    _settings["class"] = None
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
