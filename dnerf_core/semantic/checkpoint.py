"""Semantic-branch checkpoints: weights + config + label set + the identity of the generator they
were trained on. Plain data only (torch.load weights_only=True); loading one against another
generator is refused, because its features would mean nothing to the branch."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path


from ..errors import CheckpointError
from ..labels import LabelSet
from ..io.tagged_file import load_tagged, save_tagged
from .augmented import AugmentedLayout
from .branch import SemanticBranch, SemanticConfig

FORMAT = "dnerf-semantic"
VERSION = 1


# Config fields added with EG3D parity, and the values that mean "as before": a generator loaded
# with them (a version 1 weight file) keeps the identity it had, so branches trained on it still fit.
PRE_PARITY_FIELDS = (", importance_bins='samples'", ", upconv_order='fir_first'")


# Rendering fields that only steer the fast render path (empty-space skipping, early
# termination): they change no weight and no volume render, so they are not part of the identity.
FAST_PATH_FIELDS = ("occupancy_resolution", "occupancy_threshold", "occupancy_subsamples",
                    "termination_transmittance")
_FAST_PATH_FIELD_TEXT = re.compile(r", (?:%s)=[^,)]*" % "|".join(FAST_PATH_FIELDS))


def _config_text(config) -> str:
    text = _FAST_PATH_FIELD_TEXT.sub("", repr(config))
    for old in PRE_PARITY_FIELDS:
        text = text.replace(old, "")
    return text


def generator_identity(generator) -> str:
    """sha256 of the generator's configuration and every weight: same weights, same identity,
    whichever file format they came from."""
    h = hashlib.sha256()
    h.update(_config_text(generator.config).encode())
    for name, tensor in sorted(generator.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_semantic(path: str | Path, branch: SemanticBranch, label_set: LabelSet, generator_id: str,
                  generator_spec: str, extra: dict | None = None) -> None:
    payload = {
        "format": FORMAT, "version": VERSION, "generator_identity": generator_id, "generator_spec": generator_spec,
        "labels": label_set.to_json(), "config": asdict(branch.config), "layout": asdict(branch.layout),
        "box_warp": float(branch.box_warp), "sr_scale": int(branch.superres.scale),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in branch.state_dict().items()},
        "extra": json.dumps(extra or {}),
    }
    save_tagged(path, payload)


def read_semantic(path: str | Path) -> dict:
    return load_tagged(path, FORMAT, VERSION, "semantic checkpoint")


def load_semantic(path: str | Path, generator) -> tuple[SemanticBranch, LabelSet]:
    """The branch and its label set; refused when `generator` is not the one it was trained on."""
    payload = read_semantic(path)
    if not hasattr(generator, "config") or not hasattr(generator, "state_dict"):
        raise CheckpointError(f"{path}: a semantic branch needs a tri-plane generator, not {generator.name}")
    if payload["generator_identity"] != generator_identity(generator):
        raise CheckpointError(f"{path} was trained on another generator ({payload['generator_spec']}); "
                              f"it does not fit {generator.name}")
    layout = payload["layout"]
    layout = AugmentedLayout(tuple(layout["block_channels"]), tuple(layout["block_resolutions"]),
                             int(layout["plane_resolution"]), int(layout["channels_per_plane"]))
    branch = SemanticBranch(SemanticConfig(**payload["config"]), layout, payload["box_warp"], payload["sr_scale"])
    try:
        branch.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored config ({str(exc).splitlines()[0]})") from exc
    return branch.eval(), LabelSet.from_json(payload["labels"])
