"""Shared fixtures: where the sample data is, and the loaded plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hashcore.registry import SignalRegistry, load_registry

REPO = Path(__file__).resolve().parent
DATA = REPO / "tests" / "data"


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository (CI has it), or ``HASHCORE_SHARED_DATA``."""
    return Path(os.environ.get("HASHCORE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared sample data not found at {path}; set HASHCORE_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def registry() -> SignalRegistry:
    return load_registry()
