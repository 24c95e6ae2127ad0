"""dnerf's own tri-plane weight files: a plain dict of numbers, strings and tensors, so they load
with torch.load(weights_only=True) and never execute code.

    {"format": "dnerf-triplane", "version": 1, "name": str, "config": {...}, "state_dict": {...}}
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path


from ..cameras import OrbitSpec
from ..errors import CheckpointError
from ..io.tagged_file import load_tagged, save_tagged
from ..render.config import RenderingConfig
from .networks.superres import SuperResConfig
from .triplane_gan import TriPlaneConfig, TriPlaneGAN

FORMAT = "dnerf-triplane"
VERSION = 1


def config_to_dict(config: TriPlaneConfig) -> dict:
    return asdict(config)


def config_from_dict(data: dict) -> TriPlaneConfig:
    """Rebuild a TriPlaneConfig from config_to_dict's output; unknown or missing keys are refused."""
    try:
        data = dict(data)
        data["rendering"] = RenderingConfig(**data["rendering"])
        orbit = dict(data["orbit"])
        data["orbit"] = OrbitSpec(float(orbit["radius"]), tuple(orbit["pivot"]), float(orbit["focal"]),
                                  tuple(orbit["yaw_range"]), tuple(orbit["pitch_range"]))
        if data.get("superres") is not None:
            sr = dict(data["superres"])
            sr["channels"] = tuple(sr["channels"])
            data["superres"] = SuperResConfig(**sr)
        return TriPlaneConfig(**data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint's generator config is not valid: {exc}") from exc


def save_triplane(path: str | Path, model: TriPlaneGAN) -> None:
    save_tagged(path, {"format": FORMAT, "version": VERSION, "name": model.name,
                       "config": config_to_dict(model.config),
                       "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}})


def load_triplane(path: str | Path, name: str | None = None) -> TriPlaneGAN:
    """Load a file written by save_triplane (weights_only: nothing in the file is executed)."""
    path = Path(path)
    payload = load_tagged(path, FORMAT, VERSION, "dnerf tri-plane weight file")
    model = TriPlaneGAN(config_from_dict(payload["config"]), name=name or payload.get("name", path.stem))
    missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()
