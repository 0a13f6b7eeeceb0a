"""Exact Hamming range search for fixed-length bit hashes (PDQ, pHash), via multi-index hashing.

Why not FAISS: ``IndexBinaryFlat`` scans every code per query (about 20 ms at 10M PDQ hashes,
single-threaded) and ``IndexBinaryMultiHash`` keeps a ``std::unordered_map`` of int64 vectors
per table (over 1 GB more at 10M) and only fixed probe settings. Here, as in Norouzi et al.'s
multi-index hashing, the code is cut into ``m`` substrings of about log2(n) bits; each table is
the positions of all codes sorted by one substring, plus a dense offsets array, so a bucket is
one slice. By pigeonhole, distance <= T = m*r + a means some substring among ``a + 1`` chosen
ones is within ``r`` bits, or one of the others within ``r - 1``; we probe exactly those keys,
gather the candidates and verify every one with a popcount (compiled: :mod:`.mih_kernel`), so
results equal a brute-force scan for any threshold. When the probes would touch a large part of
the index (big thresholds) a flat scan is cheaper and used instead: still exact.

Adds go to a small delta that is scanned flat; removes set tombstones; :meth:`compact` rebuilds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from hashcore.errors import InvalidInput
from hashcore.index.base import IndexCorrupt, IndexHit, RangeHits
from hashcore.index.delta import DeltaIndex, id_array, manifest_params
from hashcore.index.mih_kernel import SearchArrays, frozen, search_tables, warm_up
from hashcore.index.snapshot import require
from hashcore.index.table_build import build_tables

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]
Offsets = npt.NDArray[np.signedinteger[Any]]  # int32, or int64 past 2**31 table entries
Matches = tuple[I64, I64, I64]  # (query index, value id or position, distance)

FORMAT_VERSION = 1
FLAT_BELOW = 10_000
"""Below this many values FAISS's flat scan is as fast as the tables (measured at 10k PDQ,
T = 31: 42 vs 33 us for one query, 12.9 vs 6.1 us a query in a batch of 300)."""
BULK_MIN = 10_000
"""Batches at least this big (or a quarter of main) skip the delta and are merged into main."""
MAX_SUBSTRING_BITS = 24
"""Caps one table's offsets array at 2**24 + 1 entries."""
CANDIDATE_COST = 16.0
"""Cost of verifying one candidate relative to one code of a flat FAISS scan (measured)."""
PROBE_COST = 8.0
"""Cost of one bucket probe relative to one code of a flat scan."""


def _empty() -> Matches:
    return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


def _spans(bits: int, substrings: int) -> list[tuple[int, int]]:
    """(first bit, width) of each substring: contiguous, widths differing by at most one."""
    base, extra = divmod(bits, substrings)
    spans, start = [], 0
    for t in range(substrings):
        width = base + (1 if t < extra else 0)
        spans.append((start, width))
        start += width
    return spans


def compile_search() -> None:
    """Compile the table build and the search (or load both from numba's cache) now, whatever
    the indexes hold. An index below :data:`FLAT_BELOW` values needs neither, so a server on a
    small store would otherwise compile them the first time an import takes an index past it,
    while lookups wait (14-25 s on the dev VM); a server calls this before it reports SERVING."""
    codes = np.arange(64 * 4, dtype=np.uint64).reshape(64, 4) * np.uint64(0x9E3779B97F4A7C15)
    tables = _Tables.build(codes.view(np.uint8), choose_substrings(256, 64), 256)
    warm_up(tables.offsets.dtype)


def choose_substrings(bits: int, n: int) -> int:
    """Substring count for ``n`` codes: widths near log2(n), so each bucket holds ~1 code."""
    width = min(MAX_SUBSTRING_BITS, max(8, round(math.log2(max(n, 2)))))
    return max(1, math.ceil(bits / width))


@lru_cache(maxsize=256)
def _flip_masks(width: int, radius: int) -> U64:
    """Every ``width``-bit mask of weight <= ``radius``: the probe offsets around a key."""
    masks = [0]
    for k in range(1, min(radius, width) + 1):
        masks.extend(
            sum(1 << i for i in combo) for combo in itertools.combinations(range(width), k)
        )
    out = np.array(masks, np.uint64)
    out.flags.writeable = False
    return out


def _n_masks(width: int, radius: int) -> int:
    return sum(math.comb(width, k) for k in range(min(radius, width) + 1)) if radius >= 0 else 0


SINGLE_THREAD_PAIRS = 1 << 20
"""Below this many query-code pairs FAISS scans on the calling thread: waking OpenMP's sleeping
threads costs more than such a scan (~3 ms at 1M pairs). A content lookup's ~23 queries against
a small bank took Engine.lookup_many 0.93-1.14 ms with two threads, 0.50-0.60 ms with one."""
_OPENMP_THREADS = max(1, int(faiss.omp_get_max_threads()))
"""OpenMP's thread count as this process started, for the scans above that size."""


def _openmp_threads(pairs: int) -> int:
    """The threads a flat scan of ``pairs`` query-code pairs uses."""
    return 1 if pairs < SINGLE_THREAD_PAIRS else _OPENMP_THREADS


def _flat(codes: U64, queries: U64, threshold: int) -> Matches:
    """All (query, row, distance) with distance <= threshold, by FAISS's flat Hamming scan.

    FAISS takes contiguous uint8 arrays of ``code_size`` bytes per row; our rows are uint64
    words (zero-padded, which adds nothing to a distance). Its radius is strict, hence ``+ 1``.
    """
    if codes.shape[0] == 0 or queries.shape[0] == 0:
        return _empty()
    a = np.ascontiguousarray(queries).view(np.uint8)
    b = np.ascontiguousarray(codes).view(np.uint8)
    result = faiss.RangeSearchResult(a.shape[0])
    # libgomp keeps the thread count per calling thread: concurrent lookups do not interfere.
    faiss.omp_set_num_threads(_openmp_threads(a.shape[0] * b.shape[0]))
    faiss.hamming_range_search(  # type: ignore[attr-defined]
        faiss.swig_ptr(a), faiss.swig_ptr(b), a.shape[0], b.shape[0], threshold + 1, a.shape[1],
        result,
    )  # fmt: skip
    lims = faiss.rev_swig_ptr(result.lims, a.shape[0] + 1).astype(np.int64)
    total = int(lims[-1])
    if total == 0:
        return _empty()
    rows = faiss.rev_swig_ptr(result.labels, total).astype(np.int64)
    dist = faiss.rev_swig_ptr(result.distances, total).astype(np.int64)
    qidx = np.repeat(np.arange(a.shape[0], dtype=np.int64), np.diff(lims))
    return qidx, rows, dist


@dataclass(frozen=True, slots=True)
class _Plan:
    """Probes for one threshold: per probe its table and flip mask. No probe at all means a
    flat scan (:data:`FLAT_SCAN`): at this threshold and size, cheaper than probing."""

    table: I64
    mask: U64

    @property
    def flat(self) -> bool:
        return bool(self.table.shape[0] == 0)


FLAT_SCAN = _Plan(np.zeros(0, np.int64), np.zeros(0, np.uint64))


@dataclass(frozen=True, slots=True)
class _Tables:
    """Per substring, the code positions sorted by substring key, and where each key starts.

    ``order[offsets[base[t] + k] : offsets[base[t] + k + 1]]`` are the positions whose substring
    ``t`` equals ``k``; ``order`` holds table ``t``'s positions at ``t * n .. (t + 1) * n``.
    """

    spans: list[tuple[int, int]]
    order: I32
    offsets: Offsets
    base: I64

    span_start: I64 = field(init=False)
    span_width: I64 = field(init=False)

    def __post_init__(self) -> None:
        # Read by every search: made once here rather than per call.
        object.__setattr__(self, "span_start", np.array([a for a, _ in self.spans], np.int64))
        object.__setattr__(self, "span_width", np.array([w for _, w in self.spans], np.int64))

    @staticmethod
    def bases(spans: list[tuple[int, int]]) -> I64:
        sizes = [(1 << w) + 1 for _, w in spans]
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    @classmethod
    def build(cls, codes8: U8, substrings: int, bits: int) -> _Tables:
        n = codes8.shape[0]
        spans = _spans(bits, substrings)
        base = cls.bases(spans)
        total = int(base[-1]) + (1 << spans[-1][1]) + 1
        offsets: Offsets = np.empty(total, np.int32 if substrings * n < 2**31 else np.int64)
        order = np.empty(substrings * n, np.int32)
        tables = cls(spans, order, offsets, base)
        build_tables(codes8, tables.span_start, tables.span_width, base, offsets, order)
        return tables

    def plan(self, threshold: int, n: int) -> _Plan:
        """Probes for ``threshold`` by the refined pigeonhole, or a flat scan if cheaper."""
        m = len(self.spans)
        radius, rest = divmod(threshold, m)
        widths = [w for _, w in self.spans]

        def cost(t: int, r: int) -> float:
            probes = _n_masks(widths[t], r)
            return probes * (PROBE_COST + CANDIDATE_COST * n / (1 << widths[t]))

        # rest + 1 tables are probed at `radius`, the others at `radius - 1`; pick the cheapest.
        extra = sorted(range(m), key=lambda t: cost(t, radius) - cost(t, radius - 1))[: rest + 1]
        radii = [radius if t in extra else radius - 1 for t in range(m)]
        estimate = sum(cost(t, radii[t]) for t in range(m))
        if estimate >= n:
            return FLAT_SCAN
        tables, masks = [], []
        for t in range(m):
            if radii[t] >= 0:
                flips = _flip_masks(widths[t], radii[t])
                tables.append(np.full(flips.shape[0], t, np.int64))
                masks.append(flips)
        return _Plan(frozen(np.concatenate(tables)), frozen(np.concatenate(masks)))


class HammingIndex(DeltaIndex):
    """Exact threshold search over ``bits``-bit hashes; values are big-endian packed bytes."""

    kind = "HammingIndex"
    format_version = FORMAT_VERSION
    delta_array = ("delta_codes", "uint64")

    def __init__(self, bits: int, *, flat_below: int = FLAT_BELOW) -> None:
        if bits <= 0 or bits % 8:
            raise ValueError(f"bits must be a positive multiple of 8, got {bits}")
        self._delta_arrays: tuple[I64, U64] | None = None
        super().__init__()  # main's ids are sorted and unique
        self.bits = bits
        self.nbytes = bits // 8
        self.words = -(-self.nbytes // 8)
        self.flat_below = flat_below
        self._codes: U64 = np.zeros((0, self.words), np.uint64)  # main codes, rows as _ids
        self._tables: _Tables | None = None
        self._plans: dict[int, _Plan] = {}
        self._kernel_main: tuple[Bool, SearchArrays] | None = None

    @property
    def value_size(self) -> int:
        return self.nbytes

    # -- conversions -------------------------------------------------------------------------

    def _pack(self, values: Sequence[bytes]) -> U64:
        """Values to zero-padded uint64 rows; wrong lengths are the caller's error."""
        joined = b"".join(values)
        if len(joined) != len(values) * self.nbytes or any(len(v) != self.nbytes for v in values):
            raise InvalidInput(f"every value must be {self.nbytes} bytes")
        return self.pack_array(np.frombuffer(joined, np.uint8).reshape(len(values), self.nbytes))

    def pack_array(self, codes: U8) -> U64:
        """A (n, bits/8) uint8 array (big-endian packed bits) to the row form used inside."""
        codes = np.asarray(codes)
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != self.nbytes:
            raise InvalidInput(
                f"expected a (n, {self.nbytes}) uint8 array, got {codes.dtype}{codes.shape}"
            )
        if self.nbytes == self.words * 8:
            return np.ascontiguousarray(codes).view(np.uint64)
        out = np.zeros((codes.shape[0], self.words * 8), np.uint8)
        out[:, : self.nbytes] = codes
        return out.view(np.uint64)

    @staticmethod
    def _threshold(threshold: float) -> int:
        if math.isnan(threshold):
            raise InvalidInput("threshold is NaN")
        return (
            math.floor(threshold)
            if math.isfinite(threshold)
            else (-1 if threshold < 0 else 1 << 30)
        )

    # -- mutation ----------------------------------------------------------------------------

    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        """Add or replace values. Big batches (a bulk load) are folded straight into main."""
        ids = id_array(value_ids)
        if ids.shape[0] != len(values):
            raise InvalidInput(f"{ids.shape[0]} value ids for {len(values)} values")
        self._add(ids, self._pack(values))

    def add_array(self, value_ids: I64, codes: U8) -> None:
        """:meth:`add` for bulk loads: ids and a (n, bits/8) uint8 array, no per-value objects."""
        ids = id_array(value_ids)
        rows = self.pack_array(codes)
        if ids.shape[0] != rows.shape[0]:
            raise InvalidInput(f"{ids.shape[0]} value ids for {rows.shape[0]} values")
        self._add(ids, rows)

    def _add(self, ids: I64, rows: U64) -> None:
        if ids.shape[0] >= max(BULK_MIN, self._ids.shape[0] // 4):
            self._rebuild(ids, rows)
            return
        self._put(ids, [row.tobytes()[: self.nbytes] for row in rows])

    def _delta_changed(self, value_id: int | None, old: bytes | None, new: bytes | None) -> None:
        """Drop the packed view of the delta; the next search packs it again."""
        self._delta_arrays = None

    @property
    def nbytes_resident(self) -> int:
        """Bytes held by the main arrays and tables (the delta dict is not counted)."""
        arrays = [self._ids, self._codes, self._dead]
        if self._tables is not None:
            arrays += [self._tables.order, self._tables.offsets]
        return sum(int(a.nbytes) for a in arrays)

    def _delta_view(self) -> tuple[I64, U64]:
        if self._delta_arrays is None:
            self._delta_arrays = (self._delta_ids(), self._pack(list(self._delta.values())))
        return self._delta_arrays

    def compact(self) -> None:
        self._rebuild(np.zeros(0, np.int64), np.zeros((0, self.words), np.uint64))

    def _rebuild(self, new_ids: I64, new_codes: U64) -> None:
        """Main := live main + delta + ``new`` (later wins on a repeated id), then re-index."""
        ids, codes = self._merged(self._codes, self._delta_view(), new_ids, new_codes)
        self._set_main(ids, np.ascontiguousarray(codes), None)
        self._warm_up()

    def _set_main(self, ids: I64, codes: U64, tables: _Tables | None) -> None:
        self._codes = codes
        self._set_ids(ids)
        if tables is None and ids.shape[0] >= self.flat_below:
            m = choose_substrings(self.bits, ids.shape[0])
            tables = _Tables.build(self._codes.view(np.uint8), m, self.bits)
        self._tables = tables
        self._plans = {}
        self._kernel_main = None

    def _warm_up(self) -> None:
        """Compile the search for these arrays now, or load it from numba's cache.

        Done when an index is loaded or rebuilt, before a server reports SERVING, so that no
        caller's first lookup waits seconds for the compiler.
        """
        if self._tables is not None:
            warm_up(self._tables.offsets.dtype)

    # -- search ------------------------------------------------------------------------------

    def search(self, queries: Sequence[bytes], threshold: float) -> list[list[IndexHit]]:
        """Every live value within ``threshold`` bits (inclusive), nearest first, per query."""
        return self.range_search(queries, threshold).to_lists()

    def range_search(self, queries: Sequence[bytes], threshold: float) -> RangeHits:
        """:meth:`search` as arrays: per query, nearest first, then by value id."""
        qidx, ids, dist = self.search_arrays(self._pack(queries), threshold)
        order = np.lexsort((ids, dist, qidx))
        lims = np.searchsorted(qidx[order], np.arange(len(queries) + 1)).astype(np.int64)
        return RangeHits(lims, ids[order], dist[order].astype(np.float64))

    def search_arrays(self, queries: U64, threshold: float) -> Matches:
        """Array form of :meth:`search` for bulk callers: (query index, value id, distance).

        ``queries`` are rows of ``words`` uint64, as :meth:`pack_queries` makes them.
        Unordered.
        """
        limit = self._threshold(threshold)
        if limit < 0 or queries.shape[0] == 0:
            return _empty()
        limit = min(limit, self.bits)
        queries = np.asarray(queries, np.uint64).reshape(-1, self.words)
        qm, rows, dm = self._search_main(queries, limit)
        parts = [(qm, self._ids[rows], dm)]
        if self._delta:
            delta_ids, delta_codes = self._delta_view()
            qd, drows, dd = _flat(delta_codes, queries, limit)
            parts.append((qd, delta_ids[drows], dd))
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def pack_queries(self, queries: Sequence[bytes]) -> U64:
        """Query bytes in the row form :meth:`search_arrays` takes."""
        return self._pack(queries)

    def _plan(self, limit: int) -> _Plan:
        plan = self._plans.get(limit)
        if plan is None and self._tables is not None:
            plan = self._plans[limit] = self._tables.plan(limit, self._ids.shape[0])
        return plan if plan is not None else FLAT_SCAN

    def _search_main(self, queries: U64, limit: int) -> Matches:
        """Live main rows within ``limit`` of each query: table probes, or a flat scan."""
        plan = self._plan(limit)
        if plan.flat or self._tables is None:
            qidx, rows, dist = _flat(self._codes, queries, limit)
            keep = ~self._dead[rows]
            return qidx[keep], rows[keep], dist[keep]
        arrays = self._main_arrays(self._tables)._replace(table=plan.table, mask=plan.mask)
        return search_tables(arrays, queries, limit)

    def _main_arrays(self, tables: _Tables) -> SearchArrays:
        """Main's arrays as the kernel reads them (read-only views, see :mod:`.mih_kernel`),
        made once per main and tombstone array rather than per search."""
        cached = self._kernel_main
        if cached is None or cached[0] is not self._dead:  # a snapshot's tombstones replace it
            arrays = SearchArrays(
                self._codes, self._dead, tables.order, tables.offsets, tables.base,
                tables.span_start, tables.span_width, np.zeros(0, np.int64), np.zeros(0, np.uint64),
            )  # fmt: skip
            cached = self._kernel_main = (self._dead, SearchArrays(*(frozen(a) for a in arrays)))
        return cached[1]

    # -- snapshots ---------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path) -> HammingIndex:
        index = super().load(directory)
        index._warm_up()
        return index

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> HammingIndex:
        return cls(int(params["bits"]), flat_below=int(params["flat_below"]))

    def _main_snapshot(self) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
        """Main's codes and search tables as they are."""
        arrays: dict[str, npt.NDArray[Any]] = {"codes": self._codes}
        substrings = 0
        if self._tables is not None:
            substrings = len(self._tables.spans)
            arrays["order"] = self._tables.order
            arrays["offsets"] = self._tables.offsets
        return {"bits": self.bits, "substrings": substrings, "flat_below": self.flat_below}, arrays

    def _load_main(
        self, directory: Path, params: dict[str, Any], arrays: dict[str, npt.NDArray[Any]], ids: I64
    ) -> None:
        with manifest_params(directory):
            m = int(params["substrings"])
        n = ids.shape[0]
        codes = require(arrays, "codes", "uint64", (n, self.words))
        if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            raise IndexCorrupt(f"{directory}: main ids are not sorted and unique")
        tables = None
        if m:
            spans = _spans(self.bits, m)
            base = _Tables.bases(spans)
            total = int(base[-1]) + (1 << spans[-1][1]) + 1
            order = require(arrays, "order", "int32", (m * n,))
            off_dtype = "int32" if m * n < 2**31 else "int64"
            offsets = require(arrays, "offsets", off_dtype, (total,))
            tables = _Tables(spans, order, offsets, base)
        self._set_main(ids, codes, tables)

    def _delta_rows(self) -> tuple[I64, U64]:
        return self._delta_view()

    def _row_width(self) -> int:
        return self.words
