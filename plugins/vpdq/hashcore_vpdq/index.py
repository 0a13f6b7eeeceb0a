"""The vPDQ index: every banked frame in hashcore's Hamming index, tagged with its video.

A value is a whole video's feature; its prepared frames (quality >= 50, distinct hashes: see
:mod:`hashcore_vpdq.matching`) go into one :class:`hashcore.index.hamming.HammingIndex` under
*frame keys*, numbers handed out in blocks, one block per value. A search looks up every query
frame of the batch in one call at 31 bits, maps each frame hit to its value through the keys,
and counts per (query, value) the distinct query frames and banked frames that met: the two
percentages of pytx's rule. The score is the larger one (see :class:`VpdqSignal`), computed as
:func:`hashcore_vpdq.matching.summarise` does, so the index equals the brute-force compare.

Memory per banked frame: the Hamming index's code, ids and search tables (~90 bytes at 1M
frames) plus 32 bytes of code, 8 of owner and 8 of timestamp kept here to rebuild and to
describe matches. Snapshots hold these arrays; the Hamming tables are rebuilt on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hashcore import IndexCorrupt, RangeHits, SignalIndex, read_snapshot, require, write_snapshot
from hashcore.index.hamming import HammingIndex
from hashcore_vpdq.feature import HASH_BYTES, VpdqFeature
from hashcore_vpdq.matching import DISTANCE_THRESHOLD, Prepared, prepare

KIND = "vpdq"
VERSION = 1
I64 = NDArray[np.int64]


class VpdqIndex(SignalIndex):
    """Values are vPDQ feature bytes (:meth:`VpdqFeature.to_bytes`)."""

    def __init__(self) -> None:
        self._frames = HammingIndex(HASH_BYTES * 8)
        self._codes = np.zeros((0, HASH_BYTES), np.uint8)  # per frame key
        self._ms = np.zeros(0, np.int64)
        self._owner = np.zeros(0, np.int64)  # value id per frame key, -1 once removed
        self._used = 0  # frame keys handed out
        self._blocks: dict[int, tuple[int, int]] = {}  # value id -> (first key, prepared frames)

    # -- mutation ----------------------------------------------------------------------------

    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        prepared = [prepare(VpdqFeature.from_bytes(bytes(v))) for v in values]  # validate first
        if len(prepared) != len(value_ids):
            raise ValueError(f"{len(value_ids)} value ids for {len(values)} values")
        self.remove(value_ids)
        keys, codes = [], []
        for value_id, frames in zip(value_ids, prepared, strict=True):
            first = self._reserve(len(frames))
            self._blocks[int(value_id)] = (first, len(frames))
            span = slice(first, first + len(frames))
            self._codes[span], self._ms[span], self._owner[span] = (
                frames.hashes,
                frames.ms,
                value_id,
            )
            keys.append(np.arange(first, first + len(frames), dtype=np.int64))
            codes.append(frames.hashes)
        if keys:
            self._frames.add_array(np.concatenate(keys), np.concatenate(codes))

    def _reserve(self, n: int) -> int:
        first, self._used = self._used, self._used + n
        if self._used > self._owner.shape[0]:
            size = max(self._used, 2 * self._owner.shape[0], 1024)
            self._codes = _grown(self._codes, size)
            self._ms = _grown(self._ms, size)
            self._owner = _grown(self._owner, size, fill=-1)
        return first

    def remove(self, value_ids: Sequence[int]) -> None:
        gone = [self._blocks.pop(int(v)) for v in value_ids if int(v) in self._blocks]
        if gone:
            keys = np.concatenate([np.arange(a, a + n, dtype=np.int64) for a, n in gone])
            self._owner[keys] = -1
            self._frames.remove(keys.tolist())

    def __len__(self) -> int:
        return len(self._blocks)

    @property
    def delta_size(self) -> int:
        """The frame index's pending adds and removes."""
        return self._frames.delta_size

    @property
    def frame_count(self) -> int:
        """Banked frames searched (prepared frames of every value)."""
        return sum(n for _, n in self._blocks.values())

    def value_ids(self) -> I64:
        return np.array(sorted(self._blocks), np.int64).reshape(-1)

    def compact(self) -> None:
        """Fold the frame delta in; renumber the keys once most of them are dead."""
        if self._used > 2 * max(self.frame_count, 512):
            self._renumber()
        else:
            self._frames.compact()

    def _renumber(self) -> None:
        self._load(*self._live())

    def _live(self) -> tuple[I64, I64, NDArray[np.uint8], I64]:
        """Live values in id order: ids, frame counts, and their frames' codes and times,
        gathered without touching the index (a snapshot is written while lookups run)."""
        ids = sorted(self._blocks)
        blocks = [self._blocks[v] for v in ids]
        keys = np.concatenate([np.zeros(0, np.int64)] + [np.arange(a, a + n) for a, n in blocks])
        counts = np.array([n for _, n in blocks], np.int64).reshape(-1)
        return np.array(ids, np.int64).reshape(-1), counts, self._codes[keys], self._ms[keys]

    def _load(self, ids: I64, counts: I64, codes: NDArray[np.uint8], ms: I64) -> None:
        """Replace everything: values ``ids`` with ``counts`` frames each, frames in order."""
        starts = np.concatenate([np.zeros(1, np.int64), np.cumsum(counts)])
        self._frames = HammingIndex(HASH_BYTES * 8)
        self._codes, self._ms = np.ascontiguousarray(codes), np.ascontiguousarray(ms)
        self._owner = np.repeat(ids, counts)
        self._used = int(starts[-1])
        self._blocks = {
            v: (a, n)
            for v, a, n in zip(ids.tolist(), starts.tolist(), counts.tolist(), strict=False)
        }
        if self._used:
            self._frames.add_array(np.arange(self._used, dtype=np.int64), self._codes)
            self._frames.compact()

    # -- search ------------------------------------------------------------------------------

    def search(self, queries: Sequence[bytes], threshold: float) -> list[list[Any]]:
        return self.range_search(queries, threshold).to_lists()

    def range_search(self, queries: Sequence[bytes], threshold: float) -> RangeHits:
        """Per query, every value whose score reaches ``threshold``, best first, then by id."""
        prepared = [prepare(VpdqFeature.from_bytes(bytes(q))) for q in queries]
        pairs = self.frame_hits(prepared)
        query, value, score = pairs.query, pairs.value, pairs.score()
        keep = score >= threshold
        query, value, score = query[keep], value[keep], score[keep]
        order = np.lexsort((value, -score, query))
        lims = np.searchsorted(query[order], np.arange(len(queries) + 1)).astype(np.int64)
        return RangeHits(lims, value[order], score[order])

    def frame_hits(self, prepared: Sequence[Prepared]) -> PairCounts:
        """Per (query, banked value) that share a frame within 31 bits: matched frame counts."""
        sizes = np.array([len(p) for p in prepared], np.int64).reshape(-1)
        if not sizes.sum() or not self._blocks:
            return PairCounts.empty()
        owner_query = np.repeat(np.arange(len(prepared), dtype=np.int64), sizes)
        codes = np.concatenate([p.hashes for p in prepared])
        row, key, _ = self._frames.search_arrays(self._frames.pack_array(codes), DISTANCE_THRESHOLD)
        query, value = owner_query[row], self._owner[key]
        live = value >= 0
        query, value, row, key = query[live], value[live], row[live], key[live]
        pair = np.unique(np.stack([query, value]), axis=1)  # sorted (query, value) pairs
        where = _pair_number(pair, query, value)
        query_frames = _distinct_per(where, row, pair.shape[1])
        banked_frames = _distinct_per(where, key, pair.shape[1])
        banked = np.array([self._blocks[v][1] for v in pair[1].tolist()], np.int64).reshape(-1)
        return PairCounts(pair[0], pair[1], query_frames, sizes[pair[0]], banked_frames, banked)

    def prepared(self, value_id: int) -> Prepared | None:
        """A banked value's prepared frames (None if the value is not here)."""
        block = self._blocks.get(int(value_id))
        if block is None:
            return None
        first, n = block
        return Prepared(self._codes[first : first + n], self._ms[first : first + n])

    # -- snapshots ---------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the live values' frames (read-only: lookups may run meanwhile)."""
        ids, counts, codes, ms = self._live()
        params: dict[str, Any] = {"values": int(ids.shape[0]), "frames": int(counts.sum())}
        arrays: dict[str, NDArray[Any]] = {"ids": ids, "counts": counts, "codes": codes, "ms": ms}
        write_snapshot(Path(directory), KIND, VERSION, params, arrays)

    @classmethod
    def load(cls, directory: Path) -> VpdqIndex:
        params, arrays = read_snapshot(Path(directory), KIND, VERSION)
        values, frames = params.get("values"), params.get("frames")
        if not isinstance(values, int) or not isinstance(frames, int) or min(values, frames) < 0:
            raise IndexCorrupt(f"{directory}: bad counts {values!r}, {frames!r}")
        ids = require(arrays, "ids", "int64", (values,))
        counts = require(arrays, "counts", "int64", (values,))
        if int(counts.sum()) != frames or (counts < 0).any():
            raise IndexCorrupt(f"{directory}: frame counts do not add up")
        index = cls()
        index._load(
            np.array(ids),
            np.array(counts),
            np.array(require(arrays, "codes", "uint8", (frames, HASH_BYTES))),
            np.array(require(arrays, "ms", "int64", (frames,))),
        )
        return index


class PairCounts:
    """Per (query, banked value) pair: how many distinct frames met on each side, of how many."""

    def __init__(
        self,
        query: I64,
        value: I64,
        query_hit: I64,
        query_frames: I64,
        banked_hit: I64,
        banked_frames: I64,
    ) -> None:
        self.query, self.value = query, value
        self.query_hit, self.query_frames = query_hit, query_frames
        self.banked_hit, self.banked_frames = banked_hit, banked_frames

    @classmethod
    def empty(cls) -> PairCounts:
        z = np.zeros(0, np.int64)
        return cls(z, z, z, z, z, z)

    def score(self) -> NDArray[np.float64]:
        """The larger of the query-matched and banked-matched percentages, as
        :func:`hashcore_vpdq.matching.summarise` computes them."""
        q = 100.0 * self.query_hit / np.maximum(self.query_frames, 1)
        b = 100.0 * self.banked_hit / np.maximum(self.banked_frames, 1)
        return np.maximum(q, b).astype(np.float64)


def _pair_number(pair: I64, query: I64, value: I64) -> I64:
    """The column of ``pair`` (sorted, distinct) each (query, value) row is."""
    width = int(value.max()) + 1 if value.size else 1
    code = pair[0] * width + pair[1]
    found: I64 = np.searchsorted(code, query * width + value)
    return found


def _distinct_per(group: I64, item: I64, groups: int) -> I64:
    """How many distinct ``item`` each group has."""
    distinct = np.unique(np.stack([group, item]), axis=1)
    counts: I64 = np.bincount(distinct[0], minlength=groups).astype(np.int64)
    return counts


def _grown(array: NDArray[Any], size: int, fill: int = 0) -> NDArray[Any]:
    grown = np.full((size, *array.shape[1:]), fill, array.dtype)
    grown[: array.shape[0]] = array
    return grown
