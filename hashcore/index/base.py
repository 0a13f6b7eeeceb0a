"""The small index interface every family's index implements.

An index maps *value ids* (int64, one per distinct hash value in the store, so a value shared by
many entries and banks is indexed once) to values, and answers threshold queries. It knows
nothing about banks or entries: the store resolves value ids to live entries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt


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


class SignalIndex(ABC):
    """Threshold search over one family's values, with cheap adds and removes.

    Adds and removes are visible to the very next :meth:`search` (a delta plus tombstones);
    :meth:`compact` folds them into the main structure. Snapshots are written with the index's
    own writers (FAISS / numpy, never pickle) into a directory.
    """

    @abstractmethod
    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        """Add values under their ids. Re-adding an existing id replaces it."""

    @abstractmethod
    def remove(self, value_ids: Sequence[int]) -> None:
        """Remove ids; unknown ids are ignored."""

    @abstractmethod
    def search(self, queries: Sequence[bytes], threshold: float) -> list[list[IndexHit]]:
        """For each query, every stored value that matches at ``threshold``.

        Hamming families: distance <= threshold (inclusive). Similarity families: score >=
        threshold. Results must equal a brute-force scan exactly.
        """

    @abstractmethod
    def __len__(self) -> int:
        """Number of live values."""

    def value_ids(self) -> npt.NDArray[np.int64]:
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
