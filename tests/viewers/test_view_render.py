"""Both backends render offscreen (EGL, no display): real pixels of real screenshots."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewers.diff import label_diff
from viewers.geometry import load_geometry
from viewers.scene import build_scene

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BACKENDS = ["open3d", "pyvista"]
MIN_PIXELS = 5  # a part counts as visible with at least this many pixels of its exact color


def _view(backend: str, scene, size, legend: bool = True):
    if backend == "open3d":
        from viewers.open3d_backend import Open3DView

        return Open3DView(scene, size, point_size=3.0, visible=False), {"legend": legend}
    from viewers.pyvista_backend import PyVistaView

    return PyVistaView(scene, size, point_size=3.0, off_screen=True, legend=legend), {}


def _shot(backend: str, scene, size=(320, 240)) -> np.ndarray:
    import importlib

    module = importlib.import_module(f"viewers.{backend}_backend")
    return module.screenshot(scene, size, 3.0, legend=False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("what", ["cloud.ply", "mesh.glb"])
def test_screenshot_shows_every_label_color(backend, what, car_export, color_pixels):
    geom = load_geometry(car_export / what)
    scene = build_scene(geom)
    image = _shot(backend, scene)
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    seen = {e.name: color_pixels(image, e.color) for e in geom.legend.entries}
    assert all(n >= MIN_PIXELS for n in seen.values()), seen
    assert color_pixels(image, scene.canvas) > image.shape[0] * image.shape[1] // 4  # the canvas around it


@pytest.mark.parametrize("backend", BACKENDS)
def test_diff_screenshot_shows_the_highlight(backend, car_export, tmp_path, color_pixels, flipped_prediction):
    pred_path, _ = flipped_prediction(car_export, tmp_path)
    geom = load_geometry(pred_path)
    plain = _shot(backend, build_scene(geom))
    scene = build_scene(geom, label_diff(geom, load_geometry(car_export / "cloud.ply")))
    marked = _shot(backend, scene)
    assert color_pixels(plain, scene.highlight) == 0  # the highlight color is not there by chance
    assert color_pixels(marked, scene.highlight) >= 20


@pytest.mark.parametrize("backend", BACKENDS)
def test_part_keys_toggle_and_legend_draws(backend, car_export, color_pixels):
    """Number keys hide and show a part (what the window's key callbacks call); with every part
    hidden the legend alone still shows every label color."""
    geom = load_geometry(car_export / "cloud.ply")
    light = geom.legend.entries[-1]
    scene = build_scene(geom)
    view, kw = _view(backend, scene, (400, 300), legend=False)
    try:
        assert color_pixels(view.render(**kw), light.color) >= MIN_PIXELS
        view.press(scene.layers[-1].key)  # "6": light
        hidden = view.render(**kw)
        assert color_pixels(hidden, light.color) == 0
        assert color_pixels(hidden, geom.legend.entries[0].color) >= MIN_PIXELS  # body still drawn
        view.press("0")
        assert color_pixels(view.render(**kw), light.color) >= MIN_PIXELS
    finally:
        view.close()

    scene = build_scene(geom)
    for layer in scene.layers:
        layer.visible = False
    for legend in (False, True):
        view, kw = _view(backend, scene, (400, 300), legend=legend)
        try:
            image = view.render(**kw)
        finally:
            view.close()
        counts = [color_pixels(image, e.color) for e in geom.legend.entries]
        if legend:
            assert min(counts) >= MIN_PIXELS, counts
        else:
            assert max(counts) == 0, counts


@pytest.mark.parametrize("backend", BACKENDS)
def test_window_number_keys_toggle_parts(backend, car_export):
    """In a real window (a virtual X server): key 3 hides the roof, an unbound 8 changes nothing
    (and does not reach the library's own key bindings: VTK's '3' would turn on stereo), key 6
    hides the lights, 0 shows everything again."""
    xvfb_run = shutil.which("xvfb-run")
    assert xvfb_run, "xvfb-run is missing; scripts/setup.sh --dev installs it"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "VTK_DEFAULT_OPENGL_WINDOW")}
    res = subprocess.run([xvfb_run, "-a", sys.executable, str(Path(__file__).with_name("window_keys.py")),
                          str(car_export), backend, "3860"], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    steps = json.loads(res.stdout.strip().splitlines()[-1])
    start, roof_off, eight, light_off, all_on = (s["pixels"] for s in steps)
    assert min(start.values()) >= MIN_PIXELS, start
    assert roof_off["roof"] == 0 and min(v for k, v in roof_off.items() if k != "roof") >= MIN_PIXELS
    assert eight == roof_off
    assert light_off["roof"] == 0 and light_off["light"] == 0 and light_off["body"] >= MIN_PIXELS
    assert all_on == start
