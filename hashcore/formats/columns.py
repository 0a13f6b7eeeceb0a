"""A run of a feed's updates as columns: how an import carries them from the reader to the store.

:class:`UpdateColumns` is the store's :class:`~hashcore.store.columns.Records` plus what only
the import uses (where each record was read, the partner's opinion, the content kind). The
reading process sends it across as a dozen lists per few thousand records, and the store writes
it from the lists; it is also a sequence of :class:`BankUpdate`, built on demand, for whatever
wants the records one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from hashcore.formats.records import BankUpdate, Opinion
from hashcore.model import EntryStatus
from hashcore.signals import Signal
from hashcore.store.columns import Records


@dataclass(slots=True)
class UpdateColumns(Records, Sequence[BankUpdate]):  # type: ignore[misc]
    """Updates in feed order, as columns."""

    positions: list[str] = field(default_factory=list)
    opinions: list[Opinion | None] = field(default_factory=list)
    kinds: list[str | None] = field(default_factory=list)

    def append(self, update: BankUpdate) -> None:  # type: ignore[override]
        Records.append(self, update)
        self.positions.append(update.position)
        self.opinions.append(update.opinion)
        self.kinds.append(update.content_kind)

    @overload
    def __getitem__(self, at: int) -> BankUpdate: ...
    @overload
    def __getitem__(self, at: slice) -> Sequence[BankUpdate]: ...
    def __getitem__(self, at: int | slice) -> BankUpdate | Sequence[BankUpdate]:
        if isinstance(at, slice):
            return [self[i] for i in range(*at.indices(len(self)))]
        if at < 0:
            at += len(self)
        if not 0 <= at < len(self):
            raise IndexError(at)
        status = self.statuses[at]
        return BankUpdate(
            self.external_ids[at],
            tuple([Signal(*row) for row in self.signal_rows(at)]),
            self.labels[at],
            self.sources[at],
            status if type(status) is EntryStatus else EntryStatus(status),
            self.updated_at[at],
            self.created_at[at],
            self.opinions[at],
            self.kinds[at],
            self.positions[at],
        )

    def __iter__(self) -> Iterator[BankUpdate]:
        return (self[at] for at in range(len(self)))
