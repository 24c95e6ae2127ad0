"""PyVista (VTK) backend: one actor per part, VTK's own legend, number-key events.

Offscreen: with no display, VTK's default X window cannot open; VTK renders through EGL instead
when VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow is set before VTK is first imported, so this
module sets it (unless the user chose a window class) before importing pyvista.
Colors are flat: `lighting=False` shows each point's (or face's) color as is.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from dnerf_core.errors import require

from .scene import SHOW_ALL_KEY, TOGGLE_KEYS, PartLayer, ViewScene, toggle

EGL_WINDOW = "vtkEGLRenderWindow"
LEGEND_ROW_HEIGHT = 0.045  # fraction of the window height per legend row
LEGEND_WIDTH = 0.32
KEY_PRIORITY = 10.0  # above the interactor style's observers (priority 0)
ZOOM = 1.1  # after reset_camera (which fits the bounds with a margin), come a little closer


def _has_display() -> bool:
    return sys.platform != "linux" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _pv(off_screen: bool):
    if off_screen and not _has_display() and "vtkmodules" not in sys.modules:
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", EGL_WINDOW)
    return require("pyvista", "viewers")


def _polydata(pv, layer: PartLayer):
    if layer.faces is None:
        poly = pv.PolyData(layer.points.astype(np.float32))
    else:
        # VTK's face array: each triangle as [3, i, j, k].
        cells = np.hstack([np.full((len(layer.faces), 1), 3, np.int64), layer.faces]).ravel()
        poly = pv.PolyData(layer.points.astype(np.float32), faces=cells)
    poly.point_data["rgb"] = layer.colors
    return poly


class PyVistaView:
    """One plotter over a ViewScene; `off_screen=True` renders without a window."""

    def __init__(self, scene: ViewScene, size: tuple[int, int], point_size: float = 3.0, off_screen: bool = True,
                 legend: bool = True):
        pv = _pv(off_screen)
        self.scene = scene
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(size), title=scene.title)
        self.plotter.set_background([c / 255.0 for c in scene.canvas])
        self.actors = {}
        for layer in scene.layers:
            actor = self.plotter.add_mesh(_polydata(pv, layer), scalars="rgb", rgb=True, lighting=False,
                                          point_size=point_size, render_points_as_spheres=False,
                                          show_scalar_bar=False, name=f"part-{layer.label_id}")
            actor.SetVisibility(layer.visible)
            self.actors[layer.label_id] = actor
        if legend:
            self.plotter.add_legend([[text, [c / 255.0 for c in color]] for text, color in scene.legend_rows],
                                    bcolor=[c / 255.0 for c in scene.canvas], face="rectangle", loc="upper left",
                                    size=(LEGEND_WIDTH, LEGEND_ROW_HEIGHT * len(scene.legend_rows)))
        self.plotter.camera_position = [tuple(scene.camera_position()), tuple(scene.center), scene.view_up]
        self.plotter.reset_camera()  # keeps the direction, fits the distance to the bounds
        self.plotter.camera.zoom(ZOOM)
        if not off_screen:
            self._bind_keys()

    def _bind_keys(self) -> None:
        """Number keys toggle parts. VTK's interactor style binds some of them itself ('3' turns
        on stereo rendering, which blanks the view), so our observer runs first and stops the
        event there instead of using pyvista's add_key_event (which would run beside VTK's)."""
        keys = set(TOGGLE_KEYS + SHOW_ALL_KEY)  # all digits, bound to a part or not: none reaches VTK
        interactor = self.plotter.iren.interactor

        def on_char(obj, _event) -> None:
            key = obj.GetKeyCode()
            if key in keys:
                self.press(key)
                interactor.GetCommand(tag).SetAbortFlag(1)  # VTK's own handler never sees the key

        tag = interactor.AddObserver("CharEvent", on_char, KEY_PRIORITY)

    def press(self, key: str) -> None:
        """A key press: toggle a part (number keys) or show all (0)."""
        toggle(self.scene, key)
        for layer in self.scene.layers:
            self.actors[layer.label_id].SetVisibility(layer.visible)
        self.plotter.render()

    def render(self) -> np.ndarray:
        """The current frame as [H,W,3] uint8."""
        return np.asarray(self.plotter.screenshot(None, return_img=True))[..., :3].astype(np.uint8)

    def run(self) -> None:
        self.plotter.show()

    def close(self) -> None:
        self.plotter.close()


def screenshot(scene: ViewScene, size: tuple[int, int], point_size: float, legend: bool = True) -> np.ndarray:
    view = PyVistaView(scene, size, point_size, off_screen=True, legend=legend)
    try:
        return view.render()
    finally:
        view.close()


def show(scene: ViewScene, size: tuple[int, int], point_size: float) -> None:
    view = PyVistaView(scene, size, point_size, off_screen=False)
    view.run()  # show() closes the plotter when the window closes
