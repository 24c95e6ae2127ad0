"""procedural:figure: a posable mannequin whose part labels stay exact in every pose.

A seed fixes proportions (limb lengths and thicknesses, shoulder and hip widths, head size) and
colors; a Pose (skeleton.py) fixes the joint angles. Every part is a union of capsules (spheres
are zero-length capsules) bound rigidly to one bone, so a pose moves each part as a whole and its
signed distance stays exact: the posed SDF of a part is its rest-pose SDF at the inverse-mapped
point.

Piecewise rigid without gaps or overlaps at the joints: the parent part owns a ball at each child
joint and the child is cut by the same ball. The ball is centered on the joint, so it is the same
set in the parent's and the child's frame under any rotation: the seam never opens or overlaps.
Its radius is sqrt(r_parent^2 + r_child^2) (times JOINT_BALL_MARGIN), which keeps a child limb
that bends at most 90 degrees out of its parent's capsule (skeleton.JOINTS' hinge limits); other
contacts (an arm through the chest, crossed legs) are what the pose sampler rejects.

The canonical frame of every part is the rest pose (the zero pose): `PosedFigure.to_canonical`
maps a posed point to its owning part (the part of smallest signed distance, the same rule that
labels it) and that part's rest frame: the oracle's inverse map, which the articulated generator's
warp (generators/articulated.py) reproduces.

Poses travel on the Subject: FigureGenerator.sample(seeds, pose=...) and .repose(subject, pose);
render(..., pose=...) reposes first. Every other call (labels_at, density, trace_rays) answers for
the pose the subject carries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from ...cameras import OrbitSpec
from ...errors import DnerfError
from ...labels import LabelSet
from ...render.config import RenderingConfig
from ..base import RenderOutput, Subject
from ..spec import GeneratorSpec
from .generator import DENSITY_WIDTH, ProceduralGenerator
from .latent import hue_color, lerp, oracle_latent, squash
from .skeleton import (JOINT_INDEX, JOINTS, BoneTransforms, Pose, PoseError, forward_kinematics, resolve_pose)
from .world import Part, World

LABELS = ("head", "torso",
          "left_upper_arm", "left_lower_arm", "left_hand", "right_upper_arm", "right_lower_arm", "right_hand",
          "left_upper_leg", "left_lower_leg", "left_foot", "right_upper_leg", "right_lower_leg", "right_foot")
LABEL_COLORS = ((0, 0, 0), (230, 25, 75), (60, 180, 75),
                (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
                (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0))
# The bone (joint) each labeled part is bound to.
PART_JOINTS = {"head": "neck", "torso": "pelvis",
               "left_upper_arm": "shoulder_l", "left_lower_arm": "elbow_l", "left_hand": "wrist_l",
               "right_upper_arm": "shoulder_r", "right_lower_arm": "elbow_r", "right_hand": "wrist_r",
               "left_upper_leg": "hip_l", "left_lower_leg": "knee_l", "left_foot": "ankle_l",
               "right_upper_leg": "hip_r", "right_lower_leg": "knee_r", "right_foot": "ankle_r"}
# A joint ball is this much larger than sqrt(r_parent^2 + r_child^2) (see the module docstring).
JOINT_BALL_MARGIN = 1.04
# The rest pose is an A-pose: arms spread this far from vertical (radians), legs a little, so no part
# touches another at rest. Hinges about x still bend them forward/backward (by at most their angle).
REST_ARM_SPREAD = math.radians(9.0)
REST_LEG_SPREAD = math.radians(3.0)
FLOOR_Y = -0.92  # soles at rest

# Camera and ray settings: the whole figure (arms out, sitting) fits in |coord| < BOUNDS.
BOUNDS = 1.0
ORBIT = OrbitSpec(radius=3.2, pivot=(0.0, 0.0, 0.0), focal=1.45, yaw_range=(0.0, 2 * math.pi),
                  pitch_range=(-0.15, 0.5))
RENDERING = RenderingConfig(64, 64, 1.9, 4.5, box_warp=2.0, white_back=True, neural_resolution=64,
                            importance_bins="samples")

# Self-intersection test of a pose (FigureGenerator.random_pose): each part is represented by its
# interior points on a grid of this spacing, and a pose is refused when any of them comes closer than
# CONTACT_MARGIN to another part (near a shared joint ball, the ball's own shell is excused).
CHECK_SPACING = 0.015
CONTACT_MARGIN = 0.015
# Posed parts must keep this clearance from the bounding cube (cameras and tri-planes cover it).
BOUNDS_CLEARANCE = 0.03
RANDOM_POSE_TRIES = 500


@dataclass(frozen=True)
class Capsule:
    """Segment a-b (rest frame) thickened by radius; a == b is a ball."""

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    radius: float

    def sdf(self, p: Tensor) -> Tensor:
        a, b = p.new_tensor(self.a), p.new_tensor(self.b)
        ba = b - a
        pa = p - a
        denom = float(ba @ ba)
        if denom == 0.0:
            return pa.norm(dim=-1) - self.radius
        h = ((pa @ ba) / denom).clamp(0, 1)
        return (pa - h[:, None] * ba).norm(dim=-1) - self.radius

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.minimum(self.a, self.b) - self.radius
        hi = np.maximum(self.a, self.b) + self.radius
        return lo, hi


@dataclass(frozen=True)
class FigurePart:
    """One labeled rigid part in its rest frame: a union of capsules (including the balls it owns at
    its child joints), minus the parent's joint ball `cut` (None for the root)."""

    name: str
    label: int
    joint: int
    capsules: tuple[Capsule, ...]
    color: tuple[float, float, float]
    cut: Capsule | None = None

    def sdf(self, p: Tensor) -> Tensor:
        """[P,3] rest-frame points -> [P] signed distance (exact outside the cut's reach; the cut
        is a hard CSG difference, a bound there)."""
        d = _union(c.sdf(p) for c in self.capsules)
        if self.cut is not None:
            d = torch.maximum(d, -self.cut.sdf(p))
        return d


@dataclass(frozen=True)
class CanonicalPoints:
    """The inverse map of posed points: points [P,3] in their owning part's rest frame, part [P]
    (index into Figure.parts) and label [P] of the owner."""

    points: Tensor
    part: Tensor
    label: Tensor


@dataclass(frozen=True)
class Figure:
    """One seed's figure in the rest pose: joint rest positions [J,3] (float64) and its parts."""

    seed: int
    rest_positions: Tensor
    parts: tuple[FigurePart, ...]

    def posed(self, pose: Pose) -> "PosedFigure":
        transforms = forward_kinematics(self.rest_positions, pose)
        world_parts = tuple(Part(p.label, _posed_sdf(p, transforms), p.color) for p in self.parts)
        return PosedFigure(world_parts, self, pose, transforms, PosedCapsules.build(self.parts, transforms))

    @cached_property
    def rest(self) -> "PosedFigure":
        """The figure in the zero pose (the canonical frame)."""
        return self.posed(Pose.zero())

    @cached_property
    def check_points(self) -> tuple[Tensor, ...]:
        """Per part, its interior grid points (rest frame, float64) for the self-intersection test."""
        out = []
        for part in self.parts:
            lo = np.min([c.box()[0] for c in part.capsules], axis=0)
            hi = np.max([c.box()[1] for c in part.capsules], axis=0)
            axes = [torch.arange(lo[k] + CHECK_SPACING / 2, hi[k], CHECK_SPACING, dtype=torch.float64) for k in range(3)]
            grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
            out.append(grid[part.sdf(grid) <= 0])
        return tuple(out)

    @cached_property
    def _check_owner(self) -> Tensor:
        return torch.cat([torch.full((len(p),), k, dtype=torch.int64) for k, p in enumerate(self.check_points)])

    @cached_property
    def seams(self) -> tuple[tuple[int, int, int, float], ...]:
        """(parent part, child part, joint, ball radius) of every joint ball two parts share."""
        by_joint = {part.joint: i for i, part in enumerate(self.parts)}
        out = []
        for i, part in enumerate(self.parts):
            parent_joint = JOINTS[part.joint].parent
            if part.cut is not None and parent_joint is not None:
                out.append((by_joint[JOINT_INDEX[parent_joint]], i, part.joint, part.cut.radius))
        return tuple(out)

    def violations(self, pose: Pose, bounds: float = BOUNDS) -> list[str]:
        """Why a pose is not allowed for this figure (empty: allowed): parts that touch or interpenetrate
        (an interior point of one closer than CONTACT_MARGIN to another), parts leaving the cube."""
        figure = self.posed(pose)
        tf = figure.transforms
        owner = self._check_owner
        posed = torch.cat([tf.to_posed(p, part.joint) for p, part in zip(self.check_points, self.parts)])
        dist = figure.capsules.distances(posed).T.contiguous()
        dist[torch.arange(len(posed)), owner] = math.inf
        for parent, child, joint, radius in self.seams:  # the shared ball's shell is a seam, not a contact
            near = (posed - tf.position[joint]).norm(dim=-1) <= radius + CONTACT_MARGIN
            dist[near & (owner == parent), child] = math.inf
            dist[near & (owner == child), parent] = math.inf
        hits = torch.nonzero(dist < CONTACT_MARGIN)
        pairs = sorted({(min(int(owner[n]), int(k)), max(int(owner[n]), int(k))) for n, k in hits.tolist()})
        problems = [f"{self.parts[a].name} touches {self.parts[b].name}" for a, b in pairs]
        outside = torch.unique(owner[posed.abs().max(dim=-1).values > bounds - BOUNDS_CLEARANCE]).tolist()
        problems += [f"{self.parts[k].name} leaves the bounds" for k in outside]
        return problems


def _union(dists) -> Tensor:
    """Elementwise minimum of distance tensors (pairwise torch.minimum: much faster on the CPU than
    stacking and reducing over a short last dimension)."""
    out = None
    for d in dists:
        out = d if out is None else torch.minimum(out, d)
    return out


def _posed_sdf(part: FigurePart, transforms: BoneTransforms):
    def fn(points: Tensor) -> Tensor:
        return part.sdf(transforms.to_canonical(points, part.joint))

    return fn


@dataclass(frozen=True)
class PosedCapsules:
    """Every part's capsules moved into the pose (a rigid motion keeps distances, so posing the
    capsules equals inverse-mapping the points, and is far cheaper): float64 tensors.

    a [C,3], ba [C,3] (b - a), inv_len2 [C] (1/|ba|^2, 0 for balls), radius [C], spans: per part
    its (start, end) rows; cut_center [K,3], cut_radius [K] (-inf: the root has no cut).
    """

    a: Tensor
    ba: Tensor
    inv_len2: Tensor
    radius: Tensor
    spans: tuple[tuple[int, int], ...]
    cut_center: Tensor
    cut_radius: Tensor

    @classmethod
    def build(cls, parts: tuple[FigurePart, ...], tf: BoneTransforms) -> "PosedCapsules":
        a, b, r, spans, cc, cr = [], [], [], [], [], []
        for part in parts:
            start = len(a)
            ends = torch.tensor([[c.a, c.b] for c in part.capsules], dtype=torch.float64).reshape(-1, 3)
            posed = tf.to_posed(ends, part.joint).reshape(-1, 2, 3)
            a += list(posed[:, 0])
            b += list(posed[:, 1])
            r += [c.radius for c in part.capsules]
            spans.append((start, len(a)))
            if part.cut is None:
                cc.append(torch.zeros(3, dtype=torch.float64))
                cr.append(-math.inf)
            else:
                cc.append(tf.to_posed(torch.tensor([part.cut.a], dtype=torch.float64), part.joint)[0])
                cr.append(part.cut.radius)
        a_t, b_t = torch.stack(a), torch.stack(b)
        ba = b_t - a_t
        len2 = (ba * ba).sum(-1)
        inv = torch.where(len2 > 0, 1.0 / len2.clamp_min(1e-300), torch.zeros_like(len2))
        return cls(a_t, ba, inv, torch.tensor(r, dtype=torch.float64), tuple(spans), torch.stack(cc),
                   torch.tensor(cr, dtype=torch.float64))

    def distances(self, points: Tensor) -> Tensor:
        """[P,3] posed points -> [K,P] signed distance to every part (in the points' dtype)."""
        a, ba = self.a.to(points), self.ba.to(points)
        pa = points[None] - a[:, None]  # [C,P,3]
        h = (torch.bmm(pa, ba[:, :, None])[..., 0] * self.inv_len2.to(points)[:, None]).clamp(0, 1)
        d = (pa - h[..., None] * ba[:, None]).norm(dim=-1) - self.radius.to(points)[:, None]  # [C,P]
        per_part = torch.stack([d[s:e].amin(dim=0) for s, e in self.spans])  # [K,P]
        cut = self.cut_radius.to(points)[:, None] - (points[None] - self.cut_center.to(points)[:, None]).norm(dim=-1)
        return torch.maximum(per_part, cut)


@dataclass(frozen=True)
class PosedFigure(World):
    """A figure in a pose: a World (hard union of the posed parts, exact labels) that also knows
    its figure, pose and bone transforms, and maps posed points back to the rest frame."""

    figure: Figure = None
    pose: Pose = None
    transforms: BoneTransforms = None
    capsules: PosedCapsules = None

    # Chunk of points evaluated at once ([C,P,3] temporaries stay a few tens of MB).
    CHUNK = 65536

    def distances(self, points: Tensor) -> Tensor:
        """[P,3] posed points -> [K,P] signed distance to each part (the parts' hard union is the
        figure; the labels, the inverse map and the articulated warp all read these numbers)."""
        if len(points) <= self.CHUNK:
            return self.capsules.distances(points)
        return torch.cat([self.capsules.distances(c) for c in points.split(self.CHUNK)], dim=1)

    def part_sdfs(self, points: Tensor) -> Tensor:
        return self.distances(points).T

    def sdf(self, points: Tensor) -> Tensor:
        return self.distances(points).amin(dim=0)

    def nearest_part(self, points: Tensor) -> Tensor:
        return self.distances(points).argmin(dim=0)

    def to_canonical(self, points: Tensor) -> CanonicalPoints:
        """[P,3] posed points -> their owning part's rest-frame points (owner: smallest signed
        distance, defined everywhere, the rule that labels them)."""
        owner = self.nearest_part(points)
        out = torch.empty_like(points)
        for k, part in enumerate(self.figure.parts):
            sel = owner == k
            if sel.any():
                out[sel] = self.transforms.to_canonical(points[sel], part.joint)
        labels = torch.tensor([p.label for p in self.figure.parts], dtype=torch.int64, device=points.device)
        return CanonicalPoints(out, owner, labels[owner])

    def to_posed(self, points: Tensor, part: Tensor) -> Tensor:
        """[P,3] rest-frame points of parts [P] (indices into figure.parts) -> posed points."""
        out = torch.empty_like(points)
        for k, fp in enumerate(self.figure.parts):
            sel = part == k
            if sel.any():
                out[sel] = self.transforms.to_posed(points[sel], fp.joint)
        return out


def make_figure(seed: int, truncation: float = 1.0) -> Figure:
    """The rest-pose figure of a seed (proportions and colors from the oracle latent)."""
    u = [float(x) for x in oracle_latent(seed, truncation)]
    s = squash(u[0], 0.93, 1.05)
    r_thigh = s * squash(u[3], 0.055, 0.072)
    r_shin = r_thigh * squash(u[4], 0.74, 0.86)
    r_foot = 0.036 * s
    l_thigh, l_shin = s * squash(u[1], 0.36, 0.42), s * squash(u[2], 0.35, 0.41)
    hip_half = r_thigh + s * squash(u[5], 0.02, 0.045)
    r_pelvis = 0.7 * r_thigh
    ankle_y = FLOOR_Y + 0.045 * s + r_foot
    hip_y = ankle_y + (l_thigh + l_shin) * math.cos(REST_LEG_SPREAD)
    torso_len = s * squash(u[6], 0.46, 0.53)
    r_spine = s * squash(u[7], 0.062, 0.075)
    r_chest = s * squash(u[8], 0.085, 0.1)
    chest_dx = s * squash(u[9], 0.035, 0.065)
    r_ua = s * squash(u[10], 0.04, 0.05)
    r_fa = r_ua * squash(u[11], 0.78, 0.9)
    r_hand = r_fa * 0.92
    l_ua, l_fa, l_hand = s * squash(u[12], 0.26, 0.31), s * squash(u[13], 0.23, 0.27), s * squash(u[22], 0.1, 0.13)
    r_head = s * squash(u[14], 0.1, 0.12)
    r_neck = 0.042 * s
    r_girdle = 0.8 * r_ua

    neck_y = hip_y + torso_len
    waist_y = hip_y + 0.2 * s
    shoulder_y = neck_y - 0.055 * s
    shoulder_x = chest_dx + r_chest + r_ua + 0.03 * s
    ball = lambda r1, r2: JOINT_BALL_MARGIN * math.hypot(r1, r2)  # noqa: E731
    r_neck_ball = 1.3 * r_neck
    r_shoulder_ball, r_elbow_ball, r_wrist_ball = ball(r_girdle, r_ua), ball(r_ua, r_fa), ball(r_fa, r_hand)
    r_hip_ball, r_knee_ball, r_ankle_ball = ball(r_pelvis, r_thigh), ball(r_thigh, r_shin), ball(r_shin, r_foot)

    rest = {"pelvis": (0.0, hip_y, 0.0), "neck": (0.0, neck_y, 0.0)}
    arm_dx, arm_dy = math.sin(REST_ARM_SPREAD), -math.cos(REST_ARM_SPREAD)
    leg_dx, leg_dy = math.sin(REST_LEG_SPREAD), -math.cos(REST_LEG_SPREAD)
    for side, sx in (("l", 1.0), ("r", -1.0)):
        rest[f"shoulder_{side}"] = (sx * shoulder_x, shoulder_y, 0.0)
        rest[f"elbow_{side}"] = (sx * (shoulder_x + l_ua * arm_dx), shoulder_y + l_ua * arm_dy, 0.0)
        rest[f"wrist_{side}"] = (sx * (shoulder_x + (l_ua + l_fa) * arm_dx), shoulder_y + (l_ua + l_fa) * arm_dy, 0.0)
        rest[f"hand_{side}"] = (sx * (shoulder_x + (l_ua + l_fa + l_hand) * arm_dx),
                                shoulder_y + (l_ua + l_fa + l_hand) * arm_dy, 0.01 * s)
        rest[f"hip_{side}"] = (sx * hip_half, hip_y, 0.0)
        rest[f"knee_{side}"] = (sx * (hip_half + l_thigh * leg_dx), hip_y + l_thigh * leg_dy, 0.0)
        rest[f"ankle_{side}"] = (sx * (hip_half + (l_thigh + l_shin) * leg_dx), hip_y + (l_thigh + l_shin) * leg_dy, 0.0)
    rest_positions = torch.tensor([rest[j.name] for j in JOINTS], dtype=torch.float64)
    hands = {side: rest.pop(f"hand_{side}") for side in ("l", "r")}

    skin = lerp((0.93, 0.78, 0.65), (0.42, 0.27, 0.18), squash(u[15], 0.0, 1.0))
    shirt = hue_color(u[16], u[17], squash(u[18], 0.35, 0.8), squash(u[19], 0.45, 0.9))
    pants = hue_color(u[20], u[21], squash(u[18], 0.2, 0.6), squash(-u[19], 0.25, 0.6))
    shoes = lerp((0.12, 0.1, 0.09), (0.45, 0.28, 0.15), squash(u[23], 0.0, 1.0))
    sleeve = shirt if u[21] > 0 else skin

    def cap(a, b, r):
        return Capsule(tuple(float(x) for x in a), tuple(float(x) for x in b), float(r))

    def ball_at(joint, r):
        return cap(rest[joint], rest[joint], r)

    def off(joint, dx=0.0, dy=0.0, dz=0.0):
        x, y, z = rest[joint]
        return (x + dx, y + dy, z + dz)

    label = {name: i + 1 for i, name in enumerate(LABELS)}
    parts: list[FigurePart] = []

    def add(name, capsules, color, cut_joint=None, cut_r=None):
        joint = JOINT_INDEX[PART_JOINTS[name]]
        cut = ball_at(cut_joint, cut_r) if cut_joint else None
        parts.append(FigurePart(name, label[name], joint, tuple(capsules), tuple(float(c) for c in color), cut))

    head_c = off("neck", dy=0.085 * s + 0.8 * r_head, dz=0.012 * s)
    add("head", [cap(rest["neck"], off("neck", dy=0.09 * s), r_neck), cap(head_c, head_c, r_head),
                 cap((head_c[0], head_c[1] - 0.01 * s, head_c[2] + 0.85 * r_head),
                     (head_c[0], head_c[1] - 0.03 * s, head_c[2] + 1.05 * r_head), 0.018 * s)],
        skin, "neck", r_neck_ball)
    torso = [cap(off("pelvis", dy=0.09 * s), (0.0, waist_y, 0.0), r_spine),
             cap(rest["hip_r"], rest["hip_l"], r_pelvis),
             cap(rest["shoulder_r"], rest["shoulder_l"], r_girdle),
             ball_at("neck", r_neck_ball), ball_at("hip_l", r_hip_ball), ball_at("hip_r", r_hip_ball),
             ball_at("shoulder_l", r_shoulder_ball), ball_at("shoulder_r", r_shoulder_ball)]
    for sx in (1.0, -1.0):
        torso.append(cap((sx * chest_dx, waist_y, 0.0), (sx * chest_dx, neck_y - r_chest, 0.0), r_chest))
    add("torso", torso, shirt)
    for side, sname in (("l", "left"), ("r", "right")):
        add(f"{sname}_upper_arm", [cap(rest[f"shoulder_{side}"], rest[f"elbow_{side}"], r_ua),
                                   ball_at(f"elbow_{side}", r_elbow_ball)], shirt, f"shoulder_{side}", r_shoulder_ball)
        add(f"{sname}_lower_arm", [cap(rest[f"elbow_{side}"], rest[f"wrist_{side}"], r_fa),
                                   ball_at(f"wrist_{side}", r_wrist_ball)], sleeve, f"elbow_{side}", r_elbow_ball)
        add(f"{sname}_hand", [cap(rest[f"wrist_{side}"], hands[side], r_hand)],
            skin, f"wrist_{side}", r_wrist_ball)
        add(f"{sname}_upper_leg", [cap(rest[f"hip_{side}"], rest[f"knee_{side}"], r_thigh),
                                   ball_at(f"knee_{side}", r_knee_ball)], pants, f"hip_{side}", r_hip_ball)
        add(f"{sname}_lower_leg", [cap(rest[f"knee_{side}"], rest[f"ankle_{side}"], r_shin),
                                   ball_at(f"ankle_{side}", r_ankle_ball)], pants, f"knee_{side}", r_knee_ball)
        add(f"{sname}_foot", [cap(off(f"ankle_{side}", dy=-0.045 * s, dz=-0.035 * s),
                                  off(f"ankle_{side}", dy=-0.05 * s, dz=0.16 * s), r_foot)],
            shoes, f"ankle_{side}", r_ankle_ball)
    parts.sort(key=lambda p: p.label)
    return Figure(int(seed), rest_positions, tuple(parts))


def sample_pose_angles(rng: np.random.RandomState) -> Pose:
    """Joint angles uniform within every limit (no self-intersection test)."""
    return Pose(tuple(tuple(float(rng.uniform(d.lo, d.hi)) for d in j.dofs) for j in JOINTS))


def random_pose(figure: Figure, seed: int, tries: int = RANDOM_POSE_TRIES) -> Pose:
    """A pose within the joint limits without self-intersections for this figure, from a seed:
    angles drawn uniformly within their limits, redrawn until the figure allows them."""
    rng = np.random.RandomState(seed)
    for _ in range(tries):
        pose = sample_pose_angles(rng)
        if not figure.violations(pose):
            return Pose(pose.angles, f"random:{seed}")
    raise PoseError(f"no self-intersection-free pose found in {tries} tries (pose seed {seed})")


@dataclass
class FigureCategory:
    """What ProceduralGenerator reads from a category entry, for the figure world."""

    labels: tuple[str, ...] = LABELS
    colors: tuple[tuple[int, int, int], ...] = LABEL_COLORS
    orbit: OrbitSpec = ORBIT
    rendering: RenderingConfig = RENDERING
    bounds: float = BOUNDS


class FigureGenerator(ProceduralGenerator):
    """procedural:figure: the posable oracle world (Generator protocol). The pose is carried by the
    Subject (each params entry is a PosedFigure): sample(seeds, pose=...) poses new subjects,
    repose(subject, pose) re-poses them, render(..., pose=...) is render(repose(...), ...).

    A pose is anything resolve_pose accepts: a Pose, None / "rest", a named pose ("t", "walk",
    "sit", "wave"), an int or "random:N" (a self-intersection-free random pose, drawn for each
    subject's own figure), a JSON text or .json file of joint angles, or a {joint: angles} dict;
    or a list with one of those per seed.
    """

    def __init__(self):  # noqa: D107 - the category table of ProceduralGenerator has no figure entry
        cat = FigureCategory()
        self.category = "figure"
        self.name = "procedural:figure"
        self.spec = GeneratorSpec("procedural", "figure", self.name)
        self.label_set = LabelSet.from_names(list(cat.labels), list(cat.colors))
        self.rendering, self.orbit, self.bounds = cat.rendering, cat.orbit, cat.bounds
        self._make = make_figure
        self.density_beta = DENSITY_WIDTH * cat.bounds
        self.density_threshold = 0.5 / self.density_beta

    def figures(self, seeds: list[int], truncation: float = 1.0) -> list[Figure]:
        return [make_figure(int(s), truncation) for s in seeds]

    def resolve_pose(self, figure: Figure, pose) -> Pose:
        return resolve_pose(pose, sampler=lambda seed: random_pose(figure, seed))

    def random_pose(self, seed: int, subject_seed: int, truncation: float = 1.0) -> Pose:
        return random_pose(make_figure(subject_seed, truncation), seed)

    def sample(self, seeds: list[int], truncation: float = 1.0, pose=None) -> Subject:
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise DnerfError("need at least one seed")
        if any(s < 0 for s in seeds):
            raise DnerfError(f"seeds must be non-negative integers, got {seeds}")
        figures = self.figures(seeds, truncation)
        return Subject(seeds=seeds, params=self._pose_all(figures, pose))

    def _pose_all(self, figures: list[Figure], pose) -> list[PosedFigure]:
        poses = pose if isinstance(pose, (list, tuple)) else [pose] * len(figures)
        if len(poses) != len(figures):
            raise PoseError(f"{len(poses)} poses for {len(figures)} subjects: pass one pose or one per subject")
        return [f.posed(self.resolve_pose(f, p)) for f, p in zip(figures, poses)]

    def repose(self, subject: Subject, pose) -> Subject:
        """The same subjects in another pose (a new Subject; the given one is unchanged)."""
        return Subject(seeds=list(subject.seeds), params=self._pose_all([p.figure for p in subject.params], pose))

    def poses(self, subject: Subject) -> list[Pose]:
        return [p.pose for p in subject.params]

    def to_canonical(self, subject: Subject, points: Tensor) -> CanonicalPoints:
        """[P,3] posed points of a one-subject batch -> the oracle's inverse map (owner's rest frame)."""
        return subject.params[0].to_canonical(points)

    def render(self, subject: Subject, cameras, resolution: int | None = None, *, path: str = "volume",
               pose=None) -> RenderOutput:
        if pose is not None:
            subject = self.repose(subject, pose)
        return super().render(subject, cameras, resolution, path=path)
