"""The counting-sort table build equals the numpy sort it replaced, key for key (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from hashcore.index.hamming import _spans, _Tables


def sorted_build(codes8: np.ndarray, substrings: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The previous build: per table, sort ``key << 32 | position`` and count the keys."""
    n = codes8.shape[0]
    spans = _spans(bits, substrings)
    base = _Tables.bases(spans)
    total = int(base[-1]) + (1 << spans[-1][1]) + 1
    offsets = np.empty(total, np.int64)
    order = np.empty(substrings * n, np.int32)
    positions = np.arange(n, dtype=np.uint64)
    whole = [int.from_bytes(row.tobytes(), "big") for row in codes8]
    for t, (start, width) in enumerate(spans):
        keys = np.array(
            [(v >> (bits - start - width)) & ((1 << width) - 1) for v in whole], np.uint64
        )
        packed = np.sort((keys << np.uint64(32)) | positions)
        order[t * n : (t + 1) * n] = (packed & np.uint64(0xFFFFFFFF)).astype(np.int32)
        counts = np.bincount(keys.astype(np.int64), minlength=1 << width)
        seg = offsets[base[t] : base[t] + (1 << width) + 1]
        seg[0] = t * n
        seg[1:] = np.cumsum(counts) + t * n
    return order, offsets


def clustered(rng: np.random.Generator, n: int, nbytes: int) -> np.ndarray:
    """Few centres, each repeated with a bit or two flipped: crowded buckets, equal keys."""
    centres = rng.integers(0, 256, (max(1, n // 50), nbytes), dtype=np.uint8)
    codes = centres[rng.integers(0, centres.shape[0], n)].copy()
    flips = rng.integers(0, nbytes * 8, n)
    codes[np.arange(n), flips // 8] ^= (1 << (flips % 8)).astype(np.uint8)
    return codes


@pytest.mark.parametrize("bits", [64, 256])
@pytest.mark.parametrize("n", [1, 2, 37, 3000])
@pytest.mark.parametrize("kind", ["random", "clustered", "zeros"])
def test_counting_sort_build_equals_the_sorted_build(bits: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(n * bits)
    nbytes = bits // 8
    if kind == "random":
        codes = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    elif kind == "clustered":
        codes = clustered(rng, n, nbytes)
    else:
        codes = np.zeros((n, nbytes), np.uint8)
    # Widths 22/21 (pHash in 3), 16, 13 and 11 bits; PDQ's 23-24 bit tables are the same code
    # at a size (gigabytes of offsets across 11 tables) this test need not allocate.
    for substrings in [3, 4, 5] if bits == 64 else [16, 23]:
        tables = _Tables.build(codes, substrings, bits)
        order, offsets = sorted_build(codes, substrings, bits)
        assert tables.order.tolist() == order.tolist()
        assert tables.offsets.tolist() == offsets.tolist()
