"""Every change to a store, made inside one SQLite transaction (see :meth:`Store.transaction`).

Each method keeps ``signal_values.refs`` equal to the number of active entries carrying a value
and appends to ``changes`` whenever a value enters (refs 0 -> 1) or leaves (1 -> 0) the set the
indexes must hold. Engines replay ``changes`` to stay current, so a write made here, through an
engine or by an importer in another process, reaches every index without a rebuild.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from hashcore.errors import AlreadyExists, InvalidInput, NotFound
from hashcore.model import Bank, Entry, EntryStatus
from hashcore.signals import Signal
from hashcore.store.rows import (
    BANK_COLUMNS,
    bank_from_row,
    clean_labels,
    clean_thresholds,
    dump_json,
)

Validator = Callable[[Signal], Signal]
"""Checks one signal (family known, value well-formed) and returns it with clean bytes."""

MAX_EXTERNAL_ID = 512


class UpsertOutcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class StoreWriter:
    """The write half of a store, bound to one open transaction; obtained from the store only."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        validate: Validator,
        read_entry: Callable[[sqlite3.Connection, int], Entry],
    ) -> None:
        self._conn = conn
        self._validate = validate
        self._read_entry = read_entry
        self.changes = 0
        """Rows appended to ``changes`` so far in this transaction."""

    # Banks

    def create_bank(
        self,
        name: str,
        *,
        labels: Iterable[str] = (),
        source: str | None = None,
        enabled: bool = True,
        thresholds: Mapping[str, float] | None = None,
    ) -> Bank:
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise InvalidInput(f"invalid bank name {name!r}", field="bank")
        try:
            self._conn.execute(
                "INSERT INTO banks (name, source, labels, enabled, thresholds, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    source,
                    dump_json(list(clean_labels(labels))),
                    int(enabled),
                    dump_json(clean_thresholds(thresholds)),
                    time.time(),
                ),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"bank {name!r} already exists", field="bank") from None
        return self.bank(name)

    def bank(self, name: str) -> Bank:
        return bank_from_row(self._bank_row(name))

    def set_bank_enabled(self, name: str, enabled: bool) -> Bank:
        bank_id = self._bank_id(name)
        self._conn.execute("UPDATE banks SET enabled = ? WHERE id = ?", (int(enabled), bank_id))
        return self.bank(name)

    def set_bank_thresholds(self, name: str, thresholds: Mapping[str, float]) -> Bank:
        bank_id = self._bank_id(name)
        self._conn.execute(
            "UPDATE banks SET thresholds = ? WHERE id = ?",
            (dump_json(clean_thresholds(thresholds)), bank_id),
        )
        return self.bank(name)

    # Entries

    def add_entry(
        self,
        bank: str,
        signals: Sequence[Signal],
        *,
        external_id: str | None = None,
        labels: Iterable[str] = (),
        source: str | None = None,
        status: EntryStatus = EntryStatus.ACTIVE,
        created_at: float | None = None,
    ) -> Entry:
        """Insert a new entry; :class:`AlreadyExists` if its external id is taken in the bank."""
        bank_id = self._bank_id(bank)
        external_id = _clean_external_id(external_id) if external_id else uuid.uuid4().hex
        status = EntryStatus(status)
        if status is EntryStatus.ACTIVE:
            self._clean_signals(signals)  # refuse an active entry without usable signals early
        try:
            entry_id = self._insert_entry(
                bank_id, external_id, signals, labels, source, status, created_at, None
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(
                f"bank {bank!r} already has an entry with external id {external_id!r}",
                field="external_id",
            ) from None
        return self._read_entry(self._conn, entry_id)

    def upsert_entry(
        self,
        bank: str,
        external_id: str,
        signals: Sequence[Signal],
        *,
        labels: Iterable[str] = (),
        source: str | None = None,
        status: EntryStatus = EntryStatus.ACTIVE,
        updated_at: float | None = None,
        created_at: float | None = None,
    ) -> UpsertOutcome:
        """Make the entry ``external_id`` of ``bank`` look exactly like this (partner sync).

        Partner feeds are not time-ordered, so a record older than what we hold (``updated_at``)
        changes nothing. A withdrawal or deletion may come without signals (NCMEC deletions
        carry none): the entry keeps its signals and only stops matching. A deletion of an id
        never seen is kept as a tombstone row, so an older add arriving later cannot revive it.
        """
        bank_id = self._bank_id(bank)
        external_id = _clean_external_id(external_id)
        status = EntryStatus(status)
        active = status is EntryStatus.ACTIVE
        row = self._conn.execute(
            "SELECT id, labels, source, status, updated_at FROM entries"
            " WHERE bank_id = ? AND external_id = ?",
            (bank_id, external_id),
        ).fetchone()
        if row is None:
            self._insert_entry(
                bank_id, external_id, signals, labels, source, status, created_at, updated_at
            )
            return UpsertOutcome.ADDED if active else UpsertOutcome.UNCHANGED
        entry_id, old_labels, old_source, old_status, old_updated = row
        if updated_at is not None and old_updated is not None and updated_at < old_updated:
            return UpsertOutcome.UNCHANGED
        old_values = self._entry_values(entry_id)
        if not active and not any(signal.usable for signal in signals):
            new_values = old_values
        else:
            new_values = self._intern(self._clean_signals(signals))
        new_labels = dump_json(list(clean_labels(labels)))
        stamp = time.time() if updated_at is None else updated_at
        if (
            old_values.keys() == new_values.keys()
            and old_labels == new_labels
            and old_source == source
            and old_status == status.value
        ):
            if updated_at is not None and updated_at != old_updated:
                self._conn.execute(
                    "UPDATE entries SET updated_at = ? WHERE id = ?", (updated_at, entry_id)
                )
            return UpsertOutcome.UNCHANGED
        was_active = old_status == EntryStatus.ACTIVE.value
        for value_id in old_values.keys() - new_values.keys():
            self._conn.execute(
                "DELETE FROM entry_signals WHERE entry_id = ? AND value_id = ?",
                (entry_id, value_id),
            )
            if was_active:
                self._ref(value_id, -1)
        for value_id, quality in new_values.items():
            self._conn.execute(
                "INSERT OR REPLACE INTO entry_signals (entry_id, value_id, quality)"
                " VALUES (?, ?, ?)",
                (entry_id, value_id, quality),
            )
            kept = value_id in old_values
            if active and not (kept and was_active):
                self._ref(value_id, +1)
            elif kept and was_active and not active:
                self._ref(value_id, -1)
        self._conn.execute(
            "UPDATE entries SET labels = ?, source = ?, status = ?, updated_at = ? WHERE id = ?",
            (new_labels, source, status.value, stamp, entry_id),
        )
        return UpsertOutcome.UPDATED

    def _insert_entry(
        self,
        bank_id: int,
        external_id: str,
        signals: Sequence[Signal],
        labels: Iterable[str],
        source: str | None,
        status: EntryStatus,
        created_at: float | None,
        updated_at: float | None,
    ) -> int:
        """One new row; non-active entries (tombstones) may have no signals."""
        active = status is EntryStatus.ACTIVE
        usable = [signal for signal in signals if signal.usable]
        clean = self._clean_signals(usable) if active or usable else []
        now = time.time()
        created = created_at if created_at is not None else (updated_at or now)
        updated = updated_at if updated_at is not None else created
        cursor = self._conn.execute(
            "INSERT INTO entries"
            " (bank_id, external_id, labels, source, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                bank_id,
                external_id,
                dump_json(list(clean_labels(labels))),
                source,
                status.value,
                created,
                updated,
            ),
        )
        entry_id = int(cursor.lastrowid or 0)
        for value_id, quality in self._intern(clean).items():
            self._conn.execute(
                "INSERT INTO entry_signals (entry_id, value_id, quality) VALUES (?, ?, ?)",
                (entry_id, value_id, quality),
            )
            if active:
                self._ref(value_id, +1)
        return entry_id

    def set_entry_status(self, bank: str, entry_id: int, status: EntryStatus) -> Entry:
        bank_id = self._bank_id(bank)
        status = EntryStatus(status)
        row = self._conn.execute(
            "SELECT status FROM entries WHERE id = ? AND bank_id = ?", (entry_id, bank_id)
        ).fetchone()
        if row is None:
            raise NotFound(f"bank {bank!r} has no entry {entry_id}", field="entry")
        was_active = row[0] == EntryStatus.ACTIVE.value
        is_active = status is EntryStatus.ACTIVE
        if was_active != is_active:
            for value_id in self._entry_values(entry_id):
                self._ref(value_id, +1 if is_active else -1)
        if row[0] != status.value:
            self._conn.execute(
                "UPDATE entries SET status = ?, updated_at = ? WHERE id = ?",
                (status.value, time.time(), entry_id),
            )
        return self._read_entry(self._conn, entry_id)

    def remove_entries(self, bank: str, entry_ids: Iterable[int]) -> int:
        """Mark entries deleted (kept for audit); returns how many were not deleted already.

        Every id is checked first, so an unknown one changes nothing.
        """
        bank_id = self._bank_id(bank)
        ids = sorted({int(entry_id) for entry_id in entry_ids})
        statuses = {}
        for entry_id in ids:
            row = self._conn.execute(
                "SELECT status FROM entries WHERE id = ? AND bank_id = ?", (entry_id, bank_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"bank {bank!r} has no entry {entry_id}", field="entry")
            statuses[entry_id] = row[0]
        removed = 0
        for entry_id, status in statuses.items():
            if status != EntryStatus.DELETED.value:
                self.set_entry_status(bank, entry_id, EntryStatus.DELETED)
                removed += 1
        return removed

    # Checkpoints of resumable imports, committed with the entries they cover.

    def get_checkpoint(self, bank: str, source: str) -> str | None:
        row = self._conn.execute(
            "SELECT value FROM checkpoints WHERE bank_id = ? AND source = ?",
            (self._bank_id(bank), source),
        ).fetchone()
        return None if row is None else str(row[0])

    def set_checkpoint(self, bank: str, source: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO checkpoints (bank_id, source, value, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (bank_id, source) DO UPDATE"
            " SET value = excluded.value, updated_at = excluded.updated_at",
            (self._bank_id(bank), source, str(value), time.time()),
        )

    # Internals

    def _bank_row(self, name: str) -> tuple[Any, ...]:
        row = self._conn.execute(f"SELECT {BANK_COLUMNS} FROM banks WHERE name = ?", (name,))  # noqa: S608
        found = row.fetchone()
        if found is None:
            raise NotFound(f"no bank named {name!r}", field="bank")
        return tuple(found)

    def _bank_id(self, name: str) -> int:
        return int(self._bank_row(name)[0])

    def _clean_signals(self, signals: Sequence[Signal]) -> list[Signal]:
        """Validated usable signals; at least one is required."""
        if isinstance(signals, Signal):
            signals = [signals]
        clean = [self._validate(signal) for signal in signals if signal.usable]
        if not clean:
            raise InvalidInput("an entry needs at least one usable signal", field="signals")
        return clean

    def _intern(self, signals: Sequence[Signal]) -> dict[int, int | None]:
        """Value ids (with quality) of the signals, inserting values not seen before."""
        result: dict[int, int | None] = {}
        for signal in signals:
            self._conn.execute(
                "INSERT OR IGNORE INTO signal_values (family, value) VALUES (?, ?)",
                (signal.type, signal.value),
            )
            value_id = self._conn.execute(
                "SELECT id FROM signal_values WHERE family = ? AND value = ?",
                (signal.type, signal.value),
            ).fetchone()[0]
            result[int(value_id)] = signal.quality
        return result

    def _entry_values(self, entry_id: int) -> dict[int, int | None]:
        rows = self._conn.execute(
            "SELECT value_id, quality FROM entry_signals WHERE entry_id = ?", (entry_id,)
        )
        return {int(value_id): quality for value_id, quality in rows}

    def _ref(self, value_id: int, delta: int) -> None:
        family, refs = self._conn.execute(
            "UPDATE signal_values SET refs = refs + ? WHERE id = ? RETURNING family, refs",
            (delta, value_id),
        ).fetchall()[0]
        if (delta > 0 and refs == 1) or (delta < 0 and refs == 0):
            self._conn.execute(
                "INSERT INTO changes (family, value_id, op, ts) VALUES (?, ?, ?, ?)",
                (family, value_id, "add" if delta > 0 else "remove", time.time()),
            )
            self.changes += 1


def _clean_external_id(external_id: str) -> str:
    if not isinstance(external_id, str) or not external_id.strip():
        raise InvalidInput(f"invalid external id {external_id!r}", field="external_id")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise InvalidInput(f"external id longer than {MAX_EXTERNAL_ID}", field="external_id")
    return external_id.strip()
