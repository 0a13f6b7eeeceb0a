"""Hashing throughput per algorithm: a ~1 MP JPEG and an SD video.

Run: ``.venv/bin/python -m pytest bench/test_bench_hashing.py --benchmark-enable``.
Each algorithm is timed on its own (decoding included, as a real lookup pays it), and the whole
pipeline (``hash_file``: every applicable family) side by side in the same run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hashcore import Media, hash_file, load_registry
from hashcore.content import ContentKind

REGISTRY = load_registry()
IMAGE_TYPES = [t.name for t in REGISTRY.applicable(ContentKind.IMAGE)]
VIDEO_TYPES = [t.name for t in REGISTRY.applicable(ContentKind.VIDEO)]


@pytest.mark.parametrize("family", IMAGE_TYPES)
def test_image_family(benchmark, megapixel_jpeg: Path, family: str) -> None:
    signal_type = REGISTRY.get(family)
    benchmark.group = "1 MP JPEG"
    benchmark(lambda: signal_type.hash(Media(megapixel_jpeg, ContentKind.IMAGE)))


def test_image_all_families(benchmark, megapixel_jpeg: Path) -> None:
    benchmark.group = "1 MP JPEG"
    result = benchmark(lambda: hash_file(megapixel_jpeg, REGISTRY))
    assert result.ok


def test_image_pdq_dihedral_lookup_variants(benchmark, megapixel_jpeg: Path) -> None:
    benchmark.group = "1 MP JPEG"
    signal_type = REGISTRY.get("pdq")
    benchmark(lambda: signal_type.hash_variants(Media(megapixel_jpeg, ContentKind.IMAGE)))


@pytest.mark.parametrize("family", VIDEO_TYPES)
def test_video_family(benchmark, sd_video: Path, family: str) -> None:
    signal_type = REGISTRY.get(family)
    benchmark.group = "SD video (chair-19-sd-bar.mp4, 2.1 MB)"
    benchmark.pedantic(
        lambda: signal_type.hash(Media(sd_video, ContentKind.VIDEO)), rounds=3, iterations=1
    )
