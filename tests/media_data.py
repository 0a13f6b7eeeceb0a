"""Where the tests find sample media: ``tests/data`` copies first, else the shared data set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS_DATA = Path(__file__).parent / "data"


def shared_data() -> Path:
    """``$HASHCORE_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("HASHCORE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def media(relative: str) -> Path:
    """A sample file by its path under the data folder; skips the test if it is nowhere."""
    for root in (TESTS_DATA, shared_data()):
        candidate = root / relative
        if candidate.exists():
            return candidate
    pytest.skip(f"sample data {relative} not available")
