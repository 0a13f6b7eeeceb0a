"""The store's side of bank sharing (docs/sharing.md): read the bank-level ``entry_log``,
keep followed entries' origins and publishers' follower positions.

The log is written by SQLite triggers (:data:`~hashcore.store.schema.ENTRY_LOG_TRIGGERS`), so
nothing here writes it. A page of the log is read in one read transaction with the entries it
names, so the states sent with a checkpoint are at least as new as the checkpoint.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hashcore.model import Entry, EntryOrigin, FollowerPosition
from hashcore.signals import Signal
from hashcore.store.rows import ENTRY_COLUMNS, entry_from_row

_PAGE_SQL = (
    "SELECT seq, entry_id, external_id FROM entry_log"
    " WHERE bank_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)
_ENTRIES_SQL = (
    f"SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id"  # noqa: S608
    " WHERE e.id IN ({marks})"
)
_SIGNALS_SQL = (
    "SELECT s.entry_id, v.family, v.value, s.quality, s.variant FROM entry_signals s"
    " JOIN signal_values v ON v.id = s.value_id WHERE s.entry_id IN ({marks})"
    " ORDER BY s.entry_id, v.family, s.variant IS NOT NULL, s.variant, s.value_id"
)
_ORIGINS_SQL = (
    "SELECT entry_id, partner, remote_bank, checkpoint, received_at FROM entry_origins"
    " WHERE entry_id IN ({marks})"
)
_SET_ORIGIN = (
    "INSERT INTO entry_origins (entry_id, partner, remote_bank, checkpoint, received_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (entry_id) DO UPDATE SET partner = excluded.partner,"
    " remote_bank = excluded.remote_bank, checkpoint = excluded.checkpoint,"
    " received_at = excluded.received_at"
)
_SET_FOLLOWER = (
    "INSERT INTO followers (bank_id, partner, checkpoint, updated_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (bank_id, partner) DO UPDATE"
    " SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at"
)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LoggedEntry:
    """One entry changed in a page of the log: its state now, or ``None`` once removed."""

    seq: int
    """The last log row of this entry in the page."""
    external_id: str
    entry: Entry | None


def read_page(
    conn: sqlite3.Connection,
    bank_id: int,
    after: int,
    limit: int,
) -> tuple[int, list[LoggedEntry]]:
    """The bank's log rows with ``seq > after`` (at most ``limit``), one item per entry in
    the order of its last row, and the last seq read (``after`` when there is none)."""
    conn.execute("BEGIN")
    try:
        rows = conn.execute(_PAGE_SQL, (bank_id, after, limit)).fetchall()
        last: dict[int, tuple[int, str]] = {}
        for seq, entry_id, external_id in rows:
            last.pop(entry_id, None)  # re-inserted: dicts keep insertion order
            last[entry_id] = (seq, external_id)
        found = read_entries(conn, list(last))
        items = [
            LoggedEntry(seq, external_id, found.get(entry_id))
            for entry_id, (seq, external_id) in last.items()
        ]
    finally:
        conn.execute("COMMIT")
    return (int(rows[-1][0]) if rows else after), items


def last_seq(conn: sqlite3.Connection, bank_id: int) -> int:
    row = conn.execute("SELECT MAX(seq) FROM entry_log WHERE bank_id = ?", (bank_id,)).fetchone()
    return int(row[0] or 0)


def read_entries(conn: sqlite3.Connection, entry_ids: Sequence[int]) -> dict[int, Entry]:
    """Those of ``entry_ids`` still stored, with their signals: two queries per 500 (a page
    read entry by entry took two queries per entry)."""
    found: dict[int, Entry] = {}
    for start in range(0, len(entry_ids), _CHUNK):
        chunk = entry_ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        signals: dict[int, list[Signal]] = {}
        for entry_id, family, value, quality, variant in conn.execute(
            _SIGNALS_SQL.format(marks=marks), chunk
        ):
            signals.setdefault(entry_id, []).append(
                Signal(family, bytes(value), quality=quality, variant=variant)
            )
        for row in conn.execute(_ENTRIES_SQL.format(marks=marks), chunk):
            found[row[0]] = entry_from_row(row, signals.get(row[0], ()))
    return found


def origins(conn: sqlite3.Connection, entry_ids: Iterable[int]) -> dict[int, EntryOrigin]:
    """The origins of those of ``entry_ids`` that came from a followed bank."""
    ids = list(dict.fromkeys(entry_ids))
    found: dict[int, EntryOrigin] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(_ORIGINS_SQL.format(marks=",".join("?" * len(chunk))), chunk)
        for entry_id, partner, remote_bank, checkpoint, received_at in rows:
            found[int(entry_id)] = EntryOrigin(partner, remote_bank, checkpoint, received_at)
    return found


def set_origins(conn: sqlite3.Connection, bank_id: int, origins: Mapping[str, EntryOrigin]) -> None:
    """Record where the bank's entries named by external id came from (replacing what was)."""
    ids = list(origins)
    rows = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found = conn.execute(
            f"SELECT id, external_id FROM entries WHERE bank_id = ? AND external_id IN ({marks})",  # noqa: S608
            [bank_id, *chunk],
        )
        for entry_id, external_id in found:
            o = origins[external_id]
            rows.append((entry_id, o.partner, o.remote_bank, o.checkpoint, o.received_at))
    conn.executemany(_SET_ORIGIN, rows)


def followers(conn: sqlite3.Connection, bank_id: int) -> list[FollowerPosition]:
    rows = conn.execute(
        "SELECT partner, checkpoint, updated_at FROM followers WHERE bank_id = ? ORDER BY partner",
        (bank_id,),
    )
    return [FollowerPosition(partner, checkpoint, at) for partner, checkpoint, at in rows]


def record_follower(conn: sqlite3.Connection, bank_id: int, partner: str, checkpoint: str) -> None:
    conn.execute(_SET_FOLLOWER, (bank_id, partner, checkpoint, time.time()))
