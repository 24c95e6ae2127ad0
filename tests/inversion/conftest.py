"""Fixtures: the shipped default generators with their semantic branches (real weights)."""
from __future__ import annotations

import pytest

from dnerf_core import load_generator


@pytest.fixture(scope="session")
def face():
    return load_generator("default:face")


@pytest.fixture(scope="session")
def car():
    return load_generator("default:car")
