"""Byte-equality lookup for cryptographic hashes (MD5): sorted arrays plus a small dict delta.

A Python dict of 10M ``bytes`` keys costs well over 1 GB; a sorted fixed-width array costs
``n * (nbytes + 8)`` and answers by binary search, so the main structure is that. Adds land in a
dict, removes set tombstones, and :meth:`compact` merges, as for every index.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hashcore.errors import InvalidInput
from hashcore.index.base import IndexCorrupt, IndexHit, SignalIndex
from hashcore.index.snapshot import read_snapshot, require, write_snapshot

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Keys = npt.NDArray[np.bytes_]

FORMAT_VERSION = 1
BULK_MIN = 50_000
"""Batches at least this big (or a quarter of main) are merged straight into main."""


class ExactIndex(SignalIndex):
    """Exact-match index over ``nbytes``-byte values; ``threshold`` is ignored."""

    kind = "ExactIndex"

    def __init__(self, nbytes: int) -> None:
        if nbytes <= 0:
            raise ValueError(f"nbytes must be positive, got {nbytes}")
        self.nbytes = nbytes
        # Main, sorted by (value, id): numpy 'S' keys compare bytewise; all have full width, so
        # their null padding never merges two values. Values are kept as uint8 rows too, since
        # reading an 'S' element back strips trailing zero bytes.
        self._keys: Keys = np.zeros(0, f"S{nbytes}")
        self._ids: I64 = np.zeros(0, np.int64)
        self._id_order: I64 = np.zeros(0, np.int64)  # argsort of _ids, for removes
        self._sorted_ids: I64 = np.zeros(0, np.int64)  # _ids[_id_order], not redone per add
        self._dead = np.zeros(0, np.bool_)
        self._n_dead = 0
        self._delta: dict[int, bytes] = {}  # id -> value
        self._delta_by_value: dict[bytes, set[int]] = {}

    def _check(self, values: Sequence[bytes]) -> None:
        for v in values:
            if len(v) != self.nbytes:
                raise InvalidInput(f"expected {self.nbytes}-byte values, got {len(v)} bytes")

    def _as_keys(self, values: Sequence[bytes]) -> Keys:
        raw = np.frombuffer(b"".join(values), np.uint8).reshape(len(values), self.nbytes)
        return np.ascontiguousarray(raw).view(f"S{self.nbytes}").reshape(-1)

    @staticmethod
    def _id_array(value_ids: Sequence[int] | I64) -> I64:
        try:
            return np.asarray(value_ids, dtype=np.int64).reshape(-1)
        except (OverflowError, ValueError, TypeError) as exc:
            raise InvalidInput(f"value ids must be int64: {exc}") from exc

    def _main_rows(self, ids: I64) -> I64:
        if self._ids.shape[0] == 0:
            return np.zeros(0, np.int64)
        sorted_ids = self._sorted_ids
        at = np.searchsorted(sorted_ids, ids)
        at[at >= sorted_ids.shape[0]] = 0
        rows: I64 = self._id_order[at[sorted_ids[at] == ids]]
        return rows

    def _tombstone(self, ids: I64) -> None:
        rows = np.unique(self._main_rows(ids))
        if rows.shape[0]:
            self._n_dead += int(np.count_nonzero(~self._dead[rows]))
            self._dead[rows] = True

    def _delta_drop(self, value_id: int) -> None:
        old = self._delta.pop(value_id, None)
        if old is not None:
            holders = self._delta_by_value[old]
            holders.discard(value_id)
            if not holders:
                del self._delta_by_value[old]

    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        ids = self._id_array(value_ids)
        if ids.shape[0] != len(values):
            raise InvalidInput(f"{ids.shape[0]} value ids for {len(values)} values")
        self._check(values)
        if ids.shape[0] >= max(BULK_MIN, self._ids.shape[0] // 4):
            self._rebuild(ids, self._as_keys(values))
            return
        self._tombstone(ids)
        for value_id, value in zip(ids.tolist(), values, strict=True):
            self._delta_drop(value_id)
            self._delta[value_id] = bytes(value)
            self._delta_by_value.setdefault(bytes(value), set()).add(value_id)

    def add_array(self, value_ids: I64, codes: U8) -> None:
        """:meth:`add` for bulk loads: ids and an (n, nbytes) uint8 array, no per-value objects."""
        ids = self._id_array(value_ids)
        codes = np.asarray(codes)
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != self.nbytes:
            raise InvalidInput(
                f"expected a (n, {self.nbytes}) uint8 array, got {codes.dtype}{codes.shape}"
            )
        if ids.shape[0] != codes.shape[0]:
            raise InvalidInput(f"{ids.shape[0]} value ids for {codes.shape[0]} values")
        if ids.shape[0] >= max(BULK_MIN, self._ids.shape[0] // 4):
            keys = np.ascontiguousarray(codes).view(f"S{self.nbytes}").reshape(-1)
            self._rebuild(ids, keys)
        else:
            self.add(ids.tolist(), [row.tobytes() for row in codes])

    def remove(self, value_ids: Sequence[int]) -> None:
        ids = self._id_array(value_ids)
        self._tombstone(ids)
        for value_id in ids.tolist():
            self._delta_drop(value_id)

    def __len__(self) -> int:
        return int(self._ids.shape[0]) - self._n_dead + len(self._delta)

    def value_ids(self) -> I64:
        delta = np.fromiter(self._delta.keys(), np.int64, len(self._delta))
        return np.sort(np.concatenate([self._ids[~self._dead], delta]))

    def search(self, queries: Sequence[bytes], threshold: float = 0.0) -> list[list[IndexHit]]:
        """Ids whose value equals each query, ascending; ``threshold`` is ignored."""
        self._check(queries)
        out: list[list[IndexHit]] = [[] for _ in queries]
        if not queries:
            return out
        keys = self._as_keys(queries)
        lo = np.searchsorted(self._keys, keys, side="left")
        hi = np.searchsorted(self._keys, keys, side="right")
        for q, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
            found = [
                i for i, d in zip(self._ids[a:b].tolist(), self._dead[a:b], strict=True) if not d
            ]
            found.extend(self._delta_by_value.get(bytes(queries[q]), ()))
            out[q] = [IndexHit(i, 0.0) for i in sorted(found)]
        return out

    def compact(self) -> None:
        self._rebuild(np.zeros(0, np.int64), np.zeros(0, f"S{self.nbytes}"))

    def _delta_arrays(self) -> tuple[I64, Keys]:
        ids = np.fromiter(self._delta.keys(), np.int64, len(self._delta))
        return ids, self._as_keys(list(self._delta.values()))

    def _rebuild(self, new_ids: I64, new_keys: Keys) -> None:
        live = ~self._dead
        delta_ids, delta_keys = self._delta_arrays()
        ids = np.concatenate([self._ids[live], delta_ids, new_ids])
        keys = np.concatenate([self._keys[live], delta_keys, new_keys])
        uniq, first = np.unique(ids[::-1], return_index=True)  # last occurrence of an id wins
        keep = ids.shape[0] - 1 - first
        ids, keys = uniq, keys[keep]
        order = np.lexsort((ids, keys))
        self._set_main(keys[order], ids[order])

    def _set_main(self, keys: Keys, ids: I64) -> None:
        self._keys, self._ids = keys, ids
        self._id_order = np.argsort(ids, kind="stable")
        self._sorted_ids = ids[self._id_order]
        self._dead = np.zeros(ids.shape[0], np.bool_)
        self._n_dead = 0
        self._delta, self._delta_by_value = {}, {}

    def save(self, directory: Path) -> None:
        delta_ids, delta_keys = self._delta_arrays()
        arrays: dict[str, npt.NDArray[Any]] = {
            "values": self._keys.view(np.uint8).reshape(-1, self.nbytes),
            "ids": self._ids,
            "dead": self._dead,
            "delta_ids": delta_ids,
            "delta_values": delta_keys.view(np.uint8).reshape(-1, self.nbytes),
        }
        params = {"nbytes": self.nbytes, "count": len(self), "main": int(self._ids.shape[0])}
        write_snapshot(Path(directory), self.kind, FORMAT_VERSION, params, arrays)

    @classmethod
    def load(cls, directory: Path) -> ExactIndex:
        params, arrays = read_snapshot(Path(directory), cls.kind, FORMAT_VERSION)
        try:
            nbytes, n, count = int(params["nbytes"]), int(params["main"]), int(params["count"])
            index = cls(nbytes)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorrupt(f"{directory}: bad manifest params: {exc}") from exc
        values = require(arrays, "values", "uint8", (n, nbytes))
        ids = require(arrays, "ids", "int64", (n,))
        dead = require(arrays, "dead", "bool", (n,))
        nd = arrays.get("delta_ids", np.zeros(0)).shape[0]
        delta_ids = require(arrays, "delta_ids", "int64", (nd,))
        delta_values = require(arrays, "delta_values", "uint8", (nd, nbytes))
        keys = np.ascontiguousarray(values).view(f"S{nbytes}").reshape(-1)
        if n > 1 and not bool(np.all(keys[1:] >= keys[:-1])):
            raise IndexCorrupt(f"{directory}: main values are not sorted")
        if np.unique(ids).shape[0] != n or np.unique(delta_ids).shape[0] != nd:
            raise IndexCorrupt(f"{directory}: repeated value ids")
        index._set_main(keys, ids)
        index._dead = dead
        index._n_dead = int(np.count_nonzero(dead))
        if bool((~dead[index._main_rows(delta_ids)]).any()):
            raise IndexCorrupt(f"{directory}: delta ids shadow live main ids")
        for value_id, row in zip(delta_ids.tolist(), delta_values, strict=True):
            value = row.tobytes()
            index._delta[value_id] = value
            index._delta_by_value.setdefault(value, set()).add(value_id)
        if len(index) != count:
            raise IndexCorrupt(f"{directory}: {len(index)} live values, manifest says {count}")
        return index
