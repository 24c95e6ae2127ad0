"""Fixtures: the shipped default generators with their semantic branches (real weights)."""
from __future__ import annotations

import pytest

from dnerf_core.generators.registry import load_labeled_generator


@pytest.fixture(scope="session")
def face():
    return load_labeled_generator("default:face")


@pytest.fixture(scope="session")
def car():
    return load_labeled_generator("default:car")
