"""Annotation kits: the few annotated views the semantic branch is trained from.

A kit is a folder a person annotates in any tool:

    kit.json          format + version, generator spec, resolution, label set, one entry per view
    README.txt        what to do, the labels (id, name, color) and the mask format
    images/SSS_V.png  RGB views to annotate (subject SSS, view V)
    masks/            empty; the annotator puts masks/SSS_V.png here (or `--oracle` fills it)

`--oracle` stands in for a careful human annotator on the default worlds. Its "image" masks (the
default) label what each kit image shows: every pixel the generator rendered opaque gets the
oracle's exact 3D part at that surface point, the rest background. Its "world" masks are the
oracle's own render of the same seed and camera, the subject a learned generator only
approximates: where the learned silhouette bulges past the oracle's, they call visible surface
background, and a branch trained on them learns to cut those rims away view by view (the
default car's 3D label agreement across views 0.942 with world masks, 0.971 with image masks;
research/results/semantic_car.json, research/results/semantic_car_image.json).

`make_kit` renders a kit from a generator; `load_kit` reads it back and validates every mask,
reporting all bad files in one AnnotationError.

Which views: the paper annotates a frontal view and two side views per subject. Subjects are
the seeds seed_offset .. seed_offset+subjects-1, always below HELDOUT_SEED_START, so the
training annotations never touch the evaluation subjects.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import torch
from torch import Tensor

from ..cameras import Cameras, OrbitSpec, orbit_cameras
from ..errors import AnnotationError, DnerfError
from ..generators.spec import GeneratorSpec, describe, spec_of
from ..generators.surface_labels import oracle_labels_on_surface
from ..io.splits import HELDOUT_SEED_START
from ..labels import IGNORE_ID, LabelSet
from .kit_options import DEFAULT_KIT_RENDER, DEFAULT_ORACLE_MASKS, ORACLE_MASKS, KitOptions

KIT_FORMAT = "dnerf-annotation-kit"
KIT_VERSION = 1
KIT_FILE = "kit.json"
README_FILE = "README.txt"
IMAGES_DIR = "images"
MASKS_DIR = "masks"

# Side views of a generator with a limited yaw range (faces) sit at this fraction of the half
# range either side of frontal: far enough to show ears and the side of the hair, close enough
# to stay inside the poses the generator was trained on (its renders degrade at the extremes).
SIDE_YAW_FRACTION = 0.6
# Orbits covering the full circle (cars) have no "edge of the range": the side views are the
# two profiles, which show every wheel, window and the roof line the frontal view hides.
FULL_ORBIT_SIDE_YAW = math.pi / 2
# Views beyond the first three alternate below and above the middle pitch (fractions of the
# pitch range), so they add vertical variety rather than repeating the frontal/side heights.
EXTRA_PITCH_FRACTIONS = (0.25, 0.75)
FRONTAL_YAW = 0.0
VIEW_NAMES = ("frontal", "side_plus", "side_minus")  # side_plus: camera towards +x (positive yaw)



# --- cameras --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KitView:
    """One camera of the per-subject rig: name, yaw and pitch in radians."""

    name: str
    yaw: float
    pitch: float


def _is_full_orbit(orbit: OrbitSpec) -> bool:
    y0, y1 = orbit.yaw_range
    return y1 - y0 >= 2 * math.pi - 1e-6


def _wrap_angle(a: float) -> float:
    """Into (-pi, pi], so a full-orbit yaw reads naturally (e.g. -90 deg rather than 270)."""
    a = math.remainder(a, 2 * math.pi)
    return math.pi if a == -math.pi else a


def kit_views(orbit: OrbitSpec, views: int = 3) -> list[KitView]:
    """The camera rig every subject of a kit is rendered with.

    View 0 is frontal (yaw 0, middle pitch), views 1 and 2 the side views (+/- side yaw, middle
    pitch). Further views spread evenly over the yaw range (for a full orbit: around the circle,
    starting behind the subject) at alternating lower/upper pitches.
    """
    if views < 1:
        raise DnerfError(f"need at least one view per subject, got {views}")
    p0, p1 = orbit.pitch_range
    mid_pitch = (p0 + p1) / 2
    full = _is_full_orbit(orbit)
    y0, y1 = orbit.yaw_range
    side = FULL_ORBIT_SIDE_YAW if full else SIDE_YAW_FRACTION * (y1 - y0) / 2
    rig = [KitView(VIEW_NAMES[0], FRONTAL_YAW, mid_pitch), KitView(VIEW_NAMES[1], side, mid_pitch),
           KitView(VIEW_NAMES[2], -side, mid_pitch)][:views]
    extra = views - len(rig)
    for k in range(extra):
        frac = (k + 0.5) / extra
        yaw = _wrap_angle(math.pi + 2 * math.pi * k / extra) if full else y0 + (y1 - y0) * frac
        pitch = p0 + (p1 - p0) * EXTRA_PITCH_FRACTIONS[k % len(EXTRA_PITCH_FRACTIONS)]
        rig.append(KitView(f"extra_{k}", yaw, pitch))
    return rig


# --- which parts to annotate ---------------------------------------------------------------------
def spec_category(spec: str | GeneratorSpec | None) -> str | None:
    """The oracle category of a `procedural:CAT` / `default:CAT` spec, else None."""
    from ..generators.procedural import CATEGORIES, POSABLE_CATEGORIES

    if spec is None:
        return None
    category = GeneratorSpec.parse(spec).category
    return category if category in CATEGORIES + POSABLE_CATEGORIES else None


def _oracle(category: str):
    """The procedural world of a category (the posable figure's own class for `figure`)."""
    from ..generators.registry import load_generator

    return load_generator(f"procedural:{category}")


def _kit_label_set(generator, spec: GeneratorSpec, category: str | None) -> LabelSet:
    # The parts come from the oracle category, not the learned generator (which has no labels
    # until the semantic branch this kit trains exists).
    if category is not None:
        return _oracle(category).label_set
    if getattr(generator, "label_set", None) is not None:
        return generator.label_set
    raise AnnotationError(f"cannot tell which parts to annotate for generator {str(spec)!r}: use a "
                          "procedural:CATEGORY or default:CATEGORY generator")


# --- making a kit ---------------------------------------------------------------------------------
def check_kit_request(generator_spec: str | GeneratorSpec, out: str | Path, subjects: int, views: int,
                      resolution: int | None, seed_offset: int, oracle: bool,
                      oracle_masks: str = DEFAULT_ORACLE_MASKS, render: str = DEFAULT_KIT_RENDER) -> None:
    """Refuse bad kit arguments before anything is loaded, rendered or written."""
    generator_spec = GeneratorSpec.parse(generator_spec)
    KitOptions(subjects, views, resolution, seed_offset, oracle, oracle_masks, render=render).validate()
    if oracle and spec_category(generator_spec) is None:
        raise DnerfError(f"--oracle needs a procedural:CATEGORY or default:CATEGORY generator, got {str(generator_spec)!r}")
    check_kit_destination(Path(out))


def check_kit_destination(out: Path) -> None:
    # Never merge into or overwrite an existing folder: it may hold someone's finished masks.
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DnerfError(f"{out} already exists and is not an empty folder; choose a new --out "
                         "(a kit is never written over existing files)")


def _readme(spec: str, label_set: LabelSet, n_items: int, resolution: int, oracle_masks: str | None) -> str:
    rows = "\n".join(f"  {lab.id:>3}  {lab.name:<12} color {lab.color[0]:>3} {lab.color[1]:>3} {lab.color[2]:>3}"
                     for lab in label_set.labels)
    how = {"image": "the true part of every surface point each image shows",
           "world": "the procedural subject's own render of each seed and camera"}
    filled = (f"masks/ was filled from the procedural ground truth (--oracle, {oracle_masks} masks:\n"
              f"{how.get(oracle_masks, oracle_masks)}).\n"
              "It stands in for a human annotator. Replace any mask to use your own annotation.\n\n") \
        if oracle_masks else ""
    return (
        f"dnerf annotation kit ({n_items} images from {spec}, {resolution}x{resolution} pixels)\n\n"
        f"{filled}"
        "What to do: for every image images/SSS_V.png draw a part mask and save it as\n"
        "masks/SSS_V.png (same name), the same size as the image.\n\n"
        "Mask format (PNG only; lossy formats change colors at part borders):\n"
        "  - palette PNG (indexed color): pixel index = label id, or\n"
        "  - 8-bit grayscale PNG: pixel value = label id, or\n"
        "  - RGB PNG painted exactly in the label colors below (no anti-aliasing, no blur).\n"
        f"  Pixel value {IGNORE_ID} (palette/grayscale) = ignore: unsure pixels, not used for training.\n\n"
        f"Labels (id, name, color):\n{rows}\n  {IGNORE_ID}  ignore\n\n"
        f"Do not edit {KIT_FILE}: it records the generator, seed and camera of every image, which\n"
        "training needs. Hand the whole folder to semantic training; it checks every mask and lists\n"
        "all bad files (missing, wrong size, unknown label) in one message.\n"
    )


_FLAT_ARRAY = re.compile(r"\[[^\[\]{}\"]*\]")  # an array of numbers only: a matrix row, a color


def _kit_json_text(kit: dict) -> str:
    """Indented JSON with number arrays kept on one line (a 4x4 matrix reads as 4 rows)."""
    text = json.dumps(kit, indent=1, sort_keys=True)
    return _FLAT_ARRAY.sub(lambda m: "[" + " ".join(m.group(0)[1:-1].split()) + "]", text) + "\n"


def _item_record(subject: int, view_index: int, view: KitView, seed: int, cams: Cameras, pose=None) -> dict:
    name = f"{subject:03d}_{view_index}.png"
    return {
        "subject": subject, "view": view_index, "view_name": view.name, "seed": seed,
        "yaw": view.yaw, "pitch": view.pitch,
        # float32 -> Python float is exact and JSON floats round-trip, so cameras load bit-exact.
        "cam2world": cams.cam2world[view_index].tolist(),
        "intrinsics": cams.intrinsics[view_index].tolist(),
        "image": f"{IMAGES_DIR}/{name}", "mask": f"{MASKS_DIR}/{name}",
        # articulated generators: the resolved joint angles this view was rendered in
        **({"body_pose": pose.to_dict()} if pose is not None else {}),
    }


# Each view of an articulated subject is rendered in its own random pose (seeded by the subject
# seed and the view index), so a kit of S subjects x V views shows S*V poses: the branch learns
# canonical labels from many poses, and the views of a subject disagree in pose as well as camera.
KIT_POSE_KEY = "kit-view"


def kit_view_poses(seed: int, views: int) -> list[str]:
    """The pose specs of a posable subject's kit views ("random:N", N derived from seed and view)."""
    from ..generators.posing import derived_pose_seed

    return [f"random:{derived_pose_seed(seed, KIT_POSE_KEY, v)}" for v in range(views)]


@torch.no_grad()
def _write_kit(generator, stage: Path, seeds: list[int], rig: list[KitView], resolution: int | None,
               label_set: LabelSet, category: str | None, oracle_masks: str | None,
               progress: Callable[[int], None] | None, cams: Cameras | None = None,
               renderer=None) -> tuple[list[dict], int]:
    """Render every subject's views into `stage`; oracle_masks: None (masks/ left empty), "image"
    or "world" (see the module docstring). cams: the rig's cameras (None: from its yaw/pitch);
    renderer(generator, subject, cameras, resolution) -> RenderOutput (None: generator.render)."""
    from ..io.images import write_rgb_png
    from ..io.masks import write_mask_png

    spec = describe(generator)  # for messages

    if cams is None:
        cams = orbit_cameras([v.yaw for v in rig], [v.pitch for v in rig], generator.orbit)
    oracle_gen = None
    if oracle_masks is not None:
        from ..generators.procedural import ProceduralGenerator

        # The generator itself when it is that oracle (saves rendering every view twice).
        same = isinstance(generator, ProceduralGenerator) and generator.category == category
        oracle_gen = generator if same else _oracle(category)
    from ..generators.posing import is_posable

    posable = is_posable(generator)
    items, size = [], None
    (stage / MASKS_DIR).mkdir()
    for subject, seed in enumerate(seeds):
        poses = None
        if posable:  # one subject row per view, each in its own pose (the planes are the same)
            sampled = generator.sample([seed] * len(rig), pose=kit_view_poses(seed, len(rig)))
            poses = generator.poses(sampled)
        else:
            sampled = generator.sample([seed])
        out = (renderer(generator, sampled, cams, resolution) if renderer is not None
               else generator.render(sampled, cams, resolution)).cpu()
        h, w = out.rgb.shape[-2:]
        if h != w:
            raise DnerfError(f"{spec} renders {w}x{h} images; annotation kits need square views")
        if size is not None and h != size:
            raise DnerfError(f"{spec} rendered seed {seed} at {h}x{h} pixels, earlier subjects at {size}x{size}")
        size = h
        labels = None
        if oracle_gen is generator:  # the oracle's images: both kinds of masks are its own labels
            labels = out.labels
        elif oracle_masks == "image":
            if out.depth.shape[-1] != h:
                raise DnerfError(f"{spec} renders depth at {out.depth.shape[-1]} pixels and images at {h}: "
                                 "image oracle masks need both at one size (use --oracle-masks world)")
            truth = oracle_gen.sample([seed] * len(rig), pose=poses) if poses is not None else None
            labels = oracle_labels_on_surface(oracle_gen, [seed], cams, out.depth, out.opacity, truth=truth)
        elif oracle_gen is not None:
            truth = oracle_gen.sample([seed] * len(rig), pose=poses) if poses is not None else oracle_gen.sample([seed])
            labels = oracle_gen.render(truth, cams, h).labels.cpu()
        for v, view in enumerate(rig):
            rec = _item_record(subject, v, view, seed, cams, None if poses is None else poses[v])
            write_rgb_png(stage / rec["image"], out.rgb[v].permute(1, 2, 0).float().clamp(0, 1).numpy())
            if labels is not None:
                write_mask_png(stage / rec["mask"], labels[v].numpy(), label_set)
            items.append(rec)
        if progress is not None:
            progress(len(rig))
    return items, size


def make_kit(generator, out: str | Path, subjects: int = 30, views: int = 3,
             resolution: int | None = None, seed_offset: int = 0, oracle: bool = False,
             oracle_masks: str = DEFAULT_ORACLE_MASKS, progress: Callable[[int], None] | None = None,
             poses=None, render: str = DEFAULT_KIT_RENDER, renderer=None) -> Path:
    """Render an annotation kit into the new folder `out`; returns its path.

    poses: a dnerf_core.pose_file.PoseFile whose cameras replace the frontal/side rig for every
    subject (`views` is then its length; views are named pose_I, with the yaw/pitch of each
    camera around the orbit pivot; resolution None: a transforms file's own size).


    generator: any Generator carrying its spec (`load_generator` sets `.spec`; recorded in
    kit.json, its category names the label set and the oracle). resolution: image size (None: the
    generator's). oracle: fill masks/ with the procedural ground truth, as `oracle_masks` says
    ("image" or "world", see the module docstring). progress(n) is called
    after every subject with the number of images just written. render: the render path the
    images take (recorded in kit.json); renderer: that path as a function (generator, subject,
    cameras, resolution) -> RenderOutput, which the factory layer provides
    (dnerf_core.factory.views.path_renderer); None renders with generator.render (the volume path).

    All-or-nothing: everything is written into a hidden staging folder next to `out`, which is
    renamed to `out` only when complete; on any error nothing is left behind.
    """
    from ..io.atomic import atomic_write_text, ensure_dir

    generator_spec = spec_of(generator)
    if generator_spec is None:
        raise AnnotationError("an annotation kit records its generator's spec: load the generator with "
                              "load_generator (or set generator.spec to a GeneratorSpec)")
    if poses is not None:
        views = len(poses)
        resolution = resolution if resolution is not None else poses.resolution
    check_kit_request(generator_spec, out, subjects, views, resolution, seed_offset, oracle, oracle_masks, render)
    if renderer is None and render != DEFAULT_KIT_RENDER:
        raise DnerfError(f"make_kit(render={render!r}) needs that path's renderer: "
                         "renderer=dnerf_core.factory.views.path_renderer(render)")
    masks_kind = oracle_masks if oracle else None
    category = spec_category(generator_spec)
    label_set = _kit_label_set(generator, generator_spec, category)
    out = Path(out)
    parent = ensure_dir(out.absolute().parent)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
    except OSError as exc:
        raise DnerfError(f"cannot write into {parent}: {exc.strerror or exc}") from exc
    try:
        seeds = list(range(seed_offset, seed_offset + subjects))
        cams = None
        if poses is not None:
            from ..pose_file import orbit_angles

            cams = poses.cameras(generator.orbit)
            where = orbit_angles(cams, generator.orbit)
            rig = [KitView(f"pose_{i}", float(y), float(p)) for i, (y, p) in enumerate(zip(where.yaw, where.pitch))]
        else:
            rig = kit_views(generator.orbit, views)
        items, size = _write_kit(generator, stage, seeds, rig, resolution, label_set, category,
                                 masks_kind, progress, cams, renderer)
        kit = {
            "format": KIT_FORMAT, "version": KIT_VERSION, "generator": str(generator_spec), "category": category,
            "resolution": size, "subjects": subjects, "views": views, "seed_offset": seed_offset,
            "oracle": oracle, "oracle_masks": masks_kind, "render": render, "angle_unit": "radians",
            "camera_convention": "opencv cam2world, intrinsics / image size",
            "labels": label_set.to_dict(), "items": items,
            **({"poses": str(poses.path)} if poses is not None else {}),
        }
        atomic_write_text(stage / KIT_FILE, _kit_json_text(kit))
        atomic_write_text(stage / README_FILE, _readme(str(generator_spec), label_set, len(items), size, masks_kind))
        os.chmod(stage, 0o755)  # mkdtemp makes it private; the kit is meant to be shared
        check_kit_destination(out)  # again: something may have appeared while rendering
        os.replace(stage, out)  # one rename: the kit appears complete or not at all
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


# --- loading a kit ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class KitItem:
    """One annotated view: which subject and camera, and its files (absolute paths)."""

    subject: int
    view: int
    view_name: str
    seed: int
    yaw: float
    pitch: float
    image: Path
    mask: Path


@dataclass
class AnnotationKit:
    """An annotation kit read back with all masks validated (N = subjects x views items).

    seeds[i], cameras[i], masks[i] and items[i] describe the same view. masks: [N,H,W] int64
    label ids, IGNORE_ID (255) = ignore. cameras: OpenCV cam2world [N,4,4], normalized
    intrinsics [N,3,3] (float32, exactly as rendered). oracle_masks: how `--oracle` filled the
    masks ("image" / "world"; kits from before the choice existed recorded only "oracle": true and
    hold world masks), None for a kit made without it. body_poses: the skeleton.Pose each view
    was rendered in (a kit of an articulated generator), else None.
    """

    path: Path
    generator_spec: GeneratorSpec
    category: str | None
    resolution: int
    label_set: LabelSet
    seeds: list[int]
    cameras: Cameras
    masks: Tensor
    oracle_masks: str | None = None
    items: list[KitItem] = field(default_factory=list)
    body_poses: list | None = None

    def __len__(self) -> int:
        return len(self.items)

    def by_subject(self) -> dict[int, list[int]]:
        """seed -> indices of that subject's items, subjects in kit order: sample a subject once,
        render all its views."""
        return views_by_seed(self.seeds)


def views_by_seed(seeds: list[int]) -> dict[int, list[int]]:
    """seed -> indices of the views of that subject, in first-seen order."""
    groups: dict[int, list[int]] = {}
    for i, seed in enumerate(seeds):
        groups.setdefault(seed, []).append(i)
    return groups


def _read_kit_json(kit_dir: Path) -> dict:
    path = kit_dir / KIT_FILE
    if not kit_dir.is_dir():
        raise AnnotationError(f"annotation kit not found: {kit_dir} is not a folder")
    if not path.is_file():
        raise AnnotationError(f"{kit_dir} is not an annotation kit: {KIT_FILE} is missing "
                              "(make one with `dnerf annotate-kit`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != KIT_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise AnnotationError(f"{path} is not a dnerf annotation kit (format {got!r}, expected {KIT_FORMAT!r})")
    if data.get("version") != KIT_VERSION:
        raise AnnotationError(f"{path}: annotation kit version {data.get('version')!r} is not supported "
                              f"(this dnerf reads version {KIT_VERSION})")
    return data


def _kit_file(kit_dir: Path, rel, path: Path, index: int, key: str) -> Path:
    # Paths come from a file someone may have edited: keep them inside the kit folder.
    if not isinstance(rel, str) or not rel:
        raise AnnotationError(f"{path}: item {index} has no {key!r} file name")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise AnnotationError(f"{path}: item {index} {key} {rel!r} points outside the kit folder")
    return kit_dir / pure


def _parse_poses(raw: list, path: Path) -> list | None:
    """The items' body poses (skeleton.Pose), None when no item has one; all or none must."""
    from ..generators.procedural.skeleton import Pose, PoseError

    has = [isinstance(rec, dict) and "body_pose" in rec for rec in raw]
    if not any(has):
        return None
    if not all(has):
        raise AnnotationError(f"{path}: some items have a body_pose and some do not")
    poses = []
    for i, rec in enumerate(raw):
        try:
            poses.append(Pose.from_dict(rec["body_pose"]))
        except PoseError as exc:
            raise AnnotationError(f"{path}: item {i} body_pose: {exc}") from None
    return poses


def _parse_items(data: dict, kit_dir: Path) -> tuple[list[KitItem], Tensor, Tensor]:
    path = kit_dir / KIT_FILE
    raw = data.get("items")
    if not isinstance(raw, list) or not raw:
        raise AnnotationError(f"{path} lists no items")
    items, c2w, intr = [], [], []
    for i, rec in enumerate(raw):
        try:
            items.append(KitItem(int(rec["subject"]), int(rec["view"]), str(rec.get("view_name", "")),
                                 int(rec["seed"]), float(rec["yaw"]), float(rec["pitch"]),
                                 _kit_file(kit_dir, rec["image"], path, i, "image"),
                                 _kit_file(kit_dir, rec["mask"], path, i, "mask")))
            c2w.append(torch.tensor(rec["cam2world"], dtype=torch.float32))
            intr.append(torch.tensor(rec["intrinsics"], dtype=torch.float32))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise AnnotationError(f"{path}: item {i} is malformed ({type(exc).__name__}: {exc})") from None
        if c2w[-1].shape != (4, 4) or intr[-1].shape != (3, 3):
            raise AnnotationError(f"{path}: item {i} needs a 4x4 cam2world and 3x3 intrinsics")
    masks = [it.mask for it in items]
    if len(set(masks)) != len(masks):
        raise AnnotationError(f"{path}: several items share one mask file")
    return items, torch.stack(c2w), torch.stack(intr)


def _problem_report(kit_dir: Path, problems: list[str], n_missing: int, n_items: int) -> str:
    n = len(problems)
    head = (f"annotation kit {kit_dir}: {n} of {n_items} mask file{'s' if n_items != 1 else ''} "
            f"{'is' if n == 1 else 'are'} bad:")
    lines = [head, *(f"  - {p}" for p in problems)]
    if n_missing == n_items:
        lines.append(f"  (no masks yet: draw one per image in {kit_dir / MASKS_DIR}, as {README_FILE} explains)")
    return "\n".join(lines)


def load_kit(path: str | Path) -> AnnotationKit:
    """Read a kit folder (or its kit.json) and validate every mask.

    Every problem with every mask (missing, unreadable or not a PNG, wrong size, label ids or
    colors outside the label set) is collected; if there are any, one AnnotationError lists them
    all, its first line saying how many files are bad.
    """
    from ..io.masks import read_mask_png

    kit_dir = Path(path).absolute()  # error messages and items name files by absolute path
    if kit_dir.name == KIT_FILE and kit_dir.is_file():
        kit_dir = kit_dir.parent
    data = _read_kit_json(kit_dir)
    json_path = kit_dir / KIT_FILE
    try:
        label_set = LabelSet.from_dict(data["labels"])
        resolution = int(data["resolution"])
        spec = GeneratorSpec.parse(str(data["generator"]))
    except (KeyError, TypeError, ValueError, DnerfError) as exc:
        raise AnnotationError(f"{json_path} is malformed: {exc}") from None
    items, c2w, intr = _parse_items(data, kit_dir)
    masks, problems = [], []
    n_missing = sum(not item.mask.exists() for item in items)
    for item in items:
        try:
            masks.append(torch.from_numpy(read_mask_png(item.mask, label_set, expected_size=resolution)))
        except AnnotationError as exc:
            problems.append(str(exc))
    if problems:
        raise AnnotationError(_problem_report(kit_dir, problems, n_missing, len(items)))
    category = data.get("category")
    oracle_masks = data.get("oracle_masks", "world" if data.get("oracle") is True else None)
    return AnnotationKit(path=kit_dir, generator_spec=spec, category=category if isinstance(category, str) else None,
                         resolution=resolution, label_set=label_set, seeds=[it.seed for it in items],
                         cameras=Cameras(c2w, intr), masks=torch.stack(masks).to(torch.int64),
                         oracle_masks=oracle_masks if oracle_masks in ORACLE_MASKS else None, items=items,
                         body_poses=_parse_poses(data["items"], json_path))
