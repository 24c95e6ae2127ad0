"""Procedural heads: face-parsing style labels skin/hair/eye/brow/nose/mouth/ear/neck.

Facing +z, y up, head centred near the origin; the visible part fits |x|, |y| < 0.3 around the
camera pivot (0, 0, 0.2); the neck continues below the frame.
"""
from __future__ import annotations

import math
from functools import partial

from . import sdf
from .latent import lerp, oracle_latent, squash
from .world import Part, World

LABELS = ("skin", "hair", "eye", "brow", "nose", "mouth", "ear", "neck")
LABEL_COLORS = ((0, 0, 0), (255, 204, 153), (102, 51, 0), (0, 102, 255), (153, 0, 153), (255, 128, 0),
                (204, 0, 51), (0, 204, 102), (153, 153, 204))
SKIN, HAIR, EYE, BROW, NOSE, MOUTH, EAR, NECK = range(1, 9)


def _surface_z(x: float, y: float, center, radii) -> float:
    """z of the head ellipsoid's front surface above (x, y)."""
    rx, ry, rz = radii
    s = 1 - ((x - center[0]) / rx) ** 2 - ((y - center[1]) / ry) ** 2
    return center[2] + rz * math.sqrt(max(s, 0.0))


def _hair(p, center, radii, front_y, back_y):
    """Hair: a shell a little larger than the head, cut below a hairline that runs from front_y at
    the face down to back_y at the back of the head."""
    shell = sdf.ellipsoid(p, center, radii)
    t = ((p[:, 2] - center[2]) / radii[2]).clamp(-1, 1) * 0.5 + 0.5  # 0 at the back, 1 at the front
    hairline = back_y + (front_y - back_y) * t
    return sdf.intersect(shell, hairline - p[:, 1])


def make_face(seed: int, truncation: float = 1.0) -> World:
    u = [float(x) for x in oracle_latent(seed, truncation)]
    head_c = (0.0, 0.02, 0.0)
    head_r = (squash(u[0], 0.135, 0.165), squash(u[1], 0.175, 0.205), squash(u[2], 0.16, 0.18))
    skin = lerp((0.96, 0.8, 0.68), (0.42, 0.27, 0.18), squash(u[3], 0.0, 1.0))
    hair_color = lerp(lerp((0.06, 0.05, 0.05), (0.45, 0.27, 0.12), squash(u[4], 0, 1)), (0.9, 0.78, 0.45),
                      squash(u[5], 0, 0.8))
    hair_thick = squash(u[6], 0.012, 0.035)
    hair_r = tuple(r + hair_thick for r in head_r)
    front_y = head_c[1] + head_r[1] * squash(u[7], 0.35, 0.6)
    back_y = head_c[1] - head_r[1] * squash(u[8], 0.0, 1.3)
    eye_x = squash(u[9], 0.045, 0.065)
    eye_y = head_c[1] + squash(u[10], 0.0, 0.03)
    eye_r = squash(u[11], 0.016, 0.024)
    eye_color = lerp((0.25, 0.15, 0.08), (0.2, 0.45, 0.75), squash(u[12], 0, 1))
    brow_tilt = squash(u[13], -0.012, 0.012)
    brow_r = squash(u[14], 0.006, 0.011)
    nose_len = squash(u[15], 0.05, 0.085)
    nose_out = squash(u[16], 0.03, 0.055)
    nose_r = squash(u[17], 0.014, 0.022)
    mouth_w = squash(u[18], 0.028, 0.048)
    mouth_color = lerp((0.75, 0.32, 0.32), (0.55, 0.18, 0.2), squash(u[19], 0, 1))
    ear_h = squash(u[20], 0.035, 0.055)
    neck_r = squash(u[21], 0.055, 0.08)

    parts = [
        Part(SKIN, partial(sdf.ellipsoid, center=head_c, radii=head_r), skin),
        Part(HAIR, partial(_hair, center=head_c, radii=hair_r, front_y=front_y, back_y=back_y), hair_color),
        Part(NECK, partial(sdf.capsule, a=(0.0, -0.1, -0.03), b=(0.0, -0.45, -0.04), radius=neck_r),
             tuple(0.92 * c for c in skin)),
    ]
    for sx in (-1.0, 1.0):
        ex = sx * eye_x
        ez = _surface_z(ex, eye_y, head_c, head_r) - eye_r * 0.45
        parts.append(Part(EYE, partial(sdf.sphere, center=(ex, eye_y, ez), radius=eye_r), eye_color))
        by = eye_y + eye_r + 0.022
        bz_in = _surface_z(sx * (eye_x - 0.028), by, head_c, head_r)
        bz_out = _surface_z(sx * (eye_x + 0.028), by + brow_tilt, head_c, head_r)
        parts.append(Part(BROW, partial(sdf.capsule, a=(sx * (eye_x - 0.028), by, bz_in),
                                        b=(sx * (eye_x + 0.028), by + brow_tilt, bz_out), radius=brow_r),
                          tuple(0.8 * c for c in hair_color)))
        parts.append(Part(EAR, partial(sdf.ellipsoid, center=(sx * head_r[0] * 0.97, head_c[1] - 0.005, -0.01),
                                       radii=(0.022, ear_h, 0.03)), tuple(0.95 * c for c in skin)))
    nose_top_y = eye_y - 0.005
    nose_tip_y = nose_top_y - nose_len
    parts.append(Part(NOSE, partial(sdf.capsule, a=(0.0, nose_top_y, _surface_z(0, nose_top_y, head_c, head_r) - 0.01),
                                    b=(0.0, nose_tip_y, _surface_z(0, nose_tip_y, head_c, head_r) + nose_out - nose_r),
                                    radius=nose_r), tuple(0.97 * c for c in skin)))
    mouth_y = nose_tip_y - 0.035
    mz = _surface_z(0, mouth_y, head_c, head_r)
    parts.append(Part(MOUTH, partial(sdf.capsule, a=(-mouth_w, mouth_y, mz - 0.012), b=(mouth_w, mouth_y, mz - 0.012),
                                     radius=0.013), mouth_color))
    return World(tuple(parts))

