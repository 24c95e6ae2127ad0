"""Add-on preferences: where to find dnerf_core (see dnerf_env.py)."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from . import dnerf_env

ADDON_ID = __package__  # "blender_addon", or "bl_ext.<repo>.dnerf" when installed as an extension


def _site_packages_changed(self, context) -> None:
    try:
        dnerf_env.add_site_packages(bpy.path.abspath(self.site_packages))
    except dnerf_env.DnerfUnavailable:
        return  # the panel shows the problem; a preference callback cannot report
    if dnerf_env.available():  # the dnerf settings can now take dnerf_core's defaults and ranges
        from . import register_settings

        register_settings()


class DNERF_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    site_packages: StringProperty(
        name="dnerf site-packages",
        description=("site-packages folder of a Python 3.11 environment with dnerf installed (used only when "
                     "Blender's own Python cannot import dnerf_core)"),
        subtype="DIR_PATH", default="", update=_site_packages_changed)

    device: EnumProperty(
        name="Compute device",
        description="where dnerf computes: Auto = a CUDA GPU when torch sees one, else the CPU",
        items=[("auto", "Auto", "a CUDA GPU when available, else the CPU"),
               ("cpu", "CPU", "always the CPU"),
               ("cuda", "CUDA", "the first CUDA GPU (an error when torch sees none)")],
        default="auto")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "site_packages")
        layout.prop(self, "device")
        if dnerf_env.available():
            import dnerf_core

            layout.label(text=f"dnerf_core found: {dnerf_core.__file__}", icon="CHECKMARK")
        else:
            layout.label(text="dnerf_core not found: pip install dnerf into Blender's Python, or set the folder above",
                         icon="ERROR")


def site_packages(context=None) -> str:
    """The preference value ('' when unset or when the add-on was registered without add-on utils)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    if addon is None or addon.preferences is None:
        return ""
    return bpy.path.abspath(addon.preferences.site_packages) if addon.preferences.site_packages else ""


def device(context=None) -> str:
    """The device preference: "auto" (also when the add-on was registered without add-on utils),
    "cpu" or "cuda"."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    if addon is None or addon.preferences is None:
        return "auto"
    return addon.preferences.device


def ensure_dnerf(context=None):
    """Import dnerf_core, using the preference folder if needed (raises DnerfUnavailable)."""
    return dnerf_env.import_dnerf(site_packages(context))
