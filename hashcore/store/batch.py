"""Every write to a bank's entries, as a batch: read what it touches, play it, write the result.

:class:`~hashcore.store.writer.StoreWriter` turns each call into one :class:`Batch` (a partner
import's thousands of records, one ``add_entry``, the ids of a ``remove_entries``), so the
store's rules exist once, here:

* signals: unusable ones are ignored, the others validated; an active entry needs one;
* labels: stripped, de-duplicated and sorted (:func:`~hashcore.store.rows.clean_labels`);
* refs and the change log: ``signal_values.refs`` counts the active entries carrying a value,
  and every step 0 -> 1 (``add``) or 1 -> 0 (``remove``) appends a row to ``changes``, which
  engines replay to keep their indexes current;
* counts: how the bank's active entries and their signals per family change
  (:class:`~hashcore.store.counts.CountDeltas`).

A batch reads its entries and their values in one query per 500, plays the operations in
memory in order (a later one sees what an earlier one did), then writes new values, ``refs``,
``changes``, entries and their signals with multi-row statements (:mod:`hashcore.store.bulk`).
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hashcore.errors import InvalidInput
from hashcore.model import EntryStatus, UpsertOutcome
from hashcore.signals import BitSignalType, Signal, SignalType, stored_variant
from hashcore.store import bulk
from hashcore.store.columns import Records
from hashcore.store.counts import ENTRIES, CountDeltas
from hashcore.store.rows import clean_labels, dump_json

Validator = Callable[[Signal], Signal]
"""Checks one signal (family known, value well-formed) and returns it with clean bytes."""


class Registry(Protocol):
    """Where a :class:`ValueValidator` finds each family (``hashcore.registry.SignalRegistry``)."""

    def get(self, name: str) -> SignalType: ...


class ValueValidator:
    """Values checked by their family's :meth:`SignalType.validate`: one signal (a
    :data:`Validator`), or a family's column of values at once (:meth:`column`), as a batch
    checks them: a bit hash's usual check (bytes of the family's length) is then two passes
    over the column instead of a call per value."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __call__(self, signal: Signal) -> Signal:
        value = self._registry.get(signal.type).validate(signal.value)
        return signal if value is signal.value else dataclasses.replace(signal, value=value)

    def column(self, family: str, values: list[Any]) -> list[Any]:
        """Per value: its clean bytes, or the :class:`InvalidInput` refusing it."""
        try:
            signal_type = self._registry.get(family)
        except InvalidInput as error:
            return [error] * len(values)
        if (
            isinstance(signal_type, BitSignalType)
            and type(signal_type).validate is BitSignalType.validate
            and set(map(type, values)) == {bytes}
            and set(map(len, values)) == {signal_type.nbytes}
        ):
            return values  # what BitSignalType.validate accepts unchanged
        return [_checked(signal_type.validate, value) for value in values]


def _checked(validate: Callable[[Any], bytes], value: Any) -> Any:
    try:
        return validate(value)
    except InvalidInput as error:
        return error


def validate_column(validate: Validator, family: str, values: list[Any]) -> list[Any]:
    """``values`` of ``family`` checked by ``validate``: by column if it can, else one by one;
    per value its clean bytes or the :class:`InvalidInput` refusing it."""
    column = getattr(validate, "column", None)
    if column is not None:
        checked: list[Any] = column(family, values)
        return checked
    return [_checked(lambda v: validate(Signal(family, v)).value, value) for value in values]


Key = tuple[str, bytes]
"""A value as ``(family, bytes)``: how a batch names values before they have row ids."""
Link = tuple[int | None, str | None]
"""What an entry keeps with each of its values: quality and stored variant (``trimmed``)."""
Values = dict[Key, Link]
"""An entry's values (in order) with their quality and stored variant."""
Before = tuple[str, str | None, str, float, float | None, Values]
"""An entry's labels (JSON), source, status, ``updated_at``, ``partner_at`` and values as
stored."""

_ACTIVE = EntryStatus.ACTIVE.value
_LIVE = EntryStatus.ACTIVE
_VALUES = {status: status.value for status in EntryStatus}
_ENTRIES_SQL = (
    "SELECT id, external_id, labels, source, status, created_at, updated_at, partner_at"
    " FROM entries"
    " WHERE bank_id = ?"
)
_BY_EXTERNAL_ID_SQL = _ENTRIES_SQL + " AND external_id IN ({marks})"
_BY_ID_SQL = _ENTRIES_SQL + " AND id IN ({marks})"
_ENTRY_VALUES_SQL = (
    "SELECT s.entry_id, v.family, v.value, s.quality, s.variant, v.id, v.refs"
    " FROM entry_signals s JOIN signal_values v ON v.id = s.value_id"
    " WHERE s.entry_id IN ({marks}) ORDER BY s.entry_id, s.value_id"
)
_VALUES_SQL = "SELECT id, value, refs FROM signal_values WHERE family = ? AND value IN ({marks})"

_ENTRIES = bulk.insert(
    "entries",
    (
        "bank_id",
        "external_id",
        "labels",
        "source",
        "status",
        "created_at",
        "updated_at",
        "partner_at",
    ),
)
_ENTRY_FIELDS = bulk.update("entries", ("labels", "source", "status", "updated_at", "partner_at"))
_NEW_SIGNAL_VALUES = bulk.insert("signal_values", ("family", "value", "refs"), "INSERT OR IGNORE")
_REFS = bulk.update("signal_values", ("refs",))
_LINKS = ("entry_id", "value_id", "quality", "variant")
_ENTRY_SIGNALS = bulk.insert("entry_signals", _LINKS)
_RELINKS = bulk.insert("entry_signals", _LINKS, "INSERT OR REPLACE")
_UNLINKS = bulk.Rows(  # a row-value IN over a subquery: SQLite searches the index per pair
    "DELETE FROM entry_signals WHERE (entry_id, value_id) IN"
    " (SELECT column1, column2 FROM (VALUES {rows}))",
    2,
)
_CHANGES = bulk.insert("changes", ("family", "value_id", "op", "ts"))
_COUNT_LIVE = (
    "INSERT INTO family_counts (family, live) VALUES (?, ?)"
    " ON CONFLICT (family) DO UPDATE SET live = live + excluded.live"
)


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


@dataclass(slots=True)
class _Held:
    """One entry as a batch sees it: stored (``before`` is what the store holds) or new."""

    entry_id: int | None
    labels: str
    source: str | None
    status: str
    created_at: float
    updated_at: float
    """When the entry last changed: the partner's time, or ours for an undated record or a
    local change; it never goes back (exports and followers order by it)."""
    partner_at: float | None
    """The partner's time of the newest dated record applied (None: none yet). Records are
    ordered by it alone, partner times against partner times, never against our clock."""
    values: Values
    before: Before | None = None


class Batch:
    """Writes to one bank's entries, played in memory in order, then written at once.

    Values are named by :data:`Key` while the batch plays; :meth:`write` gives them row ids.
    """

    def __init__(self, conn: sqlite3.Connection, validate: Validator, bank_id: int) -> None:
        self._conn = conn
        self._validate = validate
        self.bank_id = bank_id
        self.now = time.time()
        self.held: dict[str, _Held] = {}
        """Every entry the batch reads or writes, by external id."""
        self.by_id: dict[int, _Held] = {}
        """The stored entries the batch read, by row id."""
        self.stored: dict[Key, tuple[int, int]] = {}
        """``(id, refs)`` before the batch of the stored values the batch met."""
        self.created: list[str] = []
        """External ids of new entries, in the order the records created them."""
        self.interned: dict[Key, object] = {}
        """Values the records used as signals (the keys), in first-use order: a new value's
        id follows it."""
        self.step_keys: list[Key] = []
        """The +1/-1 steps of ``refs``, operation after operation: the value of each..."""
        self.step_deltas: list[int] = []
        """... its +1 or -1 ..."""
        self.step_ends: list[int] = []
        """... and where each operation that changed ``refs`` ends in these two lists."""
        self._records = Records()
        self._checked: list[Any] = []
        """Per signal of ``_records``: its clean value, the :class:`InvalidInput` refusing it,
        or None (unusable: ignored)."""
        self._labels: dict[Any, str] = {}

    @classmethod
    def read(
        cls,
        conn: sqlite3.Connection,
        validate: Validator,
        bank_id: int,
        *,
        external_ids: Sequence[str] = (),
        entry_ids: Sequence[int] = (),
    ) -> Batch:
        """A batch holding the bank's entries among ``external_ids`` and ``entry_ids``."""
        batch = cls(conn, validate, bank_id)
        batch._read_entries(_BY_EXTERNAL_ID_SQL, list(dict.fromkeys(external_ids)))
        batch._read_entries(_BY_ID_SQL, list(dict.fromkeys(entry_ids)))
        for chunk in bulk.chunks(list(batch.by_id)):
            rows = conn.execute(_ENTRY_VALUES_SQL.format(marks=bulk.marks(chunk)), chunk)
            for entry_id, family, value, quality, variant, value_id, refs in rows:
                key = (family, bytes(value))
                batch.by_id[entry_id].values[key] = (quality, variant)
                batch.stored[key] = (value_id, refs)
        for entry in batch.by_id.values():
            entry.before = (
                entry.labels,
                entry.source,
                entry.status,
                entry.updated_at,
                entry.partner_at,
                entry.values,
            )
        return batch

    def _read_entries(self, sql: str, keys: Sequence[Any]) -> None:
        for chunk in bulk.chunks(keys):
            rows = self._conn.execute(sql.format(marks=bulk.marks(chunk)), [self.bank_id, *chunk])
            for entry_id, external_id, labels, source, status, created, updated, partner in rows:
                if entry_id in self.by_id:
                    continue  # named twice: by external id and by row id
                entry = _Held(entry_id, labels, source, status, created, updated, partner, {})
                self.held[external_id] = self.by_id[entry_id] = entry

    # The operations

    def play(
        self, records: Records, keys: Sequence[str | InvalidInput]
    ) -> list[UpsertOutcome | InvalidInput]:
        """Upsert every record in order, as :meth:`~hashcore.store.writer.StoreWriter.
        upsert_entry` documents it; ``keys`` are the records' clean external ids (or why a
        record has none). Per record: its outcome, or the :class:`InvalidInput` refusing it."""
        self._use(records)
        results: list[UpsertOutcome | InvalidInput] = []
        upsert, add, held, statuses = self._upsert, self._adder(), self.held, records.statuses
        for at, key in enumerate(keys):
            if isinstance(key, InvalidInput):
                results.append(key)
                continue
            try:
                if statuses[at] is _LIVE and key not in held:
                    results.append(add(at, key))  # what most of an import's records are
                else:
                    results.append(upsert(at, key))
            except InvalidInput as error:
                results.append(error)
        return results

    def add(self, external_id: str, records: Records) -> bool:
        """A new entry from the one record of ``records``, by the upsert rules for an id never
        seen. The record is checked first; ``False`` if the bank has ``external_id`` already
        (the caller refuses the add and must not write the batch)."""
        self._use(records)
        status = _status(records.statuses[0])
        values, labels = self._clean(status, 0, {})
        if external_id in self.held:
            return False
        self._create(external_id, 0, status, values, labels)
        return True

    def _use(self, records: Records) -> None:
        """Play ``records`` next: their values are checked now, a family's column at once."""
        checked: list[Any] = [None] * len(records.values)
        by_family: dict[str, list[int]] = {}
        if all(records.usable):
            for family in set(records.types):
                by_family[family] = [at for at, t in enumerate(records.types) if t == family]
        else:
            for at, (family, usable) in enumerate(zip(records.types, records.usable, strict=True)):
                if usable:
                    by_family.setdefault(family, []).append(at)
        values = records.values
        for family, where in by_family.items():
            clean = validate_column(self._validate, family, [values[at] for at in where])
            for at, value in zip(where, clean, strict=True):
                checked[at] = (
                    value
                    if type(value) is bytes or isinstance(value, InvalidInput)
                    else bytes(value)
                )
        self._records, self._checked = records, checked

    def _upsert(self, at: int, external_id: str) -> UpsertOutcome:
        """Record ``at`` of the records in play, as :meth:`play` documents it."""
        records = self._records
        status = _status(records.statuses[at])
        entry = self.held.get(external_id)
        if entry is None:
            self._create(external_id, at, status, *self._clean(status, at, {}))
            return UpsertOutcome.ADDED if status is _LIVE else UpsertOutcome.NOT_HELD
        updated_at = records.updated_at[at]
        if updated_at is not None and _superseded(entry, updated_at, status):
            return UpsertOutcome.UNCHANGED
        # A withdrawal without signals keeps the entry's values, unmatched.
        values, labels = self._clean(status, at, entry.values)
        source = records.sources[at]
        if (
            values.keys() == entry.values.keys()
            and labels == entry.labels
            and source == entry.source
            and _VALUES[status] == entry.status
        ):
            if updated_at is not None:
                entry.partner_at = updated_at
                entry.updated_at = max(entry.updated_at, updated_at)
            return UpsertOutcome.UNCHANGED
        self._move(entry.values, entry.status == _ACTIVE, values, status is _LIVE)
        entry.values, entry.labels, entry.source = values, labels, source
        entry.status = _VALUES[status]
        if updated_at is not None:
            entry.partner_at = updated_at
        entry.updated_at = max(entry.updated_at, self.now if updated_at is None else updated_at)
        return UpsertOutcome.UPDATED

    def set_status(self, entry_id: int, status: EntryStatus) -> bool:
        """Give the stored entry ``entry_id`` ``status``, keeping its values; whether it
        changed (``updated_at`` moves to now only then; the partner's time stays: partner
        records are still ordered by it)."""
        entry = self.by_id[entry_id]
        if entry.status == _VALUES[status]:
            return False
        self._move(entry.values, entry.status == _ACTIVE, entry.values, status is _LIVE)
        entry.status = _VALUES[status]
        entry.updated_at = max(entry.updated_at, self.now)
        return True

    def entry_id(self, external_id: str) -> int:
        """The row id of an entry the batch holds (after :meth:`write` for a new one)."""
        entry_id = self.held[external_id].entry_id
        assert entry_id is not None, "a new entry has a row id once the batch is written"
        return entry_id

    # The rules

    def _adder(self) -> Callable[[int, str], UpsertOutcome]:
        """What :meth:`_upsert` does with an active record ``at`` for an entry the batch does
        not hold (:meth:`_clean`, :meth:`_create`, :meth:`_move` from nothing), as one closure
        over the batch's lists: most of an import's records are such, and this plays them in
        two thirds of the time."""
        records, now = self._records, self.now
        columns = (self._checked, records.types, records.qualities, records.variants)
        ends = records.ends
        labels_of, sources = records.labels, records.sources
        created_ats, updated_ats = records.created_at, records.updated_at
        cache, interned, held, created = self._labels, self.interned, self.held, self.created
        step_keys, step_deltas, step_ends = self.step_keys, self.step_deltas, self.step_ends
        added = UpsertOutcome.ADDED

        def add(at: int, external_id: str) -> UpsertOutcome:
            values = _span_values(columns, ends[at - 1] if at else 0, ends[at])
            raw = labels_of[at]
            try:
                labels = cache[raw]
            except (KeyError, TypeError):
                labels = self._clean_labels(raw)
            interned.update(values)
            created_at, updated_at = created_ats[at], updated_ats[at]
            if created_at is None:
                created_at = updated_at or now
            held[external_id] = _Held(
                None,
                labels,
                sources[at],
                _ACTIVE,
                created_at,
                created_at if updated_at is None else updated_at,
                updated_at,
                values,
            )
            created.append(external_id)
            step_keys.extend(values)  # at least one: an entry without was refused above
            step_deltas.extend([1] * len(values))
            step_ends.append(len(step_keys))
            return added

        return add

    def _create(
        self, external_id: str, at: int, status: EntryStatus, values: Values, labels: str
    ) -> None:
        """A new entry from record ``at``; a non-active one (a tombstone) may have no signals.
        ``created_at`` is the record's, else its ``updated_at`` (0.0 counts as none), else
        now; an undated tombstone has no partner time, so no dated record is older than it."""
        records = self._records
        created_at, updated_at = records.created_at[at], records.updated_at[at]
        created = created_at if created_at is not None else (updated_at or self.now)
        updated = updated_at if updated_at is not None else created
        self.held[external_id] = _Held(
            None, labels, records.sources[at], _VALUES[status], created, updated, updated_at, values
        )
        self.created.append(external_id)
        self._move({}, False, values, status is _LIVE)

    def _move(self, old: Values, was_active: bool, new: Values, active: bool) -> None:
        """An entry's values go from ``old`` to ``new`` and it from ``was_active`` to
        ``active``: the ``refs`` steps of the values entering or leaving the active set."""
        keys, deltas = self.step_keys, self.step_deltas
        if was_active:
            if active:
                gone = [key for key in old if key not in new]
                keys += gone
                deltas += [-1] * len(gone)
                came = [key for key in new if key not in old]
                keys += came
                deltas += [1] * len(came)
            else:
                keys += old
                deltas += [-1] * len(old)
        elif active:
            keys += new
            deltas += [1] * len(new)
        if len(keys) != (self.step_ends[-1] if self.step_ends else 0):
            self.step_ends.append(len(keys))

    def counts(self) -> Counter[str]:
        """How the batch changes the bank's ``bank_counts`` rows: its active entries
        (:data:`~hashcore.store.counts.ENTRIES`) and their signals per family, after the
        batch less before it. Per family only the file's own hashes count, not those of its
        derived pictures (trimmed, crops): a bank of 8 pictures holds 8 PDQs, not the 32 values
        that match them."""
        counts: Counter[str] = Counter()
        after = [self.held[external_id] for external_id in self.created]
        for entry in self.by_id.values():
            assert entry.before is not None
            _, _, status, _, _, values = entry.before
            if status == entry.status and values is entry.values:
                continue
            if status == _ACTIVE:
                counts[ENTRIES] -= 1
                counts.subtract(_plain_families(values))
            after.append(entry)
        active = [entry.values for entry in after if entry.status == _ACTIVE]
        counts[ENTRIES] += len(active)
        counts.update(_plain_families(*active))
        return counts

    def _clean(self, status: EntryStatus, at: int, kept: Values) -> tuple[Values, str]:
        """Record ``at``'s values and labels as stored. A non-active record without usable
        signals keeps ``kept`` (a withdrawal or deletion without hashes: NCMEC deletions carry
        none)."""
        records = self._records
        ends = records.ends
        span = range(ends[at - 1] if at else 0, ends[at])
        if status is _LIVE or any(records.usable[span.start : span.stop]):
            values = self._values(span)
        else:
            values = kept
        raw = records.labels[at]
        try:
            labels = self._labels[raw]
        except (KeyError, TypeError):
            labels = self._clean_labels(raw)
        self.interned.update(values)
        return values, labels

    def _values(self, span: range) -> Values:
        """The checked usable signals at ``span`` (at least one) by value, the last quality
        (and stored variant) winning; the first refused value's error else."""
        records = self._records
        columns = (self._checked, records.types, records.qualities, records.variants)
        return _span_values(columns, span.start, span.stop)

    def _clean_labels(self, labels: Iterable[str]) -> str:
        """Labels as stored (sorted JSON); feeds repeat a few label sets, so they are cached."""
        text = dump_json(list(clean_labels(labels)))
        if isinstance(labels, tuple):
            self._labels[labels] = text
        return text

    # Writing

    def write(self, counts: CountDeltas) -> int:
        """Write what the batch did (its counts into ``counts``); the rows added to
        ``changes``. Rows, ids and the change log come out as from the operations one by one
        (within one operation, changes go by value id)."""
        counts.add(self.bank_id, self.counts())
        steps = _Steps(self)
        ids = self._store_values(steps)
        logged = self._write_refs(steps)
        self._write_entries(ids)
        return logged

    def _store_values(self, steps: _Steps) -> dict[Key, int]:
        """Row ids of every value the batch uses (also set in ``steps``): values the store
        lacks are inserted in the order the operations met them, already counting their final
        ``refs``."""
        wanted = [key for key in self.interned if key not in self.stored]
        fresh: dict[Key, int] = {}
        if wanted:
            fresh = self._insert_values(wanted, steps)
            self.stored.update(self._find_values([k for k in wanted if k not in fresh]))
        ids = {key: value_id for key, (value_id, _) in self.stored.items()}
        ids.update(fresh)
        steps.found(ids, self.stored)
        return ids

    def _insert_values(self, keys: Sequence[Key], steps: _Steps) -> dict[Key, int]:
        """Insert those of ``keys`` the store lacks; their new row ids.

        ``INSERT OR IGNORE`` finds them without a lookup per value first: the new rows are the
        ones past the old largest rowid.
        """
        last = bulk.last_id(self._conn, "signal_values")
        before = self._conn.total_changes
        totals = steps.totals(keys)
        flat = [
            field
            for (family, value), total in zip(keys, totals, strict=True)
            for field in (family, value, total)
        ]
        _NEW_SIGNAL_VALUES.run(self._conn, flat)
        inserted = self._conn.total_changes - before
        new_ids = bulk.ids_after(self._conn, "signal_values", last, inserted)
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
            for chunk in bulk.chunks(values):
                sql = _VALUES_SQL.format(marks=bulk.marks(chunk))
                for value_id, value, refs in self._conn.execute(sql, [family, *chunk]):
                    found[(family, bytes(value))] = (value_id, refs)
        return found

    def _write_refs(self, steps: _Steps) -> int:
        """Replay the batch's ref steps in order, logging every 0 -> 1 and 1 -> 0 change; the
        changes logged. Values the batch inserted already hold their final count; the stored
        ones are updated. ``family_counts`` follows the change log: +1 per add, -1 per
        remove."""
        stamp = time.time()
        families, value_ids, deltas = steps.logged()
        log = [
            field
            for family, value_id, delta in zip(families, value_ids, deltas, strict=True)
            for field in (family, value_id, "add" if delta > 0 else "remove", stamp)
        ]
        _REFS.run(self._conn, steps.changed_refs())
        _CHANGES.run(self._conn, log)
        net: Counter[str] = Counter()
        for (family, delta), times in Counter(zip(families, deltas, strict=True)).items():
            net[family] += delta * times
        rows = [(family, delta) for family, delta in net.items() if delta]
        if rows:
            self._conn.executemany(_COUNT_LIVE, rows)
        return len(families)

    def _write_entries(self, ids: Mapping[Key, int]) -> None:
        """Insert the batch's new entries and write what changed in the others."""
        self._insert_entries()
        links = [
            field
            for entry in map(self.held.__getitem__, self.created)
            for key, (quality, variant) in entry.values.items()
            for field in (entry.entry_id, ids[key], quality, variant)
        ]
        _ENTRY_SIGNALS.run(self._conn, links)
        changed: list[Any] = []
        unlinked: list[Any] = []
        relinked: list[Any] = []
        for entry in self.by_id.values():
            assert entry.before is not None
            labels, source, status, updated_at, partner_at, values = entry.before
            fields = (entry.labels, entry.source, entry.status, entry.updated_at, entry.partner_at)
            if fields != (labels, source, status, updated_at, partner_at):
                changed += (*fields, entry.entry_id)
            if entry.values is not values:
                for key in values.keys() - entry.values:
                    unlinked += (entry.entry_id, ids[key])
                for key, link in entry.values.items():
                    if key not in values or values[key] != link:
                        relinked += (entry.entry_id, ids[key], *link)
        _ENTRY_FIELDS.run(self._conn, changed)
        _UNLINKS.run(self._conn, unlinked)
        _RELINKS.run(self._conn, relinked)

    def _insert_entries(self) -> None:
        """Insert the entries the batch creates, in order, and note their row ids."""
        if not self.created:
            return
        created = [self.held[external_id] for external_id in self.created]
        bank_id = self.bank_id
        flat = [
            field
            for external_id, e in zip(self.created, created, strict=True)
            for field in (
                bank_id, external_id, e.labels, e.source, e.status, e.created_at, e.updated_at,
                e.partner_at,
            )
        ]  # fmt: skip
        last = bulk.last_id(self._conn, "entries")
        _ENTRIES.run(self._conn, flat)
        entry_ids = bulk.ids_after(self._conn, "entries", last, len(created))
        for entry, entry_id in zip(created, entry_ids, strict=True):
            entry.entry_id = entry_id


class _Steps:
    """A batch's ``refs`` steps as arrays: each value's count replayed step by step, in the
    operations' order (within one, by value id), with numpy instead of a Python loop per step.

    The rule is the per-record one: a value's ``refs`` starts at what the store holds (0 for a
    new value), moves by each step, and a step taking it 0 -> 1 logs ``add``, 1 -> 0
    ``remove``.
    """

    def __init__(self, batch: Batch) -> None:
        self._batch = batch
        interned = batch.interned
        self.keys = [*interned, *[key for key in batch.stored if key not in interned]]
        """Every value the steps name: a value's code is its position here."""
        code = dict(zip(self.keys, range(len(self.keys)), strict=True))
        count = len(batch.step_keys)
        self.codes = np.fromiter(map(code.__getitem__, batch.step_keys), np.int64, count)
        self.deltas = np.array(batch.step_deltas, dtype=np.int64)
        self.code = code
        ends = np.array([0, *batch.step_ends], dtype=np.int64)
        sizes = ends[1:] - ends[:-1]
        self.ops = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        self.ids = np.zeros(len(self.keys), dtype=np.int64)
        self.start = np.zeros(len(self.keys), dtype=np.int64)
        """Per value: its row id and its ``refs`` before the batch (0 for a new one)."""
        self._stored = np.zeros(len(self.keys), dtype=bool)

    def totals(self, keys: Sequence[Key]) -> list[int]:
        """The net change of ``refs`` over the batch of each of ``keys``."""
        net = np.bincount(self.codes, weights=self.deltas, minlength=len(self.keys))
        return net[list(map(self.code.__getitem__, keys))].astype(np.int64).tolist()  # type: ignore[no-any-return]

    def found(self, ids: Mapping[Key, int], stored: Mapping[Key, tuple[int, int]]) -> None:
        """Every value's row id (``ids``) and the stored ones' ``(id, refs)``."""
        self.ids[:] = [ids[key] for key in self.keys]
        for key, (_, refs) in stored.items():
            at = self.code[key]
            self.start[at] = refs
            self._stored[at] = True

    def logged(self) -> tuple[list[str], list[int], list[int]]:
        """The steps that log a change, in order: their families, value ids and deltas (+1:
        ``add``, -1: ``remove``)."""
        if not len(self.codes):
            return [], [], []
        ids = self.ids[self.codes]
        order = np.lexsort((ids, self.ops))  # by operation, then by value id
        codes, deltas = self.codes[order], self.deltas[order]
        by_value = np.argsort(codes, kind="stable")  # each value's steps, in order
        value, delta = codes[by_value], deltas[by_value]
        running = np.cumsum(delta)
        first = np.ones(len(value), dtype=bool)
        first[1:] = value[1:] != value[:-1]
        group = np.cumsum(first) - 1
        offset = (running - delta)[first][group]  # the sum before each value's first step
        count = self.start[value] + running - offset
        logs = ((count == 1) & (delta > 0)) | ((count == 0) & (delta < 0))
        where = np.sort(by_value[logs])
        keys = self.keys
        families = [keys[code][0] for code in codes[where].tolist()]
        return families, self.ids[codes[where]].tolist(), deltas[where].tolist()

    def changed_refs(self) -> list[Any]:
        """``(refs, id)`` rows, flat, of the stored values whose count moved, by id."""
        net = np.bincount(self.codes, weights=self.deltas, minlength=len(self.keys))
        moved = np.flatnonzero(self._stored & (net != 0))
        moved = moved[np.argsort(self.ids[moved])]
        refs = (self.start[moved] + net[moved].astype(np.int64)).tolist()
        flat: list[Any] = []
        for count, value_id in zip(refs, self.ids[moved].tolist(), strict=True):
            flat += (count, value_id)
        return flat


def _span_values(
    columns: tuple[list[Any], list[str], list[int | None], list[str | None]], start: int, end: int
) -> Values:
    """The checked usable signals ``start:end`` of ``columns`` (checked values, types,
    qualities, variants) by value, the last quality (and stored variant) winning; the first
    refused value's error else, or :class:`InvalidInput` if none is usable."""
    checked, types, qualities, variants = columns
    values: Values = {}
    for at in range(start, end):
        value = checked[at]
        if value is None:  # unusable
            continue
        if type(value) is not bytes:
            raise value
        variant = variants[at]
        values[(types[at], value)] = (
            qualities[at],
            None if variant is None else stored_variant(variant),
        )
    if not values:
        raise InvalidInput("an entry needs at least one usable signal", field="signals")
    return values


def _plain_families(*entries: Values) -> Iterator[str]:
    """The family of every value of ``entries`` that hashes the file as it is."""
    return (
        family
        for values in entries
        for (family, _), (_, variant) in values.items()
        if variant is None
    )


def _superseded(entry: _Held, updated_at: float, status: EntryStatus) -> bool:
    """Whether a partner record of ``updated_at`` is older than what ``entry`` holds.

    Only partner times are compared: an entry whose state came from undated records alone
    (``partner_at`` None: its ``updated_at`` is our clock) outranks no dated record, so a
    partner's deletion is never lost to the time we imported an earlier copy. At the newest
    partner time applied, a record may not bring a non-active entry back: a deletion wins a
    tie whatever the order (a feed's window is not time-ordered), and a replayed older file
    cannot revive what an undated record deleted since."""
    held = entry.partner_at
    if held is None:
        return False
    return updated_at < held or (updated_at == held and status is _LIVE and entry.status != _ACTIVE)


def _status(status: object) -> EntryStatus:
    if type(status) is EntryStatus:
        return status
    try:
        return EntryStatus(str(status))
    except ValueError:
        raise InvalidInput(f"invalid status {status!r}", field="status") from None
