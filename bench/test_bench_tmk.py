"""TMK+PDQF benchmarks: hashing throughput of an SD video and level-2 scoring cost.

Run: ``.venv/bin/python -m pytest bench/test_bench_tmk.py --benchmark-enable``.
Hashing includes decoding (as a real lookup pays it). Level 2 is timed per pair and as one
vectorised rerank of 1000 candidates, the shape an index uses after its level-1 pre-filter.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_REPO = Path(__file__).resolve().parents[1]
try:
    import hashcore_tmk  # noqa: F401
except ImportError:  # a checkout where the plugin is not installed
    sys.path.insert(0, str(_REPO / "plugins" / "tmk_video"))

from hashcore_tmk import (  # noqa: E402
    TmkFeature,
    compute_tmk,
    level1_many,
    level2,
    level2_many,
    read_tmk,
)
from hashcore_tmk.score import offset_tables  # noqa: E402

SD_SOURCE_FRAMES = 564  # chair-19-sd-bar.mp4: 480x720 h264 at 30 fps -> 284 frames at 15 fps
CANDIDATES = 1000


def _record(benchmark: Any, **per_second: float) -> None:
    """Add derived rates to the report (stats are absent under --benchmark-disable)."""
    if benchmark.stats is None:
        return
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["seconds_per_call"] = round(mean, 6)
    for name, amount in per_second.items():
        benchmark.extra_info[name] = round(amount / mean, 1)


@pytest.fixture(scope="module")
def references() -> list[TmkFeature]:
    base = os.environ.get("HASHCORE_SHARED_DATA", _REPO.parent / "shared" / "data")
    paths = sorted((Path(base) / "tmk" / "reference").glob("*.tmk"))
    if len(paths) < 2:
        pytest.skip(f"reference .tmk files not found under {base}: set HASHCORE_SHARED_DATA")
    offset_tables()  # the one-off table build is not part of a pair's cost
    return [read_tmk(path) for path in paths]


def test_tmk_hash_sd_video(benchmark: Any, sd_video: Path) -> None:
    benchmark.group = "TMK+PDQF hashing (chair-19-sd-bar.mp4)"
    feature = benchmark.pedantic(compute_tmk, args=(sd_video,), rounds=3, iterations=1)
    assert feature.frame_count == 284
    _record(
        benchmark, output_frames_per_s=feature.frame_count, source_frames_per_s=SD_SOURCE_FRAMES
    )


def test_tmk_level2_pair(benchmark: Any, references: list[TmkFeature]) -> None:
    benchmark.group = "TMK+PDQF scoring"
    score = benchmark(level2, references[0], references[1])
    assert 0.0 <= score <= 1.0 + 1e-5
    _record(benchmark, pairs_per_s=1)


def test_tmk_level2_many_1000(benchmark: Any, references: list[TmkFeature]) -> None:
    benchmark.group = "TMK+PDQF scoring"
    picks = [references[i % len(references)] for i in range(CANDIDATES)]
    cos = np.stack([f.cos for f in picks])
    sin = np.stack([f.sin for f in picks])
    scores = benchmark(level2_many, references[0], cos, sin)
    assert scores.shape == (CANDIDATES,)
    _record(benchmark, candidates_per_s=CANDIDATES)


def test_tmk_level1_many_1000(benchmark: Any, references: list[TmkFeature]) -> None:
    benchmark.group = "TMK+PDQF scoring"
    averages = np.stack([references[i % len(references)].average for i in range(CANDIDATES)])
    scores = benchmark(level1_many, references[0], averages)
    assert scores.shape == (CANDIDATES,)
    _record(benchmark, candidates_per_s=CANDIDATES)
