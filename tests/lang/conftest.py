
import pytest

from portflow.lang import builtin_languages


@pytest.fixture
def languages():
    return builtin_languages()
