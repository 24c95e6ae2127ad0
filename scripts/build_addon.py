#!/usr/bin/env python3
"""Build the installable Blender extension zip from blender_addon/.

    python scripts/build_addon.py [--out out/dnerf-0.1.0.zip]

The zip holds blender_manifest.toml at its root next to the add-on's Python files and README.md
(the layout `blender --command extension build` produces, and what Blender's "Install from Disk"
and `bpy.ops.extensions.package_install_files` accept). Entries are sorted and carry a fixed
timestamp, so the same sources give a byte-identical zip. Prints the zip's path.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "blender_addon"
MANIFEST = "blender_manifest.toml"
INCLUDE_SUFFIXES = (".py", ".toml", ".md")
FIXED_DATE = (2024, 1, 1, 0, 0, 0)  # zip timestamps: reproducible builds
REQUIRED_KEYS = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
                 "blender_version_min", "license")


def read_manifest(source: Path = SOURCE) -> dict:
    path = source / MANIFEST
    if not path.is_file():
        raise SystemExit(f"error: {path} not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SystemExit(f"error: {path} is not valid TOML: {exc}") from None
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise SystemExit(f"error: {path} lacks {', '.join(missing)}")
    return data


def package_files(source: Path = SOURCE) -> list[Path]:
    """The files that go into the zip: sources and docs, no caches."""
    return sorted(p for p in source.rglob("*")
                  if p.is_file() and p.suffix in INCLUDE_SUFFIXES and "__pycache__" not in p.parts)


def build(out: Path | None = None, source: Path = SOURCE) -> Path:
    manifest = read_manifest(source)
    out = out or REPO / "out" / f"{manifest['id']}-{manifest['version']}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in package_files(source):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)  # never leave a half-written zip under the final name
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="zip path [default: out/<id>-<version>.zip]")
    args = parser.parse_args(argv)
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
