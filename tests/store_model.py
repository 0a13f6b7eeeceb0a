"""An independent model of what partner upserts leave in a store, and a check against a store.

Written from the documented rules of ``StoreWriter.upsert_entry`` (and ``BankUpdate``), not from
the writer's code: plain dictionaries, one record at a time, no SQL, no batching. The store is
compared with it through its public read API only (entries, bank sizes, the values the indexes
must hold and who carries them, the change log), so the store's one write path (every write is
a batch; ``upsert_entry`` is a batch of one) is checked against something other than itself.
What the writer maintains beside the entries (``refs``, ``bank_counts``, the change log) is also
checked against a recount from the tables (:func:`assert_recounts`, ``hashcore check``'s).

The rules, per record, in this order:

* the external id is stripped; blank, not a string or over 512 characters: refused
  (``external_id``); an unknown status: refused (``status``);
* a dated record older than the entry held changes nothing, whatever else it says: older than
  the partner time of the newest dated record applied to it (``partner_at``; an entry made by
  undated records alone has none, and no dated record is older than it), or of that same time
  and active while the entry is not (a deletion wins a tie); an undated record always applies;
* signals: unusable ones are ignored; every usable one must be well-formed (``value``) and an
  active record needs at least one (``signals``); the last quality of a repeated value wins;
  a non-active record without usable signals keeps the entry's values (a withdrawal or deletion
  without hashes), or has none if the entry is new (a tombstone);
* labels: stripped, de-duplicated, sorted; a blank one or a single string: refused (``labels``);
* a new id: created (``added`` if active, else ``unchanged``: a tombstone); ``created_at`` is
  the record's, else its ``updated_at``, else now (an ``updated_at`` of 0.0 counts as none:
  see :meth:`StoreModel._upsert`); ``updated_at`` the record's, else ``created_at``;
  ``partner_at`` the record's ``updated_at`` (None if undated);
* a known id with the same values (qualities aside), labels, source and status: ``unchanged``,
  and only its times move if the record has one (qualities are not rewritten);
* otherwise everything is replaced (``updated``);
* times: a dated record's time becomes ``partner_at``; ``updated_at`` becomes the later of what
  it was and the record's time (now if undated): it never goes back.

Only active entries match: a value is live (in the indexes) while an active entry anywhere
carries it, and the change log records each time a value becomes live (``add``) or stops
(``remove``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hashcore.check import check_store
from hashcore.signals import Signal
from hashcore.store import Store

VALUE_BYTES = {"pdq": 32, "phash": 8, "md5": 16}
"""Well-formed value lengths of the fixed-size families the model knows."""
MAX_EXTERNAL_ID = 512
STATUSES = {"active", "withdrawn", "deleted"}

Key = tuple[str, bytes]


@dataclass
class ModelEntry:
    external_id: str
    labels: tuple[str, ...]
    source: str | None
    status: str
    created_at: float
    updated_at: float
    partner_at: float | None
    values: dict[Key, int | None]


class Refused(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass
class StoreModel:
    now: float
    banks: dict[str, dict[str, ModelEntry]] = field(default_factory=dict)
    created: list[tuple[str, str]] = field(default_factory=list)
    """(bank, external id) of every entry in the order it was created: entry ids follow it."""
    log: dict[Key, list[str]] = field(default_factory=dict)
    """Per value, its ``add``/``remove`` steps in order."""

    def create_bank(self, name: str) -> None:
        assert name not in self.banks
        self.banks[name] = {}

    def upsert(self, bank: str, update: Any) -> object:
        """One record: ``added``, ``updated``, ``unchanged`` or ``("error", field)``."""
        before = self.live()
        try:
            outcome = self._upsert(self.banks[bank], update)
        except Refused as refused:
            return ("error", refused.field)
        after = self.live()
        for key in sorted(after - before):
            self.log.setdefault(key, []).append("add")
        for key in sorted(before - after):
            self.log.setdefault(key, []).append("remove")
        return outcome

    def upsert_all(self, bank: str, updates: Iterable[Any]) -> list[object]:
        return [self.upsert(bank, update) for update in updates]

    def _upsert(self, entries: dict[str, ModelEntry], update: Any) -> str:
        key = _external_id(update.external_id)
        status = _status(update.status)
        signals = update.signals
        if isinstance(signals, Signal):
            signals = [signals]
        usable = [signal for signal in signals if signal.usable]
        held = entries.get(key)
        when = update.updated_at
        if held is not None and when is not None and held.partner_at is not None:
            if when < held.partner_at:
                return "unchanged"
            if when == held.partner_at and status == "active" and held.status != "active":
                return "unchanged"
        if usable or status == "active":
            values = _values(usable)
        else:
            values = dict(held.values) if held is not None else {}
        labels = _labels(update.labels)
        if held is None:
            created = update.created_at
            if created is None:
                # The writer's one quirk, kept here on purpose: ``updated_at`` 0.0 (the epoch)
                # counts as missing for ``created_at`` (``updated_at or now``), so such an entry
                # is created now yet updated at 0. A writer that fixes it fails here.
                created = update.updated_at or self.now
            updated = update.updated_at if update.updated_at is not None else created
            entries[key] = ModelEntry(
                key, labels, update.source, status, created, updated, when, values
            )
            self.created.append((self._bank_of(entries), key))
            return "added" if status == "active" else "not_held"
        same = (set(values), labels, update.source, status) == (
            set(held.values),
            held.labels,
            held.source,
            held.status,
        )
        if same:
            if when is not None:
                held.partner_at = when
                held.updated_at = max(held.updated_at, when)
            return "unchanged"
        held.values, held.labels, held.source, held.status = values, labels, update.source, status
        if when is not None:
            held.partner_at = when
        held.updated_at = max(held.updated_at, self.now if when is None else when)
        return "updated"

    def _bank_of(self, entries: dict[str, ModelEntry]) -> str:
        return next(name for name, held in self.banks.items() if held is entries)

    # What the store must show

    def live(self) -> set[Key]:
        return {
            key
            for entries in self.banks.values()
            for entry in entries.values()
            if entry.status == "active"
            for key in entry.values
        }

    def carriers(self) -> set[tuple[Key, str, str, tuple[str, ...]]]:
        """(value, bank, external id, labels) for every value of every active entry."""
        return {
            (key, bank, entry.external_id, entry.labels)
            for bank, entries in self.banks.items()
            for entry in entries.values()
            if entry.status == "active"
            for key in entry.values
        }

    def sizes(self, bank: str) -> tuple[int, dict[str, int]]:
        """Active entries, and their values per family (a bank's ``BankInfo``)."""
        active = [e for e in self.banks[bank].values() if e.status == "active"]
        per_family: dict[str, int] = {}
        for entry in active:
            for family, _ in entry.values:
                per_family[family] = per_family.get(family, 0) + 1
        return len(active), per_family


def _external_id(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_EXTERNAL_ID:
        raise Refused("external_id")
    return raw.strip()


def _status(raw: object) -> str:
    text = str(raw)
    if text not in STATUSES:
        raise Refused("status")
    return text


def _values(usable: Sequence[Signal]) -> dict[Key, int | None]:
    if not usable:
        raise Refused("signals")
    values: dict[Key, int | None] = {}
    for signal in usable:
        value = bytes(signal.value)
        if len(value) != VALUE_BYTES[signal.type]:
            raise Refused("value")
        values[(signal.type, value)] = signal.quality
    return values


def _labels(raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        raise Refused("labels")
    cleaned = set()
    for label in raw:  # type: ignore[attr-defined]
        if not isinstance(label, str) or not label.strip():
            raise Refused("labels")
        cleaned.add(label.strip())
    return tuple(sorted(cleaned))


def outcome(result: object) -> object:
    """A writer's result in the model's terms: the outcome's name, or ``("error", field)``."""
    if isinstance(result, Exception):
        return ("error", getattr(result, "field", None))
    return str(result)


def assert_store_matches(store: Store, model: StoreModel) -> None:
    """The store's observable state is the model's (every read through the public API)."""
    by_id = []
    order = {key: n for n, key in enumerate(model.created)}
    for bank, entries in model.banks.items():
        stored = list(store.iter_entries(bank))
        got = [
            (
                e.external_id,
                e.labels,
                e.source,
                str(e.status),
                e.created_at,
                e.updated_at,
                sorted((s.type, s.value, s.quality) for s in e.signals),
            )
            for e in stored
        ]
        want = [
            (
                e.external_id,
                e.labels,
                e.source,
                e.status,
                e.created_at,
                e.updated_at,
                sorted((family, value, quality) for (family, value), quality in e.values.items()),
            )
            for e in sorted(entries.values(), key=lambda e: order[(bank, e.external_id)])
        ]
        differ = [(g, w) for g, w in zip(got, want, strict=False) if g != w][:1]
        assert got == want, f"bank {bank}: store and model differ: {differ or len(got)}"
        for entry in stored:
            assert store.find_entry(bank, entry.external_id) == entry
        info = store.bank_infos([bank])[0]
        assert (info.entries, dict(info.signals_per_family)) == model.sizes(bank), bank
        by_id += [(entry.id, (bank, entry.external_id)) for entry in stored]
    assert [key for _, key in sorted(by_id)] == model.created, "entry ids out of creation order"

    live = model.live()
    families = sorted({family for family, _ in live} | set(store.families()))
    value_ids: dict[int, Key] = {}
    for family in families:
        with store.live_values(family) as (_, batches):
            pairs = (pair for ids, vals in batches for pair in zip(ids, vals, strict=True))
            found = {(family, bytes(value)): value_id for value_id, value in pairs}
        assert set(found) == {key for key in live if key[0] == family}, f"live {family} values"
        value_ids.update({i: key for key, i in found.items()})
    carriers = {
        (value_ids[item.value_id], item.bank, item.external_id, item.labels)
        for item in store.live_entries(sorted(value_ids))
    }
    assert carriers == model.carriers(), "who carries the live values"

    last = store.last_seq()
    steps: dict[Key, list[str]] = {}
    names: dict[int, Key] = {}
    for family in families:
        for change in store.changes_since(family, 0, last):
            if change.value is not None:
                names[change.value_id] = (family, change.value)
            steps.setdefault(names[change.value_id], []).append(change.op)
    assert steps == model.log, "the change log's steps per value"


def assert_recounts(store: Store) -> None:
    """What the writer maintains is what ``hashcore check`` recounts from the tables: each
    bank's ``bank_counts``, every value's ``refs`` (active entries carrying it), and a change
    log that alternates add/remove per value and leaves exactly the ``refs > 0`` values live."""
    failed = {result.name: result.examples for result in check_store(store.path) if not result.ok}
    assert not failed, failed
