"""Shared by the evaluation tests."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny renders are dominated by thread synchronization; on a busy machine two torch threads
    make them ~10x slower than one. Modules opt in with pytestmark = usefixtures("one_thread")."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
