"""Shared pytest fixtures."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GLTF_VALIDATE_SCRIPT = REPO / "tests" / "gltf_validate.mjs"
GLTF_VALIDATOR_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def gltf_validator():
    """A function path -> the Khronos glTF-Validator JSON report (dict) for that file.

    Fails (never skips) when node or the npm package is missing: the GLB check is part of the
    suite, and `scripts/setup.sh --dev` installs what it needs.
    """
    tools = Path(os.environ.get("DNERF_TOOLS", REPO / ".tools"))
    node = shutil.which("node")
    package = tools / "node_modules" / "gltf-validator" / "package.json"
    if node is None or not package.is_file():
        pytest.fail(f"the Khronos glTF validator is missing (node: {node or 'not on PATH'}, "
                    f"package: {package} {'found' if package.is_file() else 'not found'}); "
                    "run scripts/setup.sh --dev", pytrace=False)

    def validate(path: str | Path) -> dict:
        proc = subprocess.run([node, str(GLTF_VALIDATE_SCRIPT), str(path), str(tools)],
                              capture_output=True, text=True, timeout=GLTF_VALIDATOR_TIMEOUT_S)
        if proc.returncode != 0:
            pytest.fail(f"glTF validator failed on {path} (exit {proc.returncode}): {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    return validate
