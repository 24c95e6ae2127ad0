"""Shared by the research tests: research/ is put on sys.path, as its scripts do, so
`dnerf_research` (bounds, ceilings, baselines, quality measurements) imports like a package."""
import sys
from pathlib import Path

import pytest

RESEARCH = Path(__file__).resolve().parents[2] / "research"
if str(RESEARCH) not in sys.path:
    sys.path.insert(0, str(RESEARCH))


@pytest.fixture(scope="module")
def car():
    """The shipped default:car with its semantic branch."""
    from dnerf_core import load_generator

    return load_generator("default:car", device="cpu")
