"""Every change to a store, made inside one SQLite transaction (see :meth:`Store.transaction`).

Banks and checkpoints are written here; every write to entries (an add, a partner's upserts, a
status change, a removal) is one :class:`~hashcore.store.batch.Batch`, where the rules live:
``signal_values.refs`` stays the number of active entries carrying a value, ``changes`` gets a
row whenever a value enters (refs 0 -> 1) or leaves (1 -> 0) the set the indexes must hold, and
each bank's active entries and signals are tallied (``CountDeltas``). Engines replay
``changes`` to stay current, so a write made here, through an engine or by an importer in
another process, reaches every index without a rebuild. The tallies are written to
``bank_counts`` once, just before the transaction commits.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hashcore.errors import AlreadyExists, InvalidInput, NotFound
from hashcore.model import (
    Added,
    Bank,
    BankSettings,
    Entry,
    EntryOrigin,
    EntryStatus,
    UpsertOutcome,
)
from hashcore.signals import Signal
from hashcore.store import sharing
from hashcore.store.batch import (
    Batch,
    EntryUpdate,
    Upsert,
    Validator,
)
from hashcore.store.columns import Records
from hashcore.store.counts import CountDeltas
from hashcore.store.rows import (
    BANK_COLUMNS,
    bank_from_row,
    clean_labels,
    clean_priority,
    clean_thresholds,
    dump_json,
)

__all__ = [
    "MAX_BANK_NAME",
    "MAX_EXTERNAL_ID",
    "EntryUpdate",
    "StoreWriter",
    "Upsert",
    "UpsertOutcome",
    "Validator",
    "check_bank_name",
]

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

    @property
    def connection(self) -> sqlite3.Connection:
        """The open transaction's connection, for the modules that keep tables of their own
        (:mod:`hashcore.opinions`): their rows commit with this transaction."""
        return self._conn

    def finish(self) -> None:
        """Write what the transaction changed in ``bank_counts``; the store calls this just
        before it commits (tallied in memory meanwhile: a counter row per write would double
        the statements of an import)."""
        self._counts.flush(self._conn)

    # Banks

    def create_bank(self, name: str, settings: BankSettings | None = None) -> Bank:
        """A new bank (default settings unless given); :class:`AlreadyExists` if the name is
        taken."""
        check_bank_name(name)
        settings = settings or BankSettings()
        try:
            self._conn.execute(
                "INSERT INTO banks"
                " (name, source, labels, enabled, thresholds, created_at, priority)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    settings.source,
                    dump_json(list(clean_labels(settings.labels))),
                    int(settings.enabled),
                    dump_json(clean_thresholds(settings.thresholds)),
                    time.time(),
                    clean_priority(settings.priority),
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

    def set_bank_priority(self, name: str, priority: int | None) -> Bank:
        bank_id = self._bank_id(name)
        self._conn.execute(
            "UPDATE banks SET priority = ? WHERE id = ?", (clean_priority(priority), bank_id)
        )
        return self.bank(name)

    # Entries: each call is one batch, read, played and written (see hashcore.store.batch).

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
        record = Upsert(external_id, signals, labels, source, EntryStatus(status), None, created_at)
        batch = self._batch(bank_id, external_ids=[external_id])
        if not batch.add(external_id, Records.of([record])):
            raise AlreadyExists(
                f"bank {bank!r} already has an entry with external id {external_id!r}",
                field="external_id",
            )
        self._write(batch)
        return self._read_entry(self._conn, batch.entry_id(external_id))

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

        Partner feeds are not time-ordered, so a dated record older than the newest partner
        time the entry holds changes nothing (partner times against partner times: an entry
        made by undated records has none, and at that same time a deletion wins). A withdrawal
        or deletion may come without signals (NCMEC deletions carry none): the entry keeps its
        signals and only stops matching. A deletion of an id
        never seen is kept as a tombstone row, so an older add arriving later cannot revive it.
        Raises :class:`InvalidInput` for a malformed record; this is :meth:`upsert_entries` on
        one record.
        """
        update = Upsert(external_id, signals, labels, source, status, updated_at, created_at)
        (result,) = self.upsert_entries(bank, [update])
        if isinstance(result, InvalidInput):
            raise result
        return result

    def add_file(
        self,
        bank: str,
        external_id: str,
        signals: Sequence[Signal],
        *,
        labels: Iterable[str] = (),
        source: str | None = None,
    ) -> Added:
        """A file's hashes as the active entry ``external_id`` (``bank add``; AddSignals with
        ``upsert``): a new entry, or the one that had them made to look like this.

        The outcome is ``ADDED`` whenever the bank did not match the file before (no entry, or
        one removed or withdrawn, active again under its id), else the upsert's: a re-run of
        ``bank add`` can tell the analyst which files the bank had already. An active entry
        keeps the source it was added from: the same picture twice in a folder, or sent again
        without one (AddContent), is the file the bank had, not an update on every re-run. It
        keeps its labels too, and gains any new ones: re-running ``bank add`` over a folder
        without ``--label`` must not wipe what an analyst labelled.
        """
        external_id = _clean_external_id(external_id)
        held = self._conn.execute(
            "SELECT id, status, source, labels FROM entries WHERE bank_id = ? AND external_id = ?",
            (self._bank_id(bank), external_id),
        ).fetchone()
        active = held is not None and held[1] == EntryStatus.ACTIVE.value
        if active and held[2] is not None:
            source = held[2]
        if active:  # a re-run without --label keeps them; a new --label joins them
            labels = list(dict.fromkeys([*json.loads(held[3]), *labels]))
        outcome = self.upsert_entry(bank, external_id, signals, labels=labels, source=source)
        if not active:
            outcome = UpsertOutcome.ADDED
        entry_id = int(held[0]) if held is not None else self._entry_id(bank, external_id)
        return Added(self._read_entry(self._conn, entry_id), outcome)

    def _entry_id(self, bank: str, external_id: str) -> int:
        row = self._conn.execute(
            "SELECT id FROM entries WHERE bank_id = ? AND external_id = ?",
            (self._bank_id(bank), external_id),
        ).fetchone()
        return int(row[0])

    def upsert_entries(
        self, bank: str, updates: Sequence[EntryUpdate] | Records
    ) -> list[UpsertOutcome | InvalidInput]:
        """:meth:`upsert_entry` for each record in order, in a few statements per batch.

        The result has one item per record: its outcome, or the :class:`InvalidInput` that made
        it change nothing (the other records still apply). Records are played in memory against
        the batch's entries, read in one query per 500, so repeated external ids apply in order;
        then new values, ``refs``, ``changes``, entries and their signals are written with
        multi-row statements (a per-record statement costs more than the row it writes).
        ``updates`` may come as columns (:class:`~hashcore.store.columns.Records`, what an
        import hands over). Any error but :class:`InvalidInput` aborts the call.
        """
        if not len(updates):
            return []
        bank_id = self._bank_id(bank)
        records = updates if isinstance(updates, Records) else Records.of(updates)
        keys = _clean_external_ids(records.external_ids)
        batch = self._batch(bank_id, external_ids=[key for key in keys if isinstance(key, str)])
        results = batch.play(records, keys)
        self._write(batch)
        return results

    def set_entry_status(self, bank: str, entry_id: int, status: EntryStatus) -> Entry:
        bank_id = self._bank_id(bank)
        status = EntryStatus(status)
        batch = self._batch(bank_id, entry_ids=[entry_id])
        if entry_id not in batch.by_id:
            raise NotFound(f"bank {bank!r} has no entry {entry_id}", field="entry")
        batch.set_status(entry_id, status)
        self._write(batch)
        return self._read_entry(self._conn, entry_id)

    def remove_entries(self, bank: str, entry_ids: Iterable[int]) -> int:
        """Mark entries deleted (kept for audit); returns how many were not deleted already.

        Every id is checked first, so an unknown one changes nothing. One batch: a few
        statements per 500 entries, not one per entry.
        """
        bank_id = self._bank_id(bank)
        ids = sorted({int(entry_id) for entry_id in entry_ids})
        batch = self._batch(bank_id, entry_ids=ids)
        for entry_id in ids:
            if entry_id not in batch.by_id:
                raise NotFound(f"bank {bank!r} has no entry {entry_id}", field="entry")
        removed = sum(batch.set_status(entry_id, EntryStatus.DELETED) for entry_id in ids)
        self._write(batch)
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

    # Bank sharing (docs/sharing.md): committed with the entries they describe.

    def set_origins(self, bank: str, origins: Mapping[str, EntryOrigin]) -> None:
        """Where the entries of ``bank`` named by external id came from (a followed bank)."""
        sharing.set_origins(self._conn, self._bank_id(bank), origins)

    def record_follower(self, bank: str, partner: str, checkpoint: str) -> None:
        """How far ``partner`` has read the published ``bank``."""
        sharing.record_follower(self._conn, self._bank_id(bank), partner, checkpoint)

    # Internals

    def _bank_row(self, name: str) -> tuple[Any, ...]:
        row = self._conn.execute(f"SELECT {BANK_COLUMNS} FROM banks WHERE name = ?", (name,))  # noqa: S608
        found = row.fetchone()
        if found is None:
            raise NotFound(f"no bank named {name!r}", field="bank")
        return tuple(found)

    def _bank_id(self, name: str) -> int:
        return int(self._bank_row(name)[0])

    def _batch(
        self, bank_id: int, *, external_ids: Sequence[str] = (), entry_ids: Sequence[int] = ()
    ) -> Batch:
        return Batch.read(
            self._conn, self._validate, bank_id, external_ids=external_ids, entry_ids=entry_ids
        )

    def _write(self, batch: Batch) -> None:
        self.changes += batch.write(self._counts)


def _clean_external_ids(external_ids: list[Any]) -> list[str | InvalidInput]:
    """Each id as :func:`_clean_external_id` makes it, or why it cannot be one; a column of
    plain ids is checked in a few passes over it."""
    if set(map(type, external_ids)) == {str}:
        stripped: list[str] = list(map(str.strip, external_ids))
        if all(stripped) and max(map(len, external_ids)) <= MAX_EXTERNAL_ID:
            return stripped  # type: ignore[return-value]
    keys: list[str | InvalidInput] = []
    for external_id in external_ids:
        try:
            keys.append(_clean_external_id(external_id))
        except InvalidInput as error:
            keys.append(error)
    return keys


def _clean_external_id(external_id: str) -> str:
    if not isinstance(external_id, str) or not external_id.strip():
        raise InvalidInput(f"invalid external id {external_id!r}", field="external_id")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise InvalidInput(f"external id longer than {MAX_EXTERNAL_ID}", field="external_id")
    return external_id.strip()
