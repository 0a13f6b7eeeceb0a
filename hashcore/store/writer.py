"""Every change to a store, made inside one SQLite transaction (see :meth:`Store.transaction`).

Each method keeps ``signal_values.refs`` equal to the number of active entries carrying a value
and appends to ``changes`` whenever a value enters (refs 0 -> 1) or leaves (1 -> 0) the set the
indexes must hold. Engines replay ``changes`` to stay current, so a write made here, through an
engine or by an importer in another process, reaches every index without a rebuild. Each also
tallies how a bank's active entries and signals change (``CountDeltas``); the tallies are
written to ``bank_counts`` once, just before the transaction commits.

Partner imports go through :meth:`StoreWriter.upsert_entries`: a batch of records is played in
memory by the per-record rules, then written with a few multi-row statements per table.
"""

from __future__ import annotations

import functools
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from hashcore.errors import AlreadyExists, HashcoreError, InvalidInput, NotFound
from hashcore.model import Bank, Entry, EntryStatus
from hashcore.signals import Signal, stored_variant
from hashcore.store.counts import ENTRIES, CountDeltas
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
MAX_BANK_NAME = 128
_BANK_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@+-")


def check_bank_name(name: object) -> None:
    """Raise :class:`InvalidInput` unless ``name`` is a usable bank name.

    Letters, digits and ``. _ : @ + -``, starting with a letter or digit, at most
    ``MAX_BANK_NAME`` characters: no ``*`` (the wildcard of server grants), no spaces or
    control characters that would make logs, grants and the CLI ambiguous.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput("a bank needs a name", field="bank")
    if len(name) > MAX_BANK_NAME:
        raise InvalidInput(
            f"bank name is {len(name):,} characters; the limit is {MAX_BANK_NAME}", field="bank"
        )
    if not name[0].isascii() or not name[0].isalnum() or not set(name) <= _BANK_NAME_CHARS:
        raise InvalidInput(
            f"invalid bank name {name!r}: use letters, digits and . _ : @ + - "
            "(starting with a letter or digit)",
            field="bank",
        )


CHUNK = 500
"""Parameters per ``IN (...)`` list, well under SQLite's variable limit."""
MAX_PARAMETERS = 999
"""SQLite's bound-parameter limit before 3.32 (32766 since)."""
MAX_ROWS_PER_INSERT = 100
"""Rows per multi-row INSERT; more gains nothing measurable."""

_ENTRIES_SQL = (
    "SELECT id, external_id, labels, source, status, created_at, updated_at FROM entries"
    " WHERE bank_id = ? AND external_id IN ({marks})"
)
_ENTRY_VALUES_SQL = (
    "SELECT s.entry_id, v.family, v.value, s.quality, s.variant, v.id, v.refs"
    " FROM entry_signals s JOIN signal_values v ON v.id = s.value_id"
    " WHERE s.entry_id IN ({marks}) ORDER BY s.entry_id, s.value_id"
)
_VALUES_SQL = "SELECT id, value, refs FROM signal_values WHERE family = ? AND value IN ({marks})"
_MAX_ID_SQL = "SELECT COALESCE(MAX(id), 0) FROM {table}"
_NEW_IDS_SQL = "SELECT COUNT(*), MAX(id) FROM {table} WHERE id > ?"

Key = tuple[str, bytes]
"""A value as ``(family, bytes)``: how a batch names values before they have row ids."""
Link = tuple[int | None, str | None]
"""What an entry keeps with each of its values: quality and stored variant (``trimmed``)."""
Values = dict[Key, Link]
"""An entry's values (in order) with their quality and stored variant."""


@dataclass(frozen=True)
class _Insert:
    """A bulk INSERT as multi-row ``VALUES`` lists of up to 999 parameters (the limit of older
    SQLite builds). SQLite's per-statement work (a cursor on every index, the autoincrement
    counter) is then paid once per hundred rows instead of per row as with ``executemany``:
    about half the cost of an import's inserts."""

    table: str
    columns: tuple[str, ...]
    verb: str = "INSERT"

    def run(self, conn: sqlite3.Connection, flat: Sequence[Any]) -> None:
        """Insert ``flat``: the rows' values one after the other, in column order."""
        width = len(self.columns)
        step = min(MAX_ROWS_PER_INSERT, MAX_PARAMETERS // width) * width
        for start in range(0, len(flat), step):
            part = flat[start : start + step]
            conn.execute(self._sql(len(part) // width), part)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - a few module-level instances, never freed
    def _sql(self, rows: int) -> str:
        one = "(" + ", ".join("?" * len(self.columns)) + ")"
        return (
            f"{self.verb} INTO {self.table} ({', '.join(self.columns)})"
            f" VALUES {', '.join([one] * rows)}"
        )


_ENTRIES = _Insert(
    "entries",
    ("bank_id", "external_id", "labels", "source", "status", "created_at", "updated_at"),
)
_NEW_SIGNAL_VALUES = _Insert("signal_values", ("family", "value", "refs"), "INSERT OR IGNORE")
_ENTRY_SIGNALS = _Insert("entry_signals", ("entry_id", "value_id", "quality", "variant"))
_CHANGES = _Insert("changes", ("family", "value_id", "op", "ts"))


class UpsertOutcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class EntryUpdate(Protocol):
    """One record for :meth:`StoreWriter.upsert_entries`; ``formats.BankUpdate`` is one."""

    @property
    def external_id(self) -> str: ...
    @property
    def signals(self) -> Sequence[Signal]: ...
    @property
    def labels(self) -> Iterable[str]: ...
    @property
    def source(self) -> str | None: ...
    @property
    def status(self) -> EntryStatus: ...
    @property
    def updated_at(self) -> float | None: ...
    @property
    def created_at(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Upsert:
    """The plain :class:`EntryUpdate`, for callers that have no record type of their own."""

    external_id: str
    signals: Sequence[Signal] = ()
    labels: Iterable[str] = ()
    source: str | None = None
    status: EntryStatus = EntryStatus.ACTIVE
    updated_at: float | None = None
    created_at: float | None = None


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
        self._counts = CountDeltas()

    def finish(self) -> None:
        """Write what the transaction changed in ``bank_counts``; the store calls this just
        before it commits (tallied in memory meanwhile: a counter row per write would double
        the statements of an import)."""
        self._counts.flush(self._conn)

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
        check_bank_name(name)
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
        Raises :class:`InvalidInput` for a malformed record; this is :meth:`upsert_entries` on
        one record.
        """
        update = Upsert(external_id, signals, labels, source, status, updated_at, created_at)
        (result,) = self.upsert_entries(bank, [update])
        if isinstance(result, InvalidInput):
            raise result
        return result

    def upsert_entries(
        self, bank: str, updates: Sequence[EntryUpdate]
    ) -> list[UpsertOutcome | InvalidInput]:
        """:meth:`upsert_entry` for each record in order, in a few statements per batch.

        The result has one item per record: its outcome, or the :class:`InvalidInput` that made
        it change nothing (the other records still apply). Records are played in memory against
        the batch's entries, read in one query per 500, so repeated external ids apply in order;
        then new values, ``refs``, ``changes``, entries and their signals are written with
        multi-row statements (a per-record statement costs more than the row it writes). Rows,
        ids and the change log come out exactly as from the records one by one (within one
        record, changes go by value id). Any error but :class:`InvalidInput` aborts the call.
        """
        if not updates:
            return []
        bank_id = self._bank_id(bank)
        keys: list[str | InvalidInput] = []
        for update in updates:
            try:
                keys.append(_clean_external_id(update.external_id))
            except InvalidInput as error:
                keys.append(error)
        batch = self._open_batch(bank_id, [key for key in keys if isinstance(key, str)])
        results: list[UpsertOutcome | InvalidInput] = []
        for update, key in zip(updates, keys, strict=True):
            if isinstance(key, InvalidInput):
                results.append(key)
                continue
            try:
                results.append(batch.apply(key, update))
            except InvalidInput as error:
                results.append(error)
        self._write_batch(bank_id, batch)
        return results

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
        if active:
            self._counts.entry(bank_id, +1)
        for value_id, (quality, variant) in self._intern(clean).items():
            self._conn.execute(
                "INSERT INTO entry_signals (entry_id, value_id, quality, variant)"
                " VALUES (?, ?, ?, ?)",
                (entry_id, value_id, quality, variant),
            )
            if active:
                self._counts.signal(bank_id, self._ref(value_id, +1), +1)
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
            delta = +1 if is_active else -1
            self._counts.entry(bank_id, delta)
            for value_id in self._entry_values(entry_id):
                self._counts.signal(bank_id, self._ref(value_id, delta), delta)
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

    # Batched upserts: read the batch's entries, play the records in memory, write the result.

    def _open_batch(self, bank_id: int, external_ids: list[str]) -> _Batch:
        """A batch holding the entries of ``external_ids`` the bank already has, with values."""
        batch = _Batch(self._validate, time.time())
        by_id: dict[int, _Held] = {}
        for chunk in _chunks(list(dict.fromkeys(external_ids))):
            rows = self._conn.execute(_ENTRIES_SQL.format(marks=_marks(chunk)), [bank_id, *chunk])
            for entry_id, external_id, labels, source, status, created, updated in rows:
                entry = _Held(entry_id, labels, source, status, created, updated, {})
                batch.held[external_id] = by_id[entry_id] = entry
        for chunk in _chunks(list(by_id)):
            rows = self._conn.execute(_ENTRY_VALUES_SQL.format(marks=_marks(chunk)), chunk)
            for entry_id, family, value, quality, variant, value_id, refs in rows:
                key = (family, bytes(value))
                by_id[entry_id].values[key] = (quality, variant)
                batch.stored[key] = (value_id, refs)
        for entry in by_id.values():
            values = entry.values
            entry.before = (entry.labels, entry.source, entry.status, entry.updated_at, values)
        return batch

    def _write_batch(self, bank_id: int, batch: _Batch) -> None:
        self._counts.add(bank_id, batch.counts)
        ids = self._store_values(batch)
        self._write_refs(batch, ids)
        self._write_entries(bank_id, batch, ids)

    def _store_values(self, batch: _Batch) -> dict[Key, int]:
        """Row ids of every value the batch uses; values the store lacks are inserted in the
        order :meth:`upsert_entry` would have met them, already counting their final ``refs``."""
        wanted = [key for key in batch.interned if key not in batch.stored]
        if wanted:
            batch.fresh = self._insert_values(wanted, batch.ref_totals())
            batch.stored.update(self._find_values([k for k in wanted if k not in batch.fresh]))
        ids = {key: value_id for key, (value_id, _) in batch.stored.items()}
        ids.update(batch.fresh)
        return ids

    def _insert_values(self, keys: Sequence[Key], totals: Mapping[Key, int]) -> dict[Key, int]:
        """Insert those of ``keys`` the store lacks; their new row ids.

        ``INSERT OR IGNORE`` finds them without a lookup per value first: the new rows are the
        ones past the old largest rowid.
        """
        last = self._last_id("signal_values")
        before = self._conn.total_changes
        flat: list[Any] = []
        for key in keys:
            flat += (key[0], key[1], totals.get(key, 0))
        _NEW_SIGNAL_VALUES.run(self._conn, flat)
        inserted = self._conn.total_changes - before
        new_ids = self._ids_after("signal_values", last, inserted)
        if inserted == len(keys):
            return dict(zip(keys, new_ids, strict=True))
        rows = self._conn.execute(  # which were new: read back the rows past ``last``
            "SELECT id, family, value FROM signal_values WHERE id > ?", (last,)
        )
        return {(family, bytes(value)): value_id for value_id, family, value in rows}

    def _find_values(self, keys: Sequence[Key]) -> dict[Key, tuple[int, int]]:
        """``(id, refs)`` of the values among ``keys`` that the store has."""
        by_family: dict[str, list[bytes]] = {}
        for family, value in keys:
            by_family.setdefault(family, []).append(value)
        found: dict[Key, tuple[int, int]] = {}
        for family, values in by_family.items():
            for chunk in _chunks(values):
                rows = self._conn.execute(_VALUES_SQL.format(marks=_marks(chunk)), [family, *chunk])
                for value_id, value, refs in rows:
                    found[(family, bytes(value))] = (value_id, refs)
        return found

    def _last_id(self, table: str) -> int:
        return int(self._conn.execute(_MAX_ID_SQL.format(table=table)).fetchone()[0])

    def _ids_after(self, table: str, last: int, inserted: int) -> range:
        """Row ids of the ``inserted`` rows just added to ``table``, whose largest rowid was
        ``last``: SQLite numbers each new row ``max + 1``, so they are ``last + 1`` on, in the
        order of insertion (rows an ``OR IGNORE`` skipped take no number). Reading the ids
        back row by row would cost as much as the inserts.

        Only a table that reached rowid 2**63 - 1 gets rowids at random: it is refused.
        """
        count, top = self._conn.execute(_NEW_IDS_SQL.format(table=table), (last,)).fetchone()
        if count != inserted or (count and top != last + count):
            raise HashcoreError(f"{table}: row ids exhausted (rowid 2**63 - 1 was reached)")
        return range(last + 1, last + count + 1)

    def _write_refs(self, batch: _Batch, ids: Mapping[Key, int]) -> None:
        """Replay the batch's ref steps in order, logging every 0 -> 1 and 1 -> 0 change.

        Within one record the steps go by value id. Values inserted by this batch already hold
        their final count; the others are updated.
        """
        refs = {value_id: count for value_id, count in batch.stored.values()}
        before = dict(refs)
        refs.update((value_id, 0) for value_id in batch.fresh.values())
        stamp = time.time()
        log: list[Any] = []
        for step in batch.steps:
            ordered = [(ids[key], key[0], delta) for key, delta in step]
            if len(ordered) > 1:
                ordered.sort()
            for value_id, family, delta in ordered:
                count = refs[value_id] + delta
                refs[value_id] = count
                if count == 1 and delta > 0:
                    log += (family, value_id, "add", stamp)
                elif count == 0 and delta < 0:
                    log += (family, value_id, "remove", stamp)
        self._conn.executemany(
            "UPDATE signal_values SET refs = ? WHERE id = ?",
            [
                (refs[value_id], value_id)
                for value_id, count in sorted(before.items())
                if refs[value_id] != count
            ],
        )
        _CHANGES.run(self._conn, log)
        self.changes += len(log) // len(_CHANGES.columns)

    def _write_entries(self, bank_id: int, batch: _Batch, ids: Mapping[Key, int]) -> None:
        """Insert the batch's new entries and write what changed in the others."""
        self._insert_entries(bank_id, batch)
        links: list[Any] = []
        for entry in map(batch.held.__getitem__, batch.created):
            for key, (quality, variant) in entry.values.items():
                links += (entry.entry_id, ids[key], quality, variant)
        _ENTRY_SIGNALS.run(self._conn, links)
        changed, unlinked, relinked = [], [], []
        for entry in batch.held.values():
            if entry.before is None:
                continue
            labels, source, status, updated_at, values = entry.before
            fields = (entry.labels, entry.source, entry.status, entry.updated_at)
            if fields != (labels, source, status, updated_at):
                changed.append((*fields, entry.entry_id))
            if entry.values is not values:
                unlinked += [(entry.entry_id, ids[key]) for key in values.keys() - entry.values]
                relinked += [
                    (entry.entry_id, ids[key], *link)
                    for key, link in entry.values.items()
                    if key not in values or values[key] != link
                ]
        self._conn.executemany(
            "UPDATE entries SET labels = ?, source = ?, status = ?, updated_at = ? WHERE id = ?",
            changed,
        )
        self._conn.executemany(
            "DELETE FROM entry_signals WHERE entry_id = ? AND value_id = ?", unlinked
        )
        self._conn.executemany(
            "INSERT OR REPLACE INTO entry_signals (entry_id, value_id, quality, variant)"
            " VALUES (?, ?, ?, ?)",
            relinked,
        )

    def _insert_entries(self, bank_id: int, batch: _Batch) -> None:
        """Insert the entries the batch creates, in order, and note their row ids."""
        if not batch.created:
            return
        created = [batch.held[external_id] for external_id in batch.created]
        flat: list[Any] = []
        for external_id, e in zip(batch.created, created, strict=True):
            flat += (bank_id, external_id, e.labels, e.source, e.status, e.created_at, e.updated_at)
        last = self._last_id("entries")
        _ENTRIES.run(self._conn, flat)
        entry_ids = self._ids_after("entries", last, len(created))
        for entry, entry_id in zip(created, entry_ids, strict=True):
            entry.entry_id = entry_id

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

    def _intern(self, signals: Sequence[Signal]) -> dict[int, Link]:
        """Value ids (with quality and stored variant) of the signals, inserting values not
        seen before."""
        result: dict[int, Link] = {}
        for signal in signals:
            self._conn.execute(
                "INSERT OR IGNORE INTO signal_values (family, value) VALUES (?, ?)",
                (signal.type, signal.value),
            )
            value_id = self._conn.execute(
                "SELECT id FROM signal_values WHERE family = ? AND value = ?",
                (signal.type, signal.value),
            ).fetchone()[0]
            result[int(value_id)] = (signal.quality, stored_variant(signal.variant))
        return result

    def _entry_values(self, entry_id: int) -> dict[int, int | None]:
        rows = self._conn.execute(
            "SELECT value_id, quality FROM entry_signals WHERE entry_id = ?", (entry_id,)
        )
        return {int(value_id): quality for value_id, quality in rows}

    def _ref(self, value_id: int, delta: int) -> str:
        """Add ``delta`` to the value's ``refs``, logging a change at 0 <-> 1; its family."""
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
        return str(family)


_ACTIVE = EntryStatus.ACTIVE.value

Before = tuple[str, str | None, str, float, Values]
"""An entry's labels (JSON), source, status, ``updated_at`` and values as stored."""


@dataclass(slots=True)
class _Held:
    """One entry as a batch sees it: stored (``before`` is what the store holds) or new."""

    entry_id: int | None
    labels: str
    source: str | None
    status: str
    created_at: float
    updated_at: float
    values: Values
    before: Before | None = None


@dataclass
class _Batch:
    """The records of one :meth:`StoreWriter.upsert_entries` call, played in memory in order.

    Values are named by :data:`Key` here; the writer gives them row ids afterwards, so the
    per-record rules below stay those of :meth:`StoreWriter.upsert_entry` and nothing else.
    """

    validate: Validator
    now: float
    held: dict[str, _Held] = field(default_factory=dict)
    """Every entry the batch reads or writes, by external id."""
    stored: dict[Key, tuple[int, int]] = field(default_factory=dict)
    """``(id, refs)`` before the batch of the stored values the batch met."""
    fresh: dict[Key, int] = field(default_factory=dict)
    """Ids of the values the batch inserted."""
    created: list[str] = field(default_factory=list)
    """External ids of new entries, in the order the records created them."""
    interned: dict[Key, object] = field(default_factory=dict)
    """Values the records used as signals (the keys), in first-use order: a new value's id
    follows it."""
    steps: list[list[tuple[Key, int]]] = field(default_factory=list)
    """Per record that changed ``refs``: its +1/-1 steps."""
    counts: dict[str, int] = field(default_factory=dict)
    """Net change of the bank's ``bank_counts`` rows (:data:`~hashcore.store.counts.ENTRIES`
    for active entries, else per family)."""
    _labels: dict[Any, str] = field(default_factory=dict, repr=False)

    def apply(self, external_id: str, update: EntryUpdate) -> UpsertOutcome:
        """One record, as :meth:`StoreWriter.upsert_entry` documents it."""
        status = update.status
        if type(status) is not EntryStatus:
            status = _status(status)
        signals: Sequence[Signal] = update.signals
        if isinstance(signals, Signal):
            signals = (signals,)
        entry = self.held.get(external_id)
        if entry is None:
            return self._create(external_id, update, status, signals)
        updated_at = update.updated_at
        if updated_at is not None and updated_at < entry.updated_at:
            return UpsertOutcome.UNCHANGED
        active = status is EntryStatus.ACTIVE
        if active or any(signal.usable for signal in signals):
            values = self._values(signals)
        else:
            values = entry.values  # a withdrawal without signals keeps them, unmatched
        labels = self._clean_labels(update.labels)
        self.interned.update(values)
        if (
            values.keys() == entry.values.keys()
            and labels == entry.labels
            and update.source == entry.source
            and status.value == entry.status
        ):
            if updated_at is not None:
                entry.updated_at = updated_at
            return UpsertOutcome.UNCHANGED
        was_active = entry.status == _ACTIVE
        step = [(key, -1) for key in entry.values.keys() - values.keys()] if was_active else []
        for key in values:
            kept = key in entry.values
            if active and not (kept and was_active):
                step.append((key, +1))
            elif kept and was_active and not active:
                step.append((key, -1))
        if step:
            self.steps.append(step)
        if was_active:
            self._count(entry.values, -1)
        if active:
            self._count(values, +1)
        entry.values, entry.labels, entry.source = values, labels, update.source
        entry.status = status.value
        entry.updated_at = self.now if updated_at is None else updated_at
        return UpsertOutcome.UPDATED

    def _create(
        self, external_id: str, update: EntryUpdate, status: EntryStatus, signals: Sequence[Signal]
    ) -> UpsertOutcome:
        """A new entry; a non-active one (a tombstone) may have no signals."""
        active = status is EntryStatus.ACTIVE
        usable = active or any(signal.usable for signal in signals)
        values = self._values(signals) if usable else {}
        labels = self._clean_labels(update.labels)
        self.interned.update(values)
        created_at, updated_at = update.created_at, update.updated_at
        created = created_at if created_at is not None else (updated_at or self.now)
        updated = updated_at if updated_at is not None else created
        self.held[external_id] = _Held(
            None, labels, update.source, status.value, created, updated, values
        )
        self.created.append(external_id)
        if active:
            self.steps.append([(key, +1) for key in values])
            self._count(values, +1)
            return UpsertOutcome.ADDED
        return UpsertOutcome.UNCHANGED

    def _count(self, values: Values, delta: int) -> None:
        """An active entry with ``values`` appeared (+1) or went (-1)."""
        counts = self.counts
        counts[ENTRIES] = counts.get(ENTRIES, 0) + delta
        for family, _ in values:
            counts[family] = counts.get(family, 0) + delta

    def _values(self, signals: Iterable[Signal]) -> Values:
        """Validated usable signals (at least one) by value, the last quality (and stored
        variant) winning."""
        values: Values = {}
        validate = self.validate
        for signal in signals:
            if signal.usable:
                clean = validate(signal)
                value = clean.value
                if type(value) is not bytes:
                    value = bytes(value)
                variant = clean.variant
                values[(clean.type, value)] = (
                    clean.quality,
                    None if variant is None else stored_variant(variant),
                )
        if not values:
            raise InvalidInput("an entry needs at least one usable signal", field="signals")
        return values

    def _clean_labels(self, labels: Iterable[str]) -> str:
        """Labels as stored (sorted JSON); feeds repeat a few label sets, so they are cached."""
        try:
            return self._labels[labels]
        except (KeyError, TypeError):
            text = dump_json(list(clean_labels(labels)))
        if isinstance(labels, tuple):
            self._labels[labels] = text
        return text

    def ref_totals(self) -> dict[Key, int]:
        """Net ``refs`` change per value over the whole batch."""
        totals: dict[Key, int] = {}
        for step in self.steps:
            for key, delta in step:
                totals[key] = totals.get(key, 0) + delta
        return totals


def _status(status: object) -> EntryStatus:
    try:
        return EntryStatus(str(status))
    except ValueError:
        raise InvalidInput(f"invalid status {status!r}", field="status") from None


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(chunk: Sized) -> str:
    return ",".join("?" * len(chunk))


def _clean_external_id(external_id: str) -> str:
    if not isinstance(external_id, str) or not external_id.strip():
        raise InvalidInput(f"invalid external id {external_id!r}", field="external_id")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise InvalidInput(f"external id longer than {MAX_EXTERNAL_ID}", field="external_id")
    return external_id.strip()
