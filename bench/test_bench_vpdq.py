"""vPDQ benchmarks: hashing speed against decoding alone, and lookup cost per banked frames.

Run: ``.venv/bin/python -m pytest bench/test_bench_vpdq.py --benchmark-enable -s``.

Hashing: ``compute_vpdq`` on the SD sample (chair-19-sd-bar.mp4, 18.8 s, 564 frames at 30 fps)
at the plugin's default (a frame every 0.1 s), at pytx's one a second, and every frame (the
reference files' mode), beside a pass that decodes the same frames through the same code and
hashes nothing: the ratio of the two is what vPDQ adds to decoding. ``x_real_time`` = video
seconds per wall second of the mean round.

Lookup: a :class:`VpdqIndex` of ``HASHCORE_BENCH_VPDQ_FRAMES`` banked frames (default
``100000,1000000``) in videos of 300 frames (30 s at 0.1 s), uniform random codes (the worst
case for the Hamming index's buckets); one query is a 40-frame clip of a banked video with 8
bits flipped per frame (a match), one is 40 random frames (no match). ``index_mb`` is the
memory the index holds (Hamming index arrays and tables, plus the per-frame arrays kept here).
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
    import hashcore_vpdq  # noqa: F401
except ImportError:  # a checkout where the plugin is not installed
    sys.path.insert(0, str(_REPO / "plugins" / "vpdq"))

from hashcore_vpdq import VpdqFeature, compute_vpdq  # noqa: E402
from hashcore_vpdq.frames import decoded_frames  # noqa: E402
from hashcore_vpdq.index import VpdqIndex  # noqa: E402

SD_SECONDS = 564 / 30
FRAMES_PER_VIDEO = 300
QUERY_FRAMES = 40


def _sizes() -> list[int]:
    return [
        int(n) for n in os.environ.get("HASHCORE_BENCH_VPDQ_FRAMES", "100000,1000000").split(",")
    ]


def _record(benchmark: Any, **amounts: float) -> None:
    """Per-second rates of ``amounts`` from the mean round (no stats when benchmarks are off)."""
    stats = benchmark.stats
    if stats is not None:
        mean = stats.stats.mean
        rates = {name: round(amount / mean, 2) for name, amount in amounts.items()}
        benchmark.extra_info.update(rates, seconds_per_call=round(mean, 6))


def _decode_only(path: Path) -> int:
    with decoded_frames(path) as (_, _, frames):
        return sum(1 for _ in frames)


def test_vpdq_decode_only_sd(benchmark: Any, sd_video: Path) -> None:
    benchmark.group = "vPDQ hashing (chair-19-sd-bar.mp4) against decoding alone"
    count = benchmark.pedantic(_decode_only, args=(sd_video,), rounds=3, iterations=1)
    assert count == 564
    _record(benchmark, x_real_time=SD_SECONDS)


@pytest.mark.parametrize("seconds", [0.1, 1.0, 0.0])
def test_vpdq_hash_sd(benchmark: Any, sd_video: Path, seconds: float) -> None:
    benchmark.group = "vPDQ hashing (chair-19-sd-bar.mp4) against decoding alone"
    rounds = 1 if seconds == 0.0 else 3
    feature = benchmark.pedantic(
        compute_vpdq, args=(sd_video,), kwargs={"seconds_per_hash": seconds}, rounds=rounds
    )
    assert len(feature) == {0.1: 188, 1.0: 19, 0.0: 564}[seconds]
    _record(benchmark, x_real_time=SD_SECONDS, frames_hashed_per_s=len(feature))


def _video(rng: np.random.Generator, frames: int) -> VpdqFeature:
    return VpdqFeature(
        rng.integers(0, 256, (frames, 32), dtype=np.uint8),
        np.full(frames, 100, np.uint8),
        np.arange(frames, dtype=np.int64) * 100,
    )


def _flipped(rng: np.random.Generator, codes: np.ndarray, bits: int) -> np.ndarray:
    out = codes.copy()
    for row in out:
        for bit in rng.choice(256, bits, replace=False):
            row[bit // 8] ^= 1 << (7 - bit % 8)
    return out


@pytest.fixture(scope="module", params=_sizes(), ids=lambda n: f"{n}-frames")
def banked(request: pytest.FixtureRequest) -> tuple[VpdqIndex, list[bytes], int]:
    frames = int(request.param)
    rng = np.random.default_rng(18)
    index = VpdqIndex()
    videos = [_video(rng, FRAMES_PER_VIDEO) for _ in range(frames // FRAMES_PER_VIDEO)]
    index.add(list(range(len(videos))), [v.to_bytes() for v in videos])
    index.compact()
    source = videos[len(videos) // 2]
    rows = slice(100, 100 + QUERY_FRAMES)
    clip = VpdqFeature(_flipped(rng, source.hashes[rows], 8), source.quality[rows], source.ms[rows])
    other = _video(rng, QUERY_FRAMES)
    return index, [clip.to_bytes(), other.to_bytes()], len(videos) // 2


def _index_mb(index: VpdqIndex) -> float:
    frames = index._frames  # the Hamming index inside (a benchmark may look)
    own = index._codes.nbytes + index._ms.nbytes + index._owner.nbytes
    return round((frames.nbytes_resident + own) / 1e6, 1)


@pytest.mark.parametrize("which", ["clip", "unrelated"])
def test_vpdq_lookup(
    benchmark: Any, banked: tuple[VpdqIndex, list[bytes], int], which: str
) -> None:
    index, queries, source = banked
    benchmark.group = f"vPDQ lookup, {index.frame_count:,} banked frames"
    query = queries[0] if which == "clip" else queries[1]
    found = benchmark(index.range_search, [query], 80.0)
    ids = found.value_ids.tolist()
    assert ids == ([source] if which == "clip" else [])
    _record(benchmark, lookups_per_s=1, query_frames_per_s=QUERY_FRAMES)
    if benchmark.stats is not None:
        benchmark.extra_info["index_mb"] = _index_mb(index)
