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
from hashcore.index.base import IndexCorrupt, IndexHit, RangeHits
from hashcore.index.delta import DeltaIndex, id_array
from hashcore.index.snapshot import require

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Keys = npt.NDArray[np.bytes_]

FORMAT_VERSION = 1
BULK_MIN = 50_000
"""Batches at least this big (or a quarter of main) are merged straight into main."""


class ExactIndex(DeltaIndex):
    """Exact-match index over ``nbytes``-byte values; ``threshold`` is ignored."""

    kind = "ExactIndex"
    format_version = FORMAT_VERSION
    delta_array = ("delta_values", "uint8")

    def __init__(self, nbytes: int) -> None:
        if nbytes <= 0:
            raise ValueError(f"nbytes must be positive, got {nbytes}")
        super().__init__()
        self.nbytes = nbytes
        # Main, sorted by (value, id): numpy 'S' keys compare bytewise; all have full width, so
        # their null padding never merges two values. Values are kept as uint8 rows too, since
        # reading an 'S' element back strips trailing zero bytes.
        self._keys: Keys = np.zeros(0, f"S{nbytes}")
        self._delta_by_value: dict[bytes, set[int]] = {}

    @property
    def value_size(self) -> int:
        return self.nbytes

    def _check(self, values: Sequence[bytes]) -> None:
        for v in values:
            if len(v) != self.nbytes:
                raise InvalidInput(f"expected {self.nbytes}-byte values, got {len(v)} bytes")

    def _as_keys(self, values: Sequence[bytes]) -> Keys:
        raw = np.frombuffer(b"".join(values), np.uint8).reshape(len(values), self.nbytes)
        return np.ascontiguousarray(raw).view(f"S{self.nbytes}").reshape(-1)

    def _delta_changed(self, value_id: int | None, old: bytes | None, new: bytes | None) -> None:
        """Keep the value -> ids view of the delta that searches read."""
        if value_id is None:
            self._delta_by_value = {}
            return
        if old is not None:
            holders = self._delta_by_value[old]
            holders.discard(value_id)
            if not holders:
                del self._delta_by_value[old]
        if new is not None:
            self._delta_by_value.setdefault(new, set()).add(value_id)

    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        ids = id_array(value_ids)
        if ids.shape[0] != len(values):
            raise InvalidInput(f"{ids.shape[0]} value ids for {len(values)} values")
        self._check(values)
        if ids.shape[0] >= max(BULK_MIN, self._ids.shape[0] // 4):
            self._rebuild(ids, self._as_keys(values))
            return
        self._put(ids, [bytes(value) for value in values])

    def add_array(self, value_ids: I64, codes: U8) -> None:
        """:meth:`add` for bulk loads: ids and an (n, nbytes) uint8 array, no per-value objects."""
        ids = id_array(value_ids)
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

    def search(self, queries: Sequence[bytes], threshold: float = 0.0) -> list[list[IndexHit]]:
        """Ids whose value equals each query, ascending; ``threshold`` is ignored."""
        return self.range_search(queries, threshold).to_lists()

    def range_search(self, queries: Sequence[bytes], threshold: float = 0.0) -> RangeHits:
        """:meth:`search` as arrays: per query, the ids holding its value, ascending."""
        self._check(queries)
        keys = self._as_keys(queries) if queries else np.zeros(0, f"S{self.nbytes}")
        lo = np.searchsorted(self._keys, keys, side="left")
        hi = np.searchsorted(self._keys, keys, side="right")
        # Main rows of equal values are sorted by id; the delta's ids are merged in per query.
        counts = hi - lo
        rows = np.repeat(hi - counts.cumsum(), counts) + np.arange(int(counts.sum()))
        owner = np.repeat(np.arange(len(queries), dtype=np.int64), counts)
        live = ~self._dead[rows]
        owner, ids = owner[live], self._ids[rows[live]]
        if self._delta_by_value:
            extra = [
                (q, value_id)
                for q, query in enumerate(queries)
                for value_id in self._delta_by_value.get(bytes(query), ())
            ]
            if extra:
                more = np.array(extra, np.int64).reshape(-1, 2)
                owner = np.concatenate([owner, more[:, 0]])
                ids = np.concatenate([ids, more[:, 1]])
                order = np.lexsort((ids, owner))
                owner, ids = owner[order], ids[order]
        lims = np.searchsorted(owner, np.arange(len(queries) + 1)).astype(np.int64)
        return RangeHits(lims, ids, np.zeros(ids.shape[0], np.float64))

    def compact(self) -> None:
        self._rebuild(np.zeros(0, np.int64), np.zeros(0, f"S{self.nbytes}"))

    def _delta_arrays(self) -> tuple[I64, Keys]:
        return self._delta_ids(), self._as_keys(list(self._delta.values()))

    def _rebuild(self, new_ids: I64, new_keys: Keys) -> None:
        ids, keys = self._merged(self._keys, self._delta_arrays(), new_ids, new_keys)
        order = np.lexsort((ids, keys))
        self._set_main(keys[order], ids[order])

    def _set_main(self, keys: Keys, ids: I64, id_order: I64 | None = None) -> None:
        self._keys = keys
        self._set_ids(ids, id_order)

    # -- snapshots (the frame is DeltaIndex's) ------------------------------------------------

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> ExactIndex:
        return cls(int(params["nbytes"]))

    def _main_snapshot(self) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
        """Main's values, and the order that sorts its ids (main is in value order), so a load
        checks it in one pass instead of sorting 10M ids (older snapshots lack it: sorted)."""
        values = self._keys.view(np.uint8).reshape(-1, self.nbytes)
        arrays: dict[str, npt.NDArray[Any]] = {"values": values}
        if self._id_order is not None:
            arrays["id_order"] = self._id_order
        return {"nbytes": self.nbytes}, arrays

    def _load_main(
        self, directory: Path, params: dict[str, Any], arrays: dict[str, npt.NDArray[Any]], ids: I64
    ) -> None:
        n = ids.shape[0]
        values = require(arrays, "values", "uint8", (n, self.nbytes))
        keys = np.ascontiguousarray(values).view(f"S{self.nbytes}").reshape(-1)
        if keys.shape[0] > 1 and not bool(np.all(keys[1:] >= keys[:-1])):
            raise IndexCorrupt(f"{directory}: main values are not sorted")
        id_order = None
        if "id_order" in arrays:
            id_order = require(arrays, "id_order", "int64", (n,))
            if n and not (int(id_order.min()) >= 0 and int(id_order.max()) < n):
                raise IndexCorrupt(f"{directory}: id order points outside main")
        self._set_main(keys, ids, id_order)
        if not self._ids_distinct():  # also proves id_order a permutation
            raise IndexCorrupt(f"{directory}: repeated value ids or a wrong id order")

    def _delta_rows(self) -> tuple[I64, U8]:
        delta_ids, delta_keys = self._delta_arrays()
        return delta_ids, delta_keys.view(np.uint8).reshape(-1, self.nbytes)

    def _row_width(self) -> int:
        return self.nbytes
