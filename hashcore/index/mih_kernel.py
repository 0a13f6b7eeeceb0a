"""The compiled inner loop of multi-index hashing: probe buckets, gather candidates, verify.

Why compiled: at 1M PDQ hashes a query probes ~1,400 buckets and verifies ~1,400 candidates.
In numpy every step is a pass over a temporary array (~200 us a query, whatever the batch);
here the loop touches each bucket and code once (~70 us).

Why in three stages per query rather than one nested loop: each step's address depends on the
previous load (bucket bounds -> positions -> codes), and random reads into arrays of tens of MB
cost ~140 ns each when they wait on one another. Done stage by stage, every load of a stage is
independent, so the CPU keeps many in flight (~10 ns each, measured); a single nested loop
whose trip count comes from memory mispredicts on every bucket and ran 2x slower.

The kernels release the GIL (``nogil``), so server threads search in parallel.

Compiled once per machine, then read from numba's cache (:func:`hashcore.compiled.cache_dir`:
outside the source tree, so a read-only install works). Numba compiles one version per argument
layout and a read-only array (a memory-mapped snapshot, ``np.frombuffer`` of query bytes) is a
layout of its own, so :func:`search_tables` hands every array over read-only: one layout,
compiled (or read from the cache) by :func:`warm_up` when an index is loaded or rebuilt, never
by a lookup.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from hashcore.compiled import caching_in

I64 = npt.NDArray[np.int64]
Matches = tuple[I64, I64, I64]


def _popcount_codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
    fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
    return builder.call(fn, [args[0]])


def _popcount_typer(typingctx: Any, x: Any) -> Any:
    """``llvm.ctpop``: one POPCNT instruction; numba offers no popcount of its own."""
    return types.uint64(types.uint64), _popcount_codegen


popcount: Any = intrinsic(_popcount_typer)  # called from compiled code only


def _keys(query8: Any, span_start: Any, span_width: Any, keys: Any) -> None:
    """Each substring of one query (big-endian bit order), as :mod:`.table_build` cuts codes."""
    for t in range(span_start.shape[0]):
        start, width = span_start[t], span_width[t]
        first, last = start // 8, (start + width - 1) // 8
        key = np.uint64(0)
        for b in range(first, last + 1):
            key = (key << np.uint64(8)) | np.uint64(query8[b])
        key >>= np.uint64((last + 1) * 8 - start - width)
        keys[t] = key & np.uint64((1 << width) - 1)


def _bounds(
    offsets: Any, base: Any, table: Any, mask: Any, keys: Any, starts: Any, ends: Any
) -> int:
    """Stage 1: each probe's bucket as a [start, end) slice of ``order``; total candidates."""
    total = 0
    for p in range(table.shape[0]):
        t = table[p]
        bucket = base[t] + np.int64(keys[t] ^ mask[p])
        start = offsets[bucket]
        end = offsets[bucket + 1]
        starts[p] = start
        ends[p] = end
        total += end - start
    return total


def _gather(order: Any, starts: Any, ends: Any, out: Any) -> int:
    """Stage 2: the code positions in every probed bucket (repeats across tables kept)."""
    count = 0
    for p in range(starts.shape[0]):
        for i in range(starts[p], ends[p]):
            out[count] = order[i]
            count += 1
    return count


def _verify(codes: Any, rows: Any, count: int, queries: Any, q: int, limit: int, dist: Any) -> int:
    """Stage 3: keep rows within ``limit`` bits (compacted in place into ``rows``/``dist``)."""
    hits = 0
    lim = np.uint64(limit)
    if codes.shape[1] == 4:  # 256-bit PDQ, unrolled: twice the rate of the generic loop
        q0, q1, q2, q3 = queries[q, 0], queries[q, 1], queries[q, 2], queries[q, 3]
        for j in range(count):
            r = rows[j]
            d = (
                popcount(codes[r, 0] ^ q0)
                + popcount(codes[r, 1] ^ q1)
                + popcount(codes[r, 2] ^ q2)
                + popcount(codes[r, 3] ^ q3)
            )
            if d <= lim:
                rows[hits] = r
                dist[hits] = np.int64(d)
                hits += 1
        return hits
    for j in range(count):
        r = rows[j]
        d = np.uint64(0)
        for w in range(codes.shape[1]):
            d += popcount(codes[r, w] ^ queries[q, w])
        if d <= lim:
            rows[hits] = r
            dist[hits] = np.int64(d)
            hits += 1
    return hits


def _grow(array: Any, size: int, keep: int) -> Any:
    grown = np.empty(size, np.int64)
    grown[:keep] = array[:keep]
    return grown


def _search(arrays: Any, queries: Any, limit: int) -> Any:
    """(query, row, distance) of every live row within ``limit``, each row once per query."""
    codes, dead, order, offsets, base = arrays[:5]
    span_start, span_width, table, mask = arrays[5:]
    probes = table.shape[0]
    keys = np.empty(span_start.shape[0], np.uint64)
    queries8 = queries.view(np.uint8)
    starts = np.empty(probes, np.int64)
    ends = np.empty(probes, np.int64)
    rows = np.empty(4096, np.int64)
    dist = np.empty(4096, np.int64)
    capacity = 64
    out_q = np.empty(capacity, np.int64)
    out_row = np.empty(capacity, np.int64)
    out_dist = np.empty(capacity, np.int64)
    k = 0
    for q in range(queries.shape[0]):
        keys_of(queries8[q], span_start, span_width, keys)
        total = bounds(offsets, base, table, mask, keys, starts, ends)
        if total > rows.shape[0]:
            rows = np.empty(2 * total, np.int64)
            dist = np.empty(2 * total, np.int64)
        count = gather(order, starts, ends, rows)
        hits = verify(codes, rows, count, queries, q, limit, dist)
        if hits == 0:
            continue
        if k + hits > capacity:
            capacity = 2 * (k + hits)
            out_q = _grow_jit(out_q, capacity, k)
            out_row = _grow_jit(out_row, capacity, k)
            out_dist = _grow_jit(out_dist, capacity, k)
        # A near value shares several substrings with the query, so it was found repeatedly.
        ranked = np.argsort(rows[:hits])
        last = -1
        for i in range(hits):
            r = rows[ranked[i]]
            if r != last and not dead[r]:
                out_q[k] = q
                out_row[k] = r
                out_dist[k] = dist[ranked[i]]
                k += 1
            last = r
    return out_q[:k], out_row[:k], out_dist[:k]


with caching_in():
    keys_of = njit(_keys, nogil=True, cache=True)
    bounds = njit(_bounds, nogil=True, cache=True)
    gather = njit(_gather, nogil=True, cache=True)
    verify = njit(_verify, nogil=True, cache=True)
    _grow_jit = njit(_grow, nogil=True, cache=True)
    _search_jit = njit(_search, nogil=True, cache=True)


def _read_only(dtype: Any, ndim: int = 1) -> Any:
    return types.Array(dtype, ndim, "C", readonly=True)


def signature(offsets_dtype: npt.DTypeLike) -> tuple[Any, ...]:
    """The one argument layout :func:`search_tables` calls the kernel with (per offsets dtype:
    int32, or int64 past 2**31 table entries): every array C-contiguous and read-only."""
    i64 = _read_only(types.int64)
    tuple_of: Any = types.Tuple
    arrays = tuple_of(
        (
            _read_only(types.uint64, 2),  # codes
            _read_only(types.boolean),  # dead
            _read_only(types.int32),  # order
            _read_only(numba.from_dtype(np.dtype(offsets_dtype))),  # offsets
            i64,  # base
            i64,  # span_start
            i64,  # span_width
            i64,  # table
            _read_only(types.uint64),  # mask
        )
    )
    return (arrays, _read_only(types.uint64, 2), types.int64)


def warm_up(offsets_dtype: npt.DTypeLike) -> None:
    """Compile the search for this layout now, or read it from the cache (~0.3 s; ~20 s to
    compile on a machine's first start): done when an index is loaded or rebuilt."""
    _search_jit.compile(signature(offsets_dtype))


class SearchArrays(NamedTuple):
    """What :func:`search_tables` reads; see ``hamming._Tables`` and ``hamming._Plan``."""

    codes: Any  # (n, words) uint64 rows
    dead: Any  # (n,) bool tombstones
    order: Any  # (m * n,) int32 positions sorted by each substring
    offsets: Any  # int32 or int64 bucket starts, per table
    base: Any  # (m,) int64: each table's first bucket in offsets
    span_start: Any  # (m,) int64: each substring's first bit
    span_width: Any  # (m,) int64: each substring's width
    table: Any  # (probes,) int64: the table each probe reads
    mask: Any  # (probes,) uint64: the bits each probe flips in the query's key


def frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A C-contiguous read-only plain ndarray view of ``array`` (the owner stays writable):
    the one layout the kernel is compiled for."""
    view = np.ascontiguousarray(array).view(np.ndarray)
    view.flags.writeable = False
    return view


def search_tables(arrays: SearchArrays, queries: Any, limit: int) -> Matches:
    """(query, row, distance) of every live row within ``limit``.

    ``arrays`` must be :func:`frozen` already (the index keeps them so, rather than paying
    for ten views a search); the queries are frozen here.
    """
    q, rows, dist = _search_jit(tuple(arrays), frozen(queries), int(limit))
    return q, rows, dist
