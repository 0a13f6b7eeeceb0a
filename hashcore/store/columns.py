"""Records for the store as columns: one list per field, the signals of every record flattened.

An import moves a million records from the feed reader to the store. As objects (a record and
a :class:`~hashcore.signals.Signal` per hash) each is built, pickled across from the reading
process, unpickled and taken apart again field by field; as columns a chunk of thousands is a
dozen lists, and the writer validates values per family and plays the records from the lists
(:mod:`hashcore.store.batch`). Every write goes through here: ``upsert_entry`` is a column of
one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Self

from hashcore.signals import Signal

if TYPE_CHECKING:
    from hashcore.store.batch import EntryUpdate

SignalRow = tuple[str, bytes, int | None, bool, str | None]
"""A signal as plain values: type, value, quality, usable, variant."""


@dataclass(slots=True)
class Records:
    """Records in order; record ``i``'s signals are ``types[ends[i-1]:ends[i]]`` (and the
    other signal columns alike). Fields hold what callers passed, unchecked: the writer
    refuses a malformed record on its own, leaving the others."""

    external_ids: list[Any] = field(default_factory=list)
    statuses: list[Any] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)
    updated_at: list[float | None] = field(default_factory=list)
    created_at: list[float | None] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    qualities: list[int | None] = field(default_factory=list)
    usable: list[bool] = field(default_factory=list)
    variants: list[str | None] = field(default_factory=list)

    @classmethod
    def of(cls, updates: Iterable[EntryUpdate]) -> Records:
        records = cls()
        for update in updates:
            records.append(update)
        return records

    def __len__(self) -> int:
        return len(self.external_ids)

    def append(self, update: EntryUpdate) -> None:
        """Add one record (a :class:`~hashcore.store.batch.EntryUpdate`) at the end."""
        self.external_ids.append(update.external_id)
        self.statuses.append(update.status)
        self.labels.append(update.labels)
        self.sources.append(update.source)
        self.updated_at.append(update.updated_at)
        self.created_at.append(update.created_at)
        signals: Sequence[Signal] = update.signals
        if isinstance(signals, Signal):
            signals = (signals,)
        for signal in signals:
            self.types.append(signal.type)
            self.values.append(signal.value)
            self.qualities.append(signal.quality)
            self.usable.append(signal.usable)
            self.variants.append(signal.variant)
        self.ends.append(len(self.types))

    def extend(self, other: Records) -> None:
        """Add ``other``'s records at the end (same class: every column)."""
        shift = len(self.types)
        for name in self._record_columns():
            getattr(self, name).extend(getattr(other, name))
        self.ends.extend([end + shift for end in other.ends] if shift else other.ends)
        for name in _SIGNAL_COLUMNS:
            getattr(self, name).extend(getattr(other, name))

    def cut(self, count: int) -> Self:
        """Remove the first ``count`` records and return them (same class)."""
        head = type(self)()
        last = self.ends[count - 1] if count else 0
        for name in self._record_columns():
            column = getattr(self, name)
            setattr(head, name, column[:count])
            del column[:count]
        head.ends = self.ends[:count]
        self.ends = [end - last for end in self.ends[count:]]
        for name in _SIGNAL_COLUMNS:
            column = getattr(self, name)
            setattr(head, name, column[:last])
            del column[:last]
        return head

    def span(self, i: int) -> range:
        """Positions of record ``i``'s signals in the signal columns."""
        return range(self.ends[i - 1] if i else 0, self.ends[i])

    def signal_rows(self, i: int) -> Iterator[SignalRow]:
        """Record ``i``'s signals as plain values."""
        start, end = (self.ends[i - 1] if i else 0), self.ends[i]
        return zip(
            self.types[start:end],
            self.values[start:end],
            self.qualities[start:end],
            self.usable[start:end],
            self.variants[start:end],
            strict=True,
        )

    @classmethod
    def _record_columns(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in _NOT_PER_RECORD]


_SIGNAL_COLUMNS = ("types", "values", "qualities", "usable", "variants")
_NOT_PER_RECORD = frozenset({"ends", *_SIGNAL_COLUMNS})
