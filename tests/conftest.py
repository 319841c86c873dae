from __future__ import annotations

from typing import Any

import pytest

from tests.cast import Cast, make_cast


@pytest.fixture
def cast(db: Any) -> Cast:
    """Two organisations, every role, keys of each scope (see tests/cast.py)."""
    return make_cast()
