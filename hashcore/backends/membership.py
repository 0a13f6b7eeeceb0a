"""Which banks each value is in, for an external index that filters by bank inside its search.

The store counts a value's active entries across all banks (``signal_values.refs``); the change
log records only its 0 -> 1 and 1 -> 0 steps. A value can gain a bank without either step (an
entry of bank B banks a value bank A already has, or a withdrawn entry comes back), so an index
holding each value's banks needs one more log: ``bank_gains``, a row per (value, bank) that may
have been gained, written by SQLite triggers. Triggers, because every writer then keeps the log,
whatever its write path or hashcore version, in the same transaction as the change; they are
installed only when a backend that filters by bank opens the store, so stores on the embedded
index never pay for them.

Only gains are logged. A value's bank list may keep a bank it has since lost (an entry
withdrawn or removed while another bank still carries the value): the list is then a superset,
which costs a hit that the merge drops (:mod:`hashcore.hits` applies every bank rule again),
never a missed match. Every time the index writes a value it takes the value's banks afresh
from the store, so a superset shrinks at the value's next write or the next rebuild.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from hashcore.store import Store

ANY_BANK = -1
"""Stands for every bank: a value written without known banks (no store to ask, or more banks
than an index's list can hold) is found by every bank-filtered search."""
CHUNK = 900
"""Value ids per ``IN (...)`` query: under SQLite's 999 host-parameter floor."""

GAINS_DDL = (
    """CREATE TABLE IF NOT EXISTS bank_gains (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        value_id INTEGER NOT NULL
    )""",
    # A signal banked by an active entry: its value may have gained the entry's bank.
    """CREATE TRIGGER IF NOT EXISTS bank_gains_signal AFTER INSERT ON entry_signals
    WHEN (SELECT status FROM entries WHERE id = NEW.entry_id) = 'active'
    BEGIN
        INSERT INTO bank_gains (value_id) VALUES (NEW.value_id);
    END""",
    # An entry that becomes active (or moves bank): each of its values may have gained it.
    """CREATE TRIGGER IF NOT EXISTS bank_gains_entry AFTER UPDATE OF status, bank_id ON entries
    WHEN NEW.status = 'active' AND (OLD.status <> 'active' OR OLD.bank_id <> NEW.bank_id)
    BEGIN
        INSERT INTO bank_gains (value_id)
            SELECT value_id FROM entry_signals WHERE entry_id = NEW.id;
    END""",
)
"""The log holds value ids only, with no index but its key: the trigger runs once per banked
signal, so it is kept to one key lookup and one append (the family is joined when read)."""

_BANK_IDS_SQL = "SELECT id FROM banks WHERE name IN ({marks})"
_VALUES_SQL = "SELECT id, value FROM signal_values WHERE id IN ({marks})"
_BANKS_SQL = (
    "SELECT s.value_id, e.bank_id FROM entry_signals s JOIN entries e ON e.id = s.entry_id"
    " WHERE e.status = 'active' AND s.value_id IN ({marks})"
)


class BankMembership:
    """The banks of a store's values, and the log of values that may have gained one.

    Reads use the store's read connection of the calling thread (a search thread of each
    family reads at once); writes go through :meth:`Store.transaction`. ``installed`` is False
    for a read-only store whose writer never installed the triggers: its values are then
    written with :data:`ANY_BANK`.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        if not store.read_only:
            install(store)
        found = (
            self._conn()
            .execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bank_gains'")
            .fetchone()
        )
        self.installed = found is not None

    def _conn(self) -> sqlite3.Connection:
        return self._store.read_connection()

    def bank_ids(self, names: Iterable[str]) -> list[int]:
        """The store ids of these banks (unknown names are left out)."""
        rows = self._chunked(_BANK_IDS_SQL, list(names))
        return sorted(int(bank_id) for (bank_id,) in rows)

    def banks_of(self, value_ids: Sequence[int]) -> dict[int, list[int]]:
        """Each value's banks with an active entry carrying it (values with none left out)."""
        if not self.installed:
            return {}
        found: dict[int, set[int]] = {}
        for value_id, bank_id in self._chunked(_BANKS_SQL, [int(i) for i in value_ids]):
            found.setdefault(int(value_id), set()).add(int(bank_id))
        return {value_id: sorted(banks) for value_id, banks in found.items()}

    def gains_after(self, family: str, seq: int) -> tuple[int, list[int]]:
        """The family's values logged after ``seq`` that are live now, and the last seq read."""
        if not self.installed:
            return seq, []
        rows = (
            self._conn()
            .execute(
                "SELECT g.seq, g.value_id, v.family, v.refs FROM bank_gains g"
                " JOIN signal_values v ON v.id = g.value_id WHERE g.seq > ? ORDER BY g.seq",
                (seq,),
            )
            .fetchall()
        )
        if not rows:
            return seq, []
        live = sorted({int(v) for _, v, of, refs in rows if of == family and refs > 0})
        return int(rows[-1][0]), live

    def last_gain(self) -> int:
        """The newest gain's seq (0 when there is none): where a fresh index starts."""
        if not self.installed:
            return 0
        row = self._conn().execute("SELECT MAX(seq) FROM bank_gains").fetchone()
        return int(row[0] or 0)

    def values(self, value_ids: Sequence[int]) -> dict[int, bytes]:
        """The stored bytes of these values (a gained value is rewritten whole)."""
        rows = self._chunked(_VALUES_SQL, [int(i) for i in value_ids])
        return {int(value_id): bytes(value) for value_id, value in rows}

    def _chunked(self, template: str, keys: Sequence[object]) -> list[tuple[Any, ...]]:
        """``template`` run over ``keys`` a chunk at a time, the rows of every chunk."""
        rows: list[tuple[Any, ...]] = []
        conn = self._conn()
        for start in range(0, len(keys), CHUNK):
            chunk = list(keys[start : start + CHUNK])
            rows += conn.execute(template.format(marks=",".join("?" * len(chunk))), chunk)
        return rows

    def forget(self, family: str, upto: int) -> None:
        """Drop the family's gains up to ``upto``: a checkpoint holds their effect."""
        if not self.installed or self._store.read_only or upto <= 0:
            return
        with self._store.transaction() as writer:
            writer.connection.execute(
                "DELETE FROM bank_gains WHERE seq <= ?"
                " AND (SELECT family FROM signal_values WHERE id = value_id) = ?",
                (upto, family),
            )


def install(store: Store) -> None:
    """Create the gains log and its triggers in ``store`` (idempotent), in one transaction."""
    with store.transaction() as writer:
        for statement in GAINS_DDL:
            writer.connection.execute(statement)


def bank_lists(
    value_ids: Sequence[int], banks: Mapping[int, list[int]], capacity: int
) -> list[list[int]]:
    """Per value, the bank list an index stores: its banks, or ``[ANY_BANK]`` when none is
    known or there are more than ``capacity``."""
    out = []
    for value_id in value_ids:
        found = banks.get(int(value_id))
        out.append(found if found and len(found) <= capacity else [ANY_BANK])
    return out


def filter_expression(bank_ids: Collection[int]) -> str:
    """The Milvus filter keeping values in any of ``bank_ids`` (or in every bank).

    The banks are a JSON field, not an ARRAY: Milvus Lite 2.5.1 took 30-57 s to upsert 17,000
    rows with an INT64 ARRAY field against 0.4-0.7 s with the same lists as JSON (one run
    each, shared 2-core VM), and its ``query_iterator`` fails on a collection with an ARRAY.
    """
    wanted = sorted({int(i) for i in bank_ids} | {ANY_BANK})
    return f'json_contains_any(banks["ids"], {wanted})'
