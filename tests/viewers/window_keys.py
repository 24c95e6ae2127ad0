"""Run under a (virtual) X display by test_view_render: open a real window with each backend,
press number keys, print the visible pixels of every label color after each press as JSON.

PyVista gets the key through VTK's own event path (KeyPressEvent + CharEvent, what a real key
press produces). Open3D's GLFW events cannot be injected, so it gets the callback it registered.
"""
import json
import sys

import numpy as np

from viewers.geometry import load_geometry
from viewers.scene import build_scene

TOLERANCE = 6


def visible(image, legend):
    out = {}
    for e in legend.entries:
        out[e.name] = int((np.abs(image.astype(np.int32) - np.array(e.color)).max(axis=-1) <= TOLERANCE).sum())
    return out


def main(export, backend, keys):
    geom = load_geometry(export)
    scene = build_scene(geom)
    if backend == "open3d":
        from viewers.open3d_backend import Open3DView

        view = Open3DView(scene, (320, 240), visible=True)
        render = lambda: view.render(legend=False)  # noqa: E731
        press = view.press
    else:
        from viewers.pyvista_backend import PyVistaView

        view = PyVistaView(scene, (320, 240), off_screen=False, legend=False)
        view.plotter.show(interactive=False, auto_close=False)
        interactor = view.plotter.iren.interactor

        def press(key):
            interactor.SetKeySym(key)
            interactor.SetKeyCode(key)
            interactor.InvokeEvent("KeyPressEvent")
            interactor.InvokeEvent("CharEvent")

        render = view.render
    steps = [{"key": None, "pixels": visible(render(), geom.legend)}]
    for key in keys:
        press(key)
        steps.append({"key": key, "pixels": visible(render(), geom.legend)})
    view.close()
    print(json.dumps(steps))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
