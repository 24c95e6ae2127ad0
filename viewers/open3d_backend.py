"""Open3D backend: the legacy `Visualizer` (OpenGL through GLFW, or EGL offscreen with no display).

Why the legacy visualizer: it renders offscreen through EGL with no X server and no Vulkan
(Open3D's Filament `OffscreenRenderer` needs libvulkan), and it has key callbacks. It draws no
2D text, so screenshots get the legend drawn on with Pillow (`image.draw_legend`) and the
interactive window's legend is printed on stdout by the caller.
Colors are flat: `light_on = False` shows each point's (or face's) color as is.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import numpy as np

from dnerf_core.errors import DnerfError, require

from .image import draw_legend
from .scene import SHOW_ALL_KEY, TOGGLE_KEYS, PartLayer, ViewScene, toggle

# libwayland prints this on stderr when GLFW probes for Wayland on a machine without a display,
# before Open3D falls back to EGL; it is not an error of ours, so it is filtered out.
KNOWN_NOISE = (b"XDG_RUNTIME_DIR is invalid or not set",)
ZOOM = 0.7  # Open3D's zoom: the fraction of the fitted view the scene fills (1 = fit tightly)


def _o3d():
    o3d = require("open3d", "viewers")
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)  # no INFO chatter on stdout
    return o3d


@contextlib.contextmanager
def _filtered_stderr():
    """Capture what C libraries write to fd 2 meanwhile; pass on every line but KNOWN_NOISE."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().splitlines(keepends=True):
                if not any(noise in line for noise in KNOWN_NOISE):
                    os.write(2, line)


def _geometry(o3d, layer: PartLayer):
    if layer.faces is None:
        geom = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(layer.points.astype(np.float64)))
        geom.colors = o3d.utility.Vector3dVector(layer.colors.astype(np.float64) / 255.0)
        return geom
    geom = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(layer.points.astype(np.float64)),
                                     o3d.utility.Vector3iVector(layer.faces.astype(np.int32)))
    geom.vertex_colors = o3d.utility.Vector3dVector(layer.colors.astype(np.float64) / 255.0)
    return geom


class Open3DView:
    """One visualizer over a ViewScene; `visible=False` renders offscreen (EGL without a display)."""

    def __init__(self, scene: ViewScene, size: tuple[int, int], point_size: float = 3.0, visible: bool = False):
        o3d = _o3d()
        self.scene = scene
        self.vis = o3d.visualization.VisualizerWithKeyCallback()
        with _filtered_stderr():
            created = self.vis.create_window(window_name=scene.title, width=size[0], height=size[1], visible=visible)
        if not created:
            raise DnerfError("open3d could not create an OpenGL window or offscreen context")
        self.geoms = {layer.label_id: _geometry(o3d, layer) for layer in scene.layers}
        for layer in scene.layers:
            if layer.visible:
                self.vis.add_geometry(self.geoms[layer.label_id], reset_bounding_box=True)
        opt = self.vis.get_render_option()
        opt.light_on = False  # flat label colors, identical from every side
        opt.point_size = float(point_size)
        opt.background_color = np.asarray(scene.canvas, np.float64) / 255.0
        opt.mesh_show_back_face = True  # open meshes (a part cut out of a whole) stay solid
        self._set_camera()
        # Every digit gets our callback, bound to a part or not: a registered key replaces Open3D's
        # own binding, and Open3D uses 0..4 and 9 to recolor points by coordinates.
        for key in TOGGLE_KEYS + SHOW_ALL_KEY:
            self.vis.register_key_callback(ord(key), lambda vis, k=key: self.press(k))

    def _set_camera(self) -> None:
        ctr = self.vis.get_view_control()
        ctr.set_lookat(self.scene.center)
        ctr.set_front(np.asarray(self.scene.view_direction, np.float64))  # from the look-at point to the eye
        ctr.set_up(np.asarray(self.scene.view_up, np.float64))
        ctr.set_zoom(ZOOM)

    def press(self, key: str) -> bool:
        """A key press: toggle a part (number keys) or show all (0). True asks Open3D to redraw."""
        before = {layer.label_id: layer.visible for layer in self.scene.layers}
        toggle(self.scene, key)
        for layer in self.scene.layers:
            if layer.visible != before[layer.label_id]:
                geom = self.geoms[layer.label_id]
                # reset_bounding_box=False keeps the camera where the user left it.
                if layer.visible:
                    self.vis.add_geometry(geom, reset_bounding_box=False)
                else:
                    self.vis.remove_geometry(geom, reset_bounding_box=False)
        return True

    def render(self, legend: bool = True) -> np.ndarray:
        """The current frame as [H,W,3] uint8, with the legend drawn on when asked."""
        self.vis.poll_events()
        self.vis.update_renderer()
        frame = np.asarray(self.vis.capture_screen_float_buffer(do_render=True))  # [H,W,3] float 0..1
        image = np.clip(np.round(frame * 255.0), 0, 255).astype(np.uint8)
        return draw_legend(image, self.scene.legend_rows, self.scene.canvas) if legend else image

    def run(self) -> None:
        self.vis.run()

    def close(self) -> None:
        self.vis.destroy_window()


def screenshot(scene: ViewScene, size: tuple[int, int], point_size: float, legend: bool = True) -> np.ndarray:
    view = Open3DView(scene, size, point_size, visible=False)
    try:
        return view.render(legend)
    finally:
        view.close()


def show(scene: ViewScene, size: tuple[int, int], point_size: float) -> None:
    view = Open3DView(scene, size, point_size, visible=True)
    try:
        view.run()
    finally:
        view.close()
