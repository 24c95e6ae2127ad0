"""Running the installed console scripts from tests (the e2e tier)."""
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent  # where the venv put `dnerf` and `dnerf-export`
CLI_TIMEOUT_S = 600


def run_cli(args: list[str], timeout: float = CLI_TIMEOUT_S, **kw) -> subprocess.CompletedProcess:
    """The finished process of `args` with its text output captured."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
