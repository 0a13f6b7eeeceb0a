"""Fixtures for the vPDQ tests: the shared samples, and features hashed once per session."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

_PLUGIN_ROOT = Path(__file__).resolve().parents[1]
_REPO_ROOT = _PLUGIN_ROOT.parents[1]
DATA = Path(__file__).resolve().parent / "data"

# Let the suite run from a checkout without installing the distribution.
try:
    import hashcore_vpdq  # noqa: F401
except ImportError:
    sys.path.insert(0, str(_PLUGIN_ROOT))

from hashcore_vpdq import VpdqFeature, compute_vpdq  # noqa: E402


def shared_dir() -> Path:
    """$HASHCORE_SHARED_DATA, else ``<repo>/../shared/data``."""
    base = os.environ.get("HASHCORE_SHARED_DATA")
    return Path(base) if base else _REPO_ROOT.parent / "shared" / "data"


def video_paths() -> list[Path]:
    """Sample videos that have a reference vPDQ file."""
    references = shared_dir() / "vpdq" / "reference"
    return [
        path
        for path in sorted((shared_dir() / "tmk" / "videos").glob("*.mp4"))
        if (references / f"{path.stem}.txt").is_file()
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``video_stem`` over the samples found; a placeholder fails when the data is missing."""
    if "video_stem" in metafunc.fixturenames:
        found = [path.stem for path in video_paths()] or ["<no sample data>"]
        metafunc.parametrize("video_stem", found)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data; CI has it beside the repository, so its absence is a failure."""
    path = shared_dir()
    if not (path / "vpdq" / "reference").is_dir() or not (path / "tmk" / "videos").is_dir():
        pytest.fail(f"vPDQ sample data not found at {path}; set HASHCORE_SHARED_DATA")
    return path


def sample(shared: Path, stem: str) -> Path:
    path = shared / "tmk" / "videos" / f"{stem}.mp4"
    if not path.is_file():
        pytest.fail(f"no sample video {stem} in {path.parent}")
    return path


_features: dict[str, VpdqFeature] = {}


@pytest.fixture(scope="session")
def feature(shared: Path) -> Callable[[str], VpdqFeature]:
    """A sample's feature at the plugin's default 0.1 s, hashed once per session."""

    def get(stem: str) -> VpdqFeature:
        if stem not in _features:
            _features[stem] = compute_vpdq(sample(shared, stem), seconds_per_hash=0.1)
        return _features[stem]

    return get
