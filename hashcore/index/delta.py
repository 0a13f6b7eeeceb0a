"""Changes between compactions, once for every index with a big immutable main structure.

Rebuilding main (sorted arrays, search tables) costs a pass over every value, so between
compactions a removed or replaced main value only gets a tombstone and new values wait in a small
``{value id: value}`` delta that searches scan beside main. :class:`DeltaIndex` keeps that
bookkeeping (ids, tombstones, delta, counts, their snapshot checks); an index subclasses it and
adds its main structure, its search and its reaction to delta changes (:meth:`_delta_changed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hashcore.errors import InvalidInput
from hashcore.index.base import IndexCorrupt, SignalIndex
from hashcore.index.ids import all_distinct, distinct

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def id_array(value_ids: Sequence[int] | I64) -> I64:
    """Value ids as a flat int64 array; :class:`InvalidInput` for anything else."""
    try:
        return np.asarray(value_ids, dtype=np.int64).reshape(-1)
    except (OverflowError, ValueError, TypeError) as exc:
        raise InvalidInput(f"value ids must be int64: {exc}") from exc


class DeltaIndex(SignalIndex):
    """Main's value ids with tombstones, plus the delta: adds, removes, counts and ids."""

    def __init__(self) -> None:
        self._ids: I64 = np.zeros(0, np.int64)  # main's ids, in main's row order
        self._id_order: I64 | None = None  # argsort of _ids; None when _ids is sorted
        self._sorted_ids: I64 = self._ids
        self._dead: Bool = np.zeros(0, np.bool_)
        self._n_dead = 0
        self._delta: dict[int, bytes] = {}

    # -- hooks -------------------------------------------------------------------------------

    def _delta_changed(self, value_id: int | None, old: bytes | None, new: bytes | None) -> None:
        """Called after each change of the delta (``value_id`` None: it was emptied), so an
        index can keep derived views of it in step. The default keeps none."""

    # -- main --------------------------------------------------------------------------------

    def _set_ids(self, ids: I64) -> None:
        """Main now holds ``ids`` (in its row order), all live; the delta is emptied."""
        self._ids = ids
        if ids.shape[0] > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            # Main's ids are distinct, so any sort gives this order; quicksort is 2.5x faster
            # than a stable one at 10M (1.1 s against 2.7 s), and this runs on every load.
            self._id_order = np.argsort(ids)
            self._sorted_ids = ids[self._id_order]
        else:
            self._id_order, self._sorted_ids = None, ids
        self._dead = np.zeros(ids.shape[0], np.bool_)
        self._n_dead = 0
        self._delta = {}
        self._delta_changed(None, None, None)

    def _main_rows(self, ids: I64) -> I64:
        """Rows of main holding ``ids`` (absent ids are dropped)."""
        sorted_ids = self._sorted_ids
        if sorted_ids.shape[0] == 0:
            return np.zeros(0, np.int64)
        at = np.searchsorted(sorted_ids, ids)
        at[at >= sorted_ids.shape[0]] = 0
        at = at[sorted_ids[at] == ids].astype(np.int64)
        rows: I64 = at if self._id_order is None else self._id_order[at]
        return rows

    def _tombstone(self, ids: I64) -> None:
        rows = distinct(self._main_rows(ids))
        if rows.shape[0]:
            self._n_dead += int(np.count_nonzero(~self._dead[rows]))
            self._dead[rows] = True

    # -- changes -----------------------------------------------------------------------------

    def _put(self, ids: I64, values: Sequence[bytes]) -> None:
        """Adds through the delta: main copies of these ids get tombstones, delta ones replaced."""
        self._tombstone(ids)
        for value_id, value in zip(ids.tolist(), values, strict=True):
            old = self._delta.get(value_id)
            self._delta[value_id] = value
            self._delta_changed(value_id, old, value)

    def remove(self, value_ids: Sequence[int]) -> None:
        ids = id_array(value_ids)
        self._tombstone(ids)
        for value_id in ids.tolist():
            old = self._delta.pop(value_id, None)
            if old is not None:
                self._delta_changed(value_id, old, None)

    def __len__(self) -> int:
        return int(self._ids.shape[0]) - self._n_dead + len(self._delta)

    @property
    def delta_size(self) -> int:
        """Values waiting in the delta plus tombstones: a cue for the caller to :meth:`compact`."""
        return len(self._delta) + self._n_dead

    def value_ids(self) -> I64:
        return np.sort(np.concatenate([self._ids[~self._dead], self._delta_ids()]))

    def _delta_ids(self) -> I64:
        return np.fromiter(self._delta.keys(), np.int64, len(self._delta))

    # -- snapshots ---------------------------------------------------------------------------

    def _restore(self, directory: Path, dead: Bool, delta_ids: I64, values: list[bytes]) -> None:
        """A snapshot's tombstones and delta, after :meth:`_set_ids` of its main ids; checked."""
        self._dead = dead
        self._n_dead = int(np.count_nonzero(dead))
        if not all_distinct(delta_ids):
            raise IndexCorrupt(f"{directory}: repeated delta value ids")
        if bool((~dead[self._main_rows(delta_ids)]).any()):
            raise IndexCorrupt(f"{directory}: delta ids shadow live main ids")
        for value_id, value in zip(delta_ids.tolist(), values, strict=True):
            self._delta[value_id] = value
            self._delta_changed(value_id, None, value)

    def _check_count(self, directory: Path, count: int) -> None:
        if len(self) != count:
            raise IndexCorrupt(f"{directory}: {len(self)} live values, manifest says {count}")
