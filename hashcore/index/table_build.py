"""Building the multi-index tables: per substring, the code positions sorted by their key.

The keys are at most 24 bits (``hamming.MAX_SUBSTRING_BITS``) and each key's count is needed
anyway for the bucket offsets, so a counting sort fits where a general sort did not: numpy
sorting 10M packed ``key << 32 | position`` words per table (12 of them at 10M) took 4.3 s,
cutting the keys 2.0 s and packing 2.8 s, of an 11-24 s build.

A plain counting sort scatters each position to a random place in a 40 MB table, one cache miss
each (a version of that was slower than numpy's sort), and so does counting the keys. Here both
are done in two passes: the first groups (key, position) pairs by the key's top bits (256
groups, so every write stream's line stays in cache), the second counts and places each group's
pairs by the full key within that group's own few hundred kilobytes. Both passes keep positions
in increasing order, so a bucket lists its positions ascending, as the packed sort did.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from hashcore.compiled import caching_in
from hashcore.index.mih_kernel import frozen

I64 = npt.NDArray[np.int64]

HIGH_BITS = 8
"""Pass 1 groups by this many high key bits: 256 write streams, whose lines stay in cache;
pass 2 then works within a group of n/256 pairs (160 KB at 10M values: in L2)."""


def _table(
    codes8: Any, start: int, width: int, seg: Any, order: Any, first: int, keys: Any, moved: Any
) -> None:
    """One table: ``seg`` (its ``2**width + 1`` bucket offsets) and ``order[first:first + n]``."""
    n = codes8.shape[0]
    lo_byte, hi_byte = start // 8, (start + width - 1) // 8
    shift = np.uint32((hi_byte + 1) * 8 - start - width)
    mask = np.uint32((1 << width) - 1)
    high_bits = min(HIGH_BITS, width // 2)
    low = np.uint32(width - high_bits)
    # The keys, and how many fall in each high bucket.
    cursor = np.zeros((1 << high_bits) + 1, np.int64)
    for i in range(n):
        key = np.uint32(0)
        for b in range(lo_byte, hi_byte + 1):
            key = (key << np.uint32(8)) | np.uint32(codes8[i, b])
        key = (key >> shift) & mask
        keys[i] = key
        cursor[(key >> low) + 1] += 1
    for h in range(1, cursor.shape[0]):
        cursor[h] += cursor[h - 1]
    bounds = cursor.copy()
    # Pass 1: (key, position) pairs grouped by the high bits, positions still ascending.
    for i in range(n):
        key = keys[i]
        h = key >> low
        at = cursor[h]
        moved[at] = (np.uint64(key) << np.uint64(32)) | np.uint64(i)
        cursor[h] = at + 1
    # Pass 2: per high bucket, count its low bits, write those buckets' offsets, place.
    n_low = 1 << (width - high_bits)
    low_mask = np.uint64(n_low - 1)
    counts = np.empty(n_low, np.int64)
    for h in range(bounds.shape[0] - 1):
        begin, end = bounds[h], bounds[h + 1]
        counts[:] = 0
        for j in range(begin, end):
            counts[(moved[j] >> np.uint64(32)) & low_mask] += 1
        total = first + begin
        for k in range(n_low):
            seg[h * n_low + k] = total
            c = counts[k]
            counts[k] = total
            total += c
        for j in range(begin, end):
            pair = moved[j]
            k = (pair >> np.uint64(32)) & low_mask
            at = counts[k]
            order[at] = np.int32(pair & np.uint64(0xFFFFFFFF))
            counts[k] = at + 1
    seg[1 << width] = first + n


with caching_in():
    _table_jit = njit(_table, nogil=True, cache=True)


def build_tables(
    codes8: npt.NDArray[np.uint8],
    span_start: I64,
    span_width: I64,
    base: I64,
    offsets: npt.NDArray[Any],
    order: npt.NDArray[np.int32],
) -> None:
    """Fill ``offsets`` (int32 or int64) and ``order`` (int32, ``m * n``) in place.

    One thread: two building different tables side by side ran no faster on the 2-core VM
    (4.7-5.5 s either way at 10M, the passes are bound by memory). The codes are passed
    read-only, so numba compiles one version per offsets dtype (on a machine's first
    build, then read from its cache).
    """
    n = codes8.shape[0]
    codes8 = frozen(codes8)
    keys = np.empty(n, np.uint32)  # scratch for every table: 12 bytes a value
    moved = np.empty(n, np.uint64)
    for t in range(span_start.shape[0]):
        width = int(span_width[t])
        seg = offsets[base[t] : base[t] + (1 << width) + 1]
        _table_jit(codes8, int(span_start[t]), width, seg, order, t * n, keys, moved)
