"""Atomic file writes: write to a temp file in the target folder, fsync, then rename over.

A crash or an exception mid-write leaves either the old file or nothing, never half a file.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from ..errors import DnerfError


def ensure_dir(path: str | Path) -> Path:
    """Create a folder (and parents), with a clear error when that is not possible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DnerfError(f"cannot create output folder {path}: {exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise DnerfError(f"output folder is not writable: {path}")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temp file name next to `path` for writers that want a name, not a handle (suffix: what
    they read the format from); on success it replaces `path`, on error it is removed."""
    path = Path(path)
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise DnerfError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file next to `path`; on success it replaces `path`, on error it is removed."""
    if mode not in ("wb", "w"):
        raise ValueError("atomic_open writes only ('wb' or 'w')")
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class StagedOutput:
    """A staging folder inside an output folder: write everything into `stage`; on success every
    file is moved into `out` (a rename each) and listed in `published`; on failure nothing moves."""

    def __init__(self, out: Path, stage: Path):
        self.out, self.stage, self.published = out, stage, []

    def publish(self) -> list[Path]:
        """Every destination is checked first, so a conflict stops before anything moves."""
        staged = sorted(p for p in self.stage.rglob("*") if p.is_file())
        for src in staged:
            dst = self.out / src.relative_to(self.stage)
            for part in [*reversed(dst.relative_to(self.out).parents[:-1]), dst.relative_to(self.out)]:
                blocker = self.out / part
                if blocker == dst and blocker.exists() and not blocker.is_file():
                    raise DnerfError(f"cannot write {dst}: something that is not a file is in the way")
                if blocker != dst and blocker.exists() and not blocker.is_dir():
                    raise DnerfError(f"cannot write {dst}: {blocker} is not a folder")
        for src in staged:
            dst = self.out / src.relative_to(self.stage)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            self.published.append(dst)
        return self.published


@contextlib.contextmanager
def staged_output(out: str | Path) -> Iterator[StagedOutput]:
    """Create `out` if needed and stage into it; publish when the block succeeds."""
    import shutil

    out = ensure_dir(out)
    try:
        stage = Path(tempfile.mkdtemp(prefix=".dnerf-staging-", dir=out))
    except OSError as exc:
        raise DnerfError(f"cannot write into output folder {out}: {exc.strerror or exc}") from exc
    staged = StagedOutput(out, stage)
    try:
        yield staged
        staged.publish()
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def emit_json(report: dict, out: str | Path | None) -> str:
    """Print a report as indented JSON and, when `out` is given, write it there atomically."""
    import json

    text = json.dumps(report, indent=2)
    print(text)
    if out:
        atomic_write_text(out, text + "\n")
    return text
