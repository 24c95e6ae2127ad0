"""dnerf's own weight files: a plain dict tagged with a format name and version, saved with
torch.save and read back with weights_only=True (nothing in the file is ever executed)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CheckpointError


def save_tagged(path: str | Path, payload: dict) -> None:
    from .atomic import atomic_open

    with atomic_open(Path(path)) as fh:
        torch.save(payload, fh)


def load_tagged(path: str | Path, fmt: str, version: int | tuple[int, ...], what: str) -> dict:
    """The payload of a file saved by save_tagged with this format and version (or one of these
    versions), else CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        raise CheckpointError(f"{path}: not a loadable {what} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path}: not a {what} (format {fmt!r} expected)")
    versions = version if isinstance(version, tuple) else (version,)
    if payload.get("version") not in versions:
        raise CheckpointError(f"{path}: {what} version {payload.get('version')!r}, "
                              f"this dnerf reads {' or '.join(map(str, versions))}")
    return payload
