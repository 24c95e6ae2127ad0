"""Procedural cars: ShapeNet-part style labels body/hood/roof/window/wheel/light.

Front towards +z, y up, wheels resting at y = GROUND_Y; everything inside |coord| < 0.75.
"""
from __future__ import annotations

from functools import partial

from . import sdf
from .latent import hue_color, lerp, oracle_latent, squash
from .world import Part, World

LABELS = ("body", "hood", "roof", "window", "wheel", "light")
LABEL_COLORS = ((0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (70, 70, 70),
                (245, 130, 48))
BODY, HOOD, ROOF, WINDOW, WHEEL, LIGHT = range(1, 7)
GROUND_Y = -0.32


def make_car(seed: int, truncation: float = 1.0) -> World:
    u = [float(x) for x in oracle_latent(seed, truncation)]
    length = squash(u[0], 1.05, 1.38)
    width = squash(u[1], 0.50, 0.64)
    body_h = squash(u[2], 0.16, 0.26)
    wheel_r = squash(u[3], 0.095, 0.14)
    hood_frac = squash(u[4], 0.22, 0.34)
    cabin_shift = squash(u[5], -0.12, 0.08)
    cabin_h = squash(u[6], 0.13, 0.22)
    cabin_frac = squash(u[7], 0.38, 0.55)
    wheelbase_frac = squash(u[8], 0.56, 0.68)

    body_bottom = GROUND_Y + wheel_r * 0.85
    body_cy = body_bottom + body_h / 2
    body_top = body_bottom + body_h
    half_l, half_w = length / 2, width / 2
    body_color = hue_color(u[9], u[10], squash(u[11], 0.35, 0.85), squash(u[12], 0.45, 0.85))
    hood_color = tuple(0.85 * c for c in body_color)
    roof_color = lerp(body_color, (0.08, 0.08, 0.09), squash(u[13], 0.0, 1.0))
    window_color = lerp((0.25, 0.35, 0.45), (0.08, 0.1, 0.14), squash(u[14], 0.0, 1.0))
    wheel_color = (0.07, 0.07, 0.08)
    light_color = lerp((1.0, 0.95, 0.75), (1.0, 0.7, 0.25), squash(u[15], 0.0, 1.0))

    hood_len = hood_frac * length
    cabin_len = cabin_frac * length
    cabin_cz = cabin_shift * length / 2
    wheel_z = wheelbase_frac * half_l
    wheel_x = half_w - 0.035
    light_y = body_cy + body_h * 0.15

    parts = [
        Part(BODY, partial(sdf.round_box, center=(0.0, body_cy, 0.0), half=(half_w, body_h / 2, half_l),
                           rounding=min(0.06, body_h / 2 - 1e-3)), body_color),
        Part(HOOD, partial(sdf.round_box, center=(0.0, body_top + 0.006, half_l - hood_len / 2 - 0.02),
                           half=(half_w - 0.04, 0.02, hood_len / 2), rounding=0.015), hood_color),
        Part(WINDOW, partial(sdf.round_box, center=(0.0, body_top + cabin_h / 2, cabin_cz),
                             half=(half_w - 0.06, cabin_h / 2, cabin_len / 2), rounding=0.04), window_color),
        Part(ROOF, partial(sdf.round_box, center=(0.0, body_top + cabin_h + 0.004, cabin_cz),
                           half=(half_w - 0.075, 0.018, cabin_len / 2 - 0.04), rounding=0.012), roof_color),
    ]
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            parts.append(Part(WHEEL, partial(sdf.cylinder_x, center=(sx * wheel_x, GROUND_Y + wheel_r, sz * wheel_z),
                                             radius=wheel_r, half_length=0.05), wheel_color))
        for sz, color in ((1.0, light_color), (-1.0, (0.85, 0.1, 0.08))):
            parts.append(Part(LIGHT, partial(sdf.round_box, center=(sx * (half_w - 0.1), light_y, sz * (half_l - 0.005)),
                                             half=(0.06, 0.028, 0.02), rounding=0.01), color))
    return World(tuple(parts))
