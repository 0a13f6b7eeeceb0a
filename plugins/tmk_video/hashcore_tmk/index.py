"""The TMK+PDQF index: a FAISS level-1 pre-filter, then level-2 on the candidates only.

Level 1 (cosine of average features) is cheap and prunes almost everything, so it runs over all
values in a FAISS inner-product index of L2-normalised averages. Level 2 (best temporal
alignment) costs ~0.05 ms per pair and runs only on what passes. The full cos/sin features
(256 KiB per video) stay on disk, memory-mapped from the snapshot; only averages sit in memory.
A hit's score is ``min(level1, level2)``, so "score >= threshold" is exactly the reference's rule
(level 1 >= t, then level 2 >= t), and the index agrees with :meth:`TmkSignal.compare`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from hashcore import IndexCorrupt, IndexHit, SignalIndex, read_snapshot, require, write_snapshot
from hashcore_tmk.constants import FEATURE_DIM, FOURIER_COEFFS, PERIODS
from hashcore_tmk.feature import TmkFeature
from hashcore_tmk.score import level2_many, normalized_average

KIND = "tmk_pdqf"
VERSION = 1
SHAPE = (len(PERIODS), len(FOURIER_COEFFS), FEATURE_DIM)
LEVEL1_SLACK = 1e-4
"""FAISS computes level 1 in float32; pre-filter a little below the threshold, then recheck."""


class TmkIndex(SignalIndex):
    """Values are ``.tmk`` payloads (see :class:`hashcore_tmk.feature.TmkFeature`)."""

    def __init__(self) -> None:
        empty_ids = np.empty(0, np.int64)
        self._set_main(empty_ids, np.empty((0, FEATURE_DIM), np.float32), None, None)
        self._delta: dict[int, TmkFeature] = {}

    def _set_main(
        self,
        ids: NDArray[np.int64],
        averages: NDArray[np.float32],
        cos: NDArray[np.float32] | None,
        sin: NDArray[np.float32] | None,
    ) -> None:
        self._ids = ids
        self._averages = averages
        self._cos = cos if cos is not None else np.empty((0, *SHAPE), np.float32)
        self._sin = sin if sin is not None else np.empty((0, *SHAPE), np.float32)
        self._alive = np.ones(len(ids), dtype=bool)
        self._row_of = {int(value_id): row for row, value_id in enumerate(ids.tolist())}
        self._faiss = faiss.IndexFlatIP(FEATURE_DIM)
        if len(ids):
            self._faiss.add(np.ascontiguousarray(averages))

    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        features = [TmkFeature.from_bytes(bytes(v)) for v in values]  # validate all first
        for value_id, feature in zip(value_ids, features, strict=True):
            self.remove([value_id])
            self._delta[int(value_id)] = feature

    def remove(self, value_ids: Sequence[int]) -> None:
        for value_id in value_ids:
            self._delta.pop(int(value_id), None)
            row = self._row_of.get(int(value_id))
            if row is not None:
                self._alive[row] = False

    def __len__(self) -> int:
        return int(self._alive.sum()) + len(self._delta)

    @property
    def delta_size(self) -> int:
        """Features waiting in the delta plus removed main rows."""
        return len(self._delta) + int((~self._alive).sum())

    def value_ids(self) -> NDArray[np.int64]:
        delta = np.fromiter(self._delta, np.int64, len(self._delta))
        return np.sort(np.concatenate([self._ids[self._alive], delta]))

    def search(self, queries: Sequence[bytes], threshold: float) -> list[list[IndexHit]]:
        return [self._search_one(TmkFeature.from_bytes(bytes(q)), threshold) for q in queries]

    def _search_one(self, query: TmkFeature, threshold: float) -> list[IndexHit]:
        unit = normalized_average(query)
        rows = self._main_candidates(unit, threshold)
        hits = self._rerank(
            query,
            unit,
            self._ids[rows],
            self._averages[rows],
            self._cos[rows],
            self._sin[rows],
            threshold,
        )
        if self._delta:
            ids = np.fromiter(self._delta, np.int64, len(self._delta))
            features = list(self._delta.values())
            averages = np.stack([normalized_average(f) for f in features])
            keep = averages.astype(np.float64) @ unit.astype(np.float64) >= threshold
            chosen = [f for f, k in zip(features, keep, strict=True) if k]
            if chosen:
                hits += self._rerank(
                    query,
                    unit,
                    ids[keep],
                    averages[keep],
                    np.stack([f.cos for f in chosen]),
                    np.stack([f.sin for f in chosen]),
                    threshold,
                )
        return sorted(hits, key=lambda hit: (-hit.distance, hit.value_id))

    def _main_candidates(self, unit: NDArray[np.float32], threshold: float) -> NDArray[np.int64]:
        if not len(self._ids) or not unit.any():
            return np.empty(0, np.int64)
        _, _, labels = self._faiss.range_search(unit[None, :], float(threshold) - LEVEL1_SLACK)
        rows = np.sort(labels.astype(np.int64))
        return rows[self._alive[rows]]

    @staticmethod
    def _rerank(
        query: TmkFeature,
        unit: NDArray[np.float32],
        ids: NDArray[np.int64],
        averages: NDArray[np.float32],
        cos: NDArray[np.float32],
        sin: NDArray[np.float32],
        threshold: float,
    ) -> list[IndexHit]:
        if not len(ids):
            return []
        level1 = averages.astype(np.float64) @ unit.astype(np.float64)
        passed = level1 >= threshold
        if not passed.any():
            return []
        level2 = level2_many(query, cos[passed], sin[passed])
        scores = np.minimum(level1[passed], level2)
        return [
            IndexHit(int(value_id), float(score))
            for value_id, score in zip(ids[passed].tolist(), scores.tolist(), strict=True)
            if score >= threshold
        ]

    def compact(self) -> None:
        """Fold the delta in and drop tombstoned rows (features then sit in memory until saved)."""
        alive = self._alive
        delta = list(self._delta.items())
        ids = np.concatenate([self._ids[alive], np.array([i for i, _ in delta], np.int64)])
        averages = np.concatenate(
            [self._averages[alive], _stack([normalized_average(f) for _, f in delta], FEATURE_DIM)]
        )
        cos = np.concatenate([self._cos[alive], _stack([f.cos for _, f in delta], *SHAPE)])
        sin = np.concatenate([self._sin[alive], _stack([f.sin for _, f in delta], *SHAPE)])
        self._delta = {}
        self._set_main(ids, averages.astype(np.float32), cos, sin)

    def save(self, directory: Path) -> None:
        self.compact()
        params: dict[str, Any] = {"count": len(self._ids)}
        write_snapshot(
            Path(directory),
            KIND,
            VERSION,
            params,
            {"ids": self._ids, "averages": self._averages, "cos": self._cos, "sin": self._sin},
        )

    @classmethod
    def load(cls, directory: Path) -> TmkIndex:
        params, arrays = read_snapshot(
            Path(directory), KIND, VERSION, mapped=frozenset({"cos", "sin"})
        )
        count = params.get("count")
        if not isinstance(count, int) or count < 0:
            raise IndexCorrupt(f"{directory}: bad count {count!r}")
        index = cls()
        index._set_main(
            require(arrays, "ids", "int64", (count,)),
            require(arrays, "averages", "float32", (count, FEATURE_DIM)),
            require(arrays, "cos", "float32", (count, *SHAPE)),
            require(arrays, "sin", "float32", (count, *SHAPE)),
        )
        return index


def _stack(arrays: list[NDArray[np.float32]], *shape: int) -> NDArray[np.float32]:
    return np.stack(arrays) if arrays else np.empty((0, *shape), np.float32)
