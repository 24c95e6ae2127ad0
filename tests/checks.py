"""Small assertions several test files share."""
import pytest

from dnerf_core import DnerfError


def raises_naming_file(call, path, message: str) -> None:
    """call(path) raises a DnerfError matching `message` whose text names the file."""
    with pytest.raises(DnerfError, match=message) as info:
        call(path)
    assert str(path) in str(info.value)
