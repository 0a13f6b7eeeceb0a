"""Fixtures for the TMK+PDQF tests: locating the shared samples and hashing each video once."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

_PLUGIN_ROOT = Path(__file__).resolve().parents[1]
_REPO_ROOT = _PLUGIN_ROOT.parents[1]

# Let the suite run from a checkout without installing the distribution.
try:
    import hashcore_tmk  # noqa: F401
except ImportError:
    sys.path.insert(0, str(_PLUGIN_ROOT))

from hashcore_tmk import TmkFeature, compute_tmk, read_tmk  # noqa: E402


def tmk_data_dir() -> Path:
    """``<shared data>/tmk``: $HASHCORE_SHARED_DATA, else ``<repo>/../shared/data``."""
    base = os.environ.get("HASHCORE_SHARED_DATA")
    root = Path(base) if base else _REPO_ROOT.parent / "shared" / "data"
    return root / "tmk"


def video_paths() -> list[Path]:
    return sorted((tmk_data_dir() / "videos").glob("*.mp4"))


def reference_paths() -> list[Path]:
    return sorted((tmk_data_dir() / "reference").glob("*.tmk"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``video_stem`` / ``reference_stem`` over the sample files found.

    A lone placeholder id stands in when the data is missing, so those tests fail, not vanish.
    """
    for name, paths in (("video_stem", video_paths), ("reference_stem", reference_paths)):
        if name in metafunc.fixturenames:
            found = [path.stem for path in paths()] or ["<no sample data>"]
            metafunc.parametrize(name, found)


@pytest.fixture(scope="session")
def video_stems(tmk_data: Path) -> list[str]:
    """Stems of all sample videos."""
    return [path.stem for path in video_paths()]


_features: dict[str, TmkFeature] = {}


@pytest.fixture(scope="session")
def tmk_data() -> Path:
    """``<shared data>/tmk``; CI has it beside the repository, so its absence is a failure."""
    path = tmk_data_dir()
    if not (path / "videos").is_dir() or not (path / "reference").is_dir():
        pytest.fail(f"TMK sample data not found at {path}; set HASHCORE_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def our_feature(tmk_data: Path) -> Callable[[str], TmkFeature]:
    """Hash a sample video by stem, once per session (hashing is the slow part of the suite)."""

    def get(stem: str) -> TmkFeature:
        if stem not in _features:
            path = tmk_data / "videos" / f"{stem}.mp4"
            if not path.is_file():
                pytest.fail(f"no sample video {stem} in {tmk_data}")
            _features[stem] = compute_tmk(path)
        return _features[stem]

    return get


@pytest.fixture(scope="session")
def ref_feature(tmk_data: Path) -> Callable[[str], TmkFeature]:
    """Read a reference ``.tmk`` by stem."""
    cache: dict[str, TmkFeature] = {}

    def get(stem: str) -> TmkFeature:
        if stem not in cache:
            path = tmk_data / "reference" / f"{stem}.tmk"
            if not path.is_file():
                pytest.fail(f"no reference feature {stem} in {tmk_data}")
            cache[stem] = read_tmk(path)
        return cache[stem]

    return get
