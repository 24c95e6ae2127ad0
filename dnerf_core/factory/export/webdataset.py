"""WebDataset tar shards written with the standard library, byte for byte repeatable.

A WebDataset shard is a plain tar whose members are grouped into samples by their basename up to
the first dot (the sample key): KEY.rgb.png, KEY.mask.png, KEY.depth.png, KEY.json. Members get a
fixed mtime, owner and mode and are written in the order given, so the same samples give the same
bytes on every machine. Samples are streamed: nothing but the current member is held in memory.
"""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from ...errors import DnerfError

FIXED_MTIME = 0  # 1970-01-01: bytes must not depend on when the shard was written
FILE_MODE = 0o644


class TarShardWriter:
    """Append samples to a new tar file at `path` (opened on creation, closed by close())."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._fh = open(self.path, "xb")
        except OSError as exc:
            raise DnerfError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        # USTAR: fixed-size headers, no PAX records with times or locale-dependent names.
        self._tar = tarfile.open(fileobj=self._fh, mode="w", format=tarfile.USTAR_FORMAT)
        self.samples = 0

    def add_sample(self, key: str, members: dict[str, bytes]) -> None:
        """Write one sample: members maps an extension ('rgb.png', 'json') to its bytes."""
        if "." in key or "/" in key:
            raise DnerfError(f"a WebDataset sample key cannot contain '.' or '/': {key!r}")
        for ext, data in members.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode = len(data), FIXED_MTIME, FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            self._tar.addfile(info, io.BytesIO(data))
        self.samples += 1

    def close(self) -> None:
        self._tar.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def __enter__(self) -> "TarShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        if not self._fh.closed:
            self.close()
