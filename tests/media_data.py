"""Where the tests find sample data: ``tests/data`` copies first, else the shared data set.

The one place that resolves the shared data directory (``conftest.py`` uses it too). Missing
data fails the test with a message saying where it looked, never skips it: a suite that skips
its media tests in CI would pass without testing anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS_DATA = Path(__file__).resolve().parent / "data"
REPO = TESTS_DATA.parents[1]
SHARED_DATA_ENV = "HASHCORE_SHARED_DATA"


def shared_data_dir() -> Path:
    """``$HASHCORE_SHARED_DATA``, else ``../shared/data`` beside the repository (CI has it)."""
    env = os.environ.get(SHARED_DATA_ENV)
    return Path(env) if env else REPO.parent / "shared" / "data"


def require_shared_data() -> Path:
    """The shared data directory; fails the test if it is not there."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared sample data not found at {path}; set {SHARED_DATA_ENV}")
    return path


def shared_file(relative: str) -> Path:
    """A file of the shared data set by its path under it; fails the test if it is missing."""
    path = require_shared_data() / relative
    if not path.exists():
        pytest.fail(f"shared sample file {relative} not found in {path.parent}")
    return path


def media(relative: str) -> Path:
    """A sample file by its path under the data folders; fails the test if it is in neither."""
    local = TESTS_DATA / relative
    if local.exists():
        return local
    roots = f"{TESTS_DATA} or {shared_data_dir()}"
    if not shared_data_dir().is_dir():
        pytest.fail(f"sample data {relative} not found in {roots}; set {SHARED_DATA_ENV}")
    candidate = shared_data_dir() / relative
    if not candidate.exists():
        pytest.fail(f"sample data {relative} not found in {roots}")
    return candidate
