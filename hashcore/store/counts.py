"""Per-bank size counters, tallied in memory during a transaction and written once at its end.

A bank's size (active entries, active signals per family) changes with every write; updating a
counter row per write would double the statements of a bulk import, so the writer tallies
deltas here and :meth:`CountDeltas.flush` applies them in a handful of statements, inside the
same transaction, just before it commits.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping

ENTRIES = ""
"""The ``family`` under which ``bank_counts`` keeps a bank's active entries."""


class CountDeltas:
    """Changes to ``bank_counts`` not yet written: (bank id, family) -> delta."""

    def __init__(self) -> None:
        self._deltas: Counter[tuple[int, str]] = Counter()

    def entry(self, bank_id: int, delta: int) -> None:
        """An entry of ``bank_id`` became active (+1) or stopped being active (-1)."""
        self._deltas[bank_id, ENTRIES] += delta

    def signal(self, bank_id: int, family: str, delta: int) -> None:
        """An active entry of ``bank_id`` gained (+1) or lost (-1) a signal of ``family``."""
        self._deltas[bank_id, family] += delta

    def add(self, bank_id: int, deltas: Mapping[str, int]) -> None:
        """Several at once: family (:data:`ENTRIES` for entries) -> delta."""
        for family, delta in deltas.items():
            self._deltas[bank_id, family] += delta

    def flush(self, conn: sqlite3.Connection) -> None:
        """Add the tallied deltas to ``bank_counts`` (in the caller's open transaction)."""
        rows = [(bank, family, delta) for (bank, family), delta in self._deltas.items() if delta]
        if rows:
            conn.executemany(
                "INSERT INTO bank_counts (bank_id, family, count) VALUES (?, ?, ?)"
                " ON CONFLICT (bank_id, family) DO UPDATE SET count = count + excluded.count",
                rows,
            )
        self._deltas.clear()
