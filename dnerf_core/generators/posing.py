"""Body poses as users give them (`--pose`, `label_subject(pose=...)`, the dataset command, the
Blender add-on), for any generator: which generators take one, what `random` means, and the one
message a pose given to a rigid generator gets.

What a pose spec may be is skeleton.resolve_pose's business (a named pose, an integer or
"random:N" pose seed, a JSON text or .json file of joint angles, a Pose); this module adds
"random": a pose seed derived from the subject seed (derived_pose_seed), so a dataset's poses
are a pure function of its arguments.
"""
from __future__ import annotations

import hashlib

from .procedural.skeleton import Pose, PoseError, resolve_pose

# "random": each subject's own random pose, its pose seed derived from the subject seed.
RANDOM_POSE = "random"
# Pose seeds stay below 2**31 (numpy RandomState seeds); held-out evaluation poses use 2**31 + k.
POSE_SEED_RANGE = 2 ** 31


def base_generator(generator):
    """The generator under a labeling wrapper (a LabeledGenerator's own), or itself."""
    return getattr(generator, "generator", generator)


def is_posable(generator) -> bool:
    """Whether the generator's subjects carry a body pose (procedural:figure, default:figure)."""
    return hasattr(base_generator(generator), "repose")


def derived_pose_seed(subject_seed: int, *keys: int | str) -> int:
    """A pose seed that is a pure function of the subject seed (and keys such as a view index):
    sha256, so neighbouring seeds get unrelated poses, and the same on every machine."""
    text = ":".join(str(k) for k in ("dnerf-pose", int(subject_seed), *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") % POSE_SEED_RANGE


def subject_pose_spec(pose, subject_seed: int | None):
    """A user's pose spec as the generator's sample() takes it: "random" replaced by the subject's
    derived pose seed ("random:N"), digits by a pose seed (an int)."""
    pose = normalize_pose_arg(pose)
    if isinstance(pose, str) and pose.strip() == RANDOM_POSE:
        if subject_seed is None:
            raise PoseError("--pose random derives the pose from the subject seed: give a seed")
        return f"random:{derived_pose_seed(subject_seed)}"
    return pose


def check_pose_spec(pose) -> None:
    """Refuse a malformed pose spec before any work (unknown name, bad JSON, angle outside its
    limits, missing file, negative seed). Random poses are only checked for their seed: drawing
    one needs the subject's figure."""
    if pose is None or isinstance(pose, Pose):
        return
    if isinstance(pose, str) and pose.strip() == RANDOM_POSE:
        return
    text = pose.strip() if isinstance(pose, str) else pose
    if isinstance(text, str) and text.isdigit():
        return
    resolve_pose(text, sampler=lambda seed: Pose.zero())


def subject_pose(generator, subject) -> Pose | None:
    """The body pose of a one-subject batch of a posable generator, None for a rigid one."""
    if not is_posable(generator):
        return None
    return base_generator(generator).poses(subject)[0]


def require_posable(generator, pose, what: str = "--pose") -> None:
    """PoseError when a pose is given for a rigid generator (one line, names the generator)."""
    if pose is not None and not is_posable(generator):
        from .spec import describe

        raise PoseError(f"{what}: {describe(generator)} is a rigid generator; a body pose applies only to articulated "
                        "ones (procedural:figure, default:figure)")


def normalize_pose_arg(pose):
    """A pose spec from text: digits mean a pose seed (an int), anything else stays as given."""
    if isinstance(pose, str) and pose.strip().isdigit():
        return int(pose.strip())
    return pose
