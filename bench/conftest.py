"""Benchmark fixtures: sample media shared by the benchmark modules."""

from __future__ import annotations

import compileall
import os
import re
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("HASHCORE_SHARED_DATA", REPO.parent / "shared" / "data"))


COMPILED_SOURCES = ("hashcore", "server", "plugins", "bench")
HIDDEN_FOLDER = re.compile(r"/\.[^/]+/")
"""Not compiled: bench/.corpus holds the robustness corpus's unpacked packages (Python 2 among
them), which would fail and take minutes."""


@pytest.fixture(scope="session", autouse=True)
def bytecode() -> None:
    """Every source compiled, as a wheel's install leaves them (``make bytecode``): an editable
    install's commands would otherwise time Python's compiler at each start (~0.07 s, on every
    run where ``PYTHONDONTWRITEBYTECODE`` is set), which no user's install pays."""
    for folder in COMPILED_SOURCES:
        compileall.compile_dir(REPO / folder, quiet=1, rx=HIDDEN_FOLDER)


@pytest.fixture(scope="session")
def megapixel_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~1 MP JPEG (1155x866) made from a public sample photo."""
    source = REPO / "tests" / "data" / "pdq" / "dih" / "bridge-1-original.jpg"
    path = tmp_path_factory.mktemp("bench") / "one-megapixel.jpg"
    Image.open(source).convert("RGB").resize((1155, 866), Image.Resampling.LANCZOS).save(
        path, quality=90
    )
    return path


@pytest.fixture(scope="session")
def sd_video() -> Path:
    """An SD sample video (chair clip, 24 s) from ../shared/data."""
    path = shared_data_dir() / "tmk" / "videos" / "chair-19-sd-bar.mp4"
    if not path.exists():
        pytest.skip(f"{path} not found: set HASHCORE_SHARED_DATA")
    return path
