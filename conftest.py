"""Shared fixtures: where the sample data is, and the loaded plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashcore.registry import SignalRegistry, load_registry
from tests.media_data import TESTS_DATA, require_shared_data


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return TESTS_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository (CI has it), or ``HASHCORE_SHARED_DATA``."""
    return require_shared_data()


@pytest.fixture(scope="session")
def registry() -> SignalRegistry:
    return load_registry()
