"""The small index interface every family's index implements.

An index maps *value ids* (int64, one per distinct hash value in the store, so a value shared by
many entries and banks is indexed once) to values, and answers threshold queries. It knows
nothing about entries, and about banks at most which ones a lookup wants
(:meth:`SignalIndex.range_search_in`): the store resolves value ids to live entries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


class IndexCorrupt(Exception):
    """A snapshot is truncated, corrupted, or from another index or format version.

    Not a :class:`~hashcore.errors.HashcoreError`: no caller input is at fault; the operator
    must rebuild the index from the store.
    """


@dataclass(frozen=True, slots=True)
class IndexHit:
    """A stored value within threshold of a query: its id and distance (or score)."""

    value_id: int
    distance: float


@dataclass(frozen=True, slots=True)
class RangeHits:
    """The hits of a batch of queries as arrays, laid out as FAISS's ``range_search`` does.

    Query ``q``'s hits are ``value_ids[lims[q]:lims[q + 1]]`` with their ``distances`` (or
    scores), in :meth:`SignalIndex.search` order. Arrays rather than one object per hit, because
    a many-hit lookup would otherwise spend a third of its time building those objects.
    """

    lims: I64
    value_ids: I64
    distances: F64

    @classmethod
    def from_lists(cls, hits: Sequence[Sequence[IndexHit]]) -> RangeHits:
        """The array form of per-query hit lists."""
        counts = np.fromiter((len(h) for h in hits), np.int64, len(hits))
        lims = np.concatenate([np.zeros(1, np.int64), np.cumsum(counts)])
        flat = [hit for per_query in hits for hit in per_query]
        ids = np.fromiter((h.value_id for h in flat), np.int64, len(flat))
        distances = np.fromiter((h.distance for h in flat), np.float64, len(flat))
        return cls(lims, ids, distances)

    def to_lists(self) -> list[list[IndexHit]]:
        """One list of :class:`IndexHit` per query: the :meth:`SignalIndex.search` form."""
        ids, distances = self.value_ids.tolist(), self.distances.tolist()
        bounds = self.lims.tolist()
        return [
            [IndexHit(ids[i], distances[i]) for i in range(bounds[q], bounds[q + 1])]
            for q in range(len(bounds) - 1)
        ]


class SignalIndex(ABC):
    """Threshold search over one family's values, with cheap adds and removes.

    Adds and removes are visible to the very next :meth:`search` (a delta plus tombstones);
    :meth:`compact` folds them into the main structure. Snapshots are written with the index's
    own writers (FAISS / numpy, never pickle) into a directory: :mod:`hashcore.index` exports the
    helpers a plugin's index uses for them.
    """

    verifies_own_files: ClassVar[bool] = False
    """Whether :meth:`load` checksums every file of its snapshot itself (``read_snapshot``
    with no ``mapped`` arrays does). Opening an index from the store's snapshot then checks
    the digest of its ``manifest.json`` alone, whose checksums cover the rest, instead of
    hashing every file a second time (1.9 s of a 10M restart)."""

    @abstractmethod
    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        """Add values under their ids. Re-adding an existing id replaces it."""

    def add_array(self, value_ids: I64, codes: U8) -> None:
        """:meth:`add` for bulk loads of fixed-width values: ids and an (n, width) uint8 array.

        The default makes one ``bytes`` per row and calls :meth:`add`; indexes whose values
        have a :attr:`value_size` override it to skip those per-value objects.
        """
        ids = np.asarray(value_ids, np.int64).reshape(-1)
        rows = np.asarray(codes, np.uint8)
        self.add(ids.tolist(), [row.tobytes() for row in rows])

    @property
    def value_size(self) -> int | None:
        """Bytes per value when every value has the same width (a rebuild then hands them over
        as one array to :meth:`add_array`); ``None`` (the default) for variable-size values."""
        return None

    @abstractmethod
    def remove(self, value_ids: Sequence[int]) -> None:
        """Remove ids; unknown ids are ignored."""

    @abstractmethod
    def search(self, queries: Sequence[bytes], threshold: float) -> list[list[IndexHit]]:
        """For each query, every stored value that matches at ``threshold``.

        Hamming families: distance <= threshold (inclusive). Similarity families: score >=
        threshold. Results must equal a brute-force scan exactly.
        """

    def range_search(self, queries: Sequence[bytes], threshold: float) -> RangeHits:
        """:meth:`search` as arrays (what the engine calls); the default converts its lists.

        Indexes that find hits as arrays override it (and make :meth:`search` the wrapper), so
        no per-hit object is built between the index and the merge.
        """
        return RangeHits.from_lists(self.search(queries, threshold))

    def range_search_in(
        self, queries: Sequence[bytes], threshold: float, banks: Collection[str] | None
    ) -> RangeHits:
        """:meth:`range_search` where the lookup wants only the values of ``banks`` (names;
        ``None``: every bank), which is what the engine calls.

        The merge applies every bank rule to what comes back, so ignoring ``banks`` (the
        default) is always correct. An index that knows its values' banks (an external
        backend's, see :mod:`hashcore.backends.membership`) filters by them to return fewer
        hits; it may return a value of another bank, never leave out one of ``banks``.
        """
        return self.range_search(queries, threshold)

    @abstractmethod
    def __len__(self) -> int:
        """Number of live values."""

    @property
    def delta_size(self) -> int:
        """Values waiting in the delta plus tombstones: a cue to :meth:`compact`.

        The default, for indexes that keep no count, is every live value: callers then always
        compact, which is correct, only sometimes unneeded.
        """
        return len(self)

    def value_ids(self) -> I64:
        """The ids of every live value, sorted (``hashcore check`` compares them with the
        store). Indexes that cannot list them raise :class:`NotImplementedError`."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its value ids")

    @abstractmethod
    def compact(self) -> None:
        """Fold the delta and tombstones into the main structure."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write a snapshot into ``directory`` (created if needed)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> SignalIndex:
        """Read a snapshot written by :meth:`save`; raise on any inconsistency."""
