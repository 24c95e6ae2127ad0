"""Fitted subjects on disk: the latents (w+) and camera pose an inversion or edit found, bound to
the generator they belong to (a file made on another generator is refused), weights_only."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..errors import CheckpointError
from ..generators.base import Subject
from ..generators.spec import describe
from ..io.tagged_file import load_tagged, save_tagged
from .fit import synthesize_ws
from .inputs import unwrap
from .pose import Pose

FORMAT = "dnerf-fitted-subject"
VERSION = 1
KINDS = ("rgb", "mask", "edit")


@dataclass
class FittedSubject:
    """ws [1,num_ws,w_dim]; pose: the camera of the view it was fitted to; kind: how it was made
    (rgb / mask inversion, edit); generator_spec / generator_identity: what it belongs to;
    info: free-form provenance (source file, seed edited, losses...)."""

    ws: Tensor
    pose: Pose
    kind: str
    generator_spec: str
    generator_identity: str
    info: dict = field(default_factory=dict)

    def subject(self, generator) -> Subject:
        gen, _ = unwrap(generator)
        with torch.no_grad():
            return synthesize_ws(gen, self.ws.to(gen.backbone.mapping.w_avg.dtype))


def save_fitted(path: str | Path, fitted: FittedSubject) -> None:
    if fitted.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {fitted.kind!r}")
    save_tagged(path, {
        "format": FORMAT, "version": VERSION, "ws": fitted.ws.detach().cpu().contiguous(),
        "pose": [fitted.pose.yaw, fitted.pose.pitch, fitted.pose.radius], "kind": fitted.kind,
        "generator_spec": fitted.generator_spec, "generator_identity": fitted.generator_identity,
        "info": json.dumps(fitted.info),
    })


def load_fitted(path: str | Path, generator) -> FittedSubject:
    """The fitted subject in `path`; refused unless it was fitted on `generator`."""
    from ..semantic.checkpoint import generator_identity

    payload = load_tagged(path, FORMAT, VERSION, "fitted subject")
    gen, _ = unwrap(generator)
    if payload["generator_identity"] != generator_identity(gen):
        raise CheckpointError(f"{path} was fitted on another generator ({payload['generator_spec']}); "
                              "it does not fit the generator it was given with")
    ws = payload["ws"]
    if ws.ndim != 3 or tuple(ws.shape[1:]) != (gen.num_ws, gen.config.w_dim):
        raise CheckpointError(f"{path}: latents of shape {tuple(ws.shape)} do not fit this generator")
    yaw, pitch, radius = (float(v) for v in payload["pose"])
    return FittedSubject(ws, Pose(yaw, pitch, radius), payload["kind"], payload["generator_spec"],
                         payload["generator_identity"], json.loads(payload["info"]))


def fitted_from(generator, ws: Tensor, pose: Pose, kind: str, info: dict | None = None) -> FittedSubject:
    from ..semantic.checkpoint import generator_identity

    gen, _ = unwrap(generator)
    return FittedSubject(ws.detach().clone(), pose, kind, describe(generator), generator_identity(gen), dict(info or {}))
