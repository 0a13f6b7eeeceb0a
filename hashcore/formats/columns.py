"""A run of a feed's updates as columns: how an import carries them from the reader to the store.

:class:`UpdateColumns` is the store's :class:`~hashcore.store.columns.Records` plus what only
the import uses (where each record was read, the partner's opinion, the content kind). The
reading process sends it across as a dozen lists per few thousand records, and the store writes
it from the lists; it is also a sequence of :class:`BankUpdate`, built on demand, for whatever
wants the records one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from hashcore.formats.records import BankUpdate, Item, Opinion
from hashcore.model import EntryStatus
from hashcore.opinions.model import NewOpinion
from hashcore.signals import Signal
from hashcore.store.columns import Records, SignalRow

RUN = 2000
"""Records per run: what the reading process sends at a time."""
AHEAD = 64
"""Records a format's ``read`` parses ahead into columns before handing them out one by one:
enough to share the cost of a run, few enough that memory stays flat."""


@dataclass(slots=True)
class UpdateColumns(Records, Sequence[BankUpdate]):  # type: ignore[misc]
    """Updates in feed order, as columns."""

    positions: list[str] = field(default_factory=list)
    opinions: list[Opinion | None] = field(default_factory=list)
    kinds: list[str | None] = field(default_factory=list)
    entry_opinions: list[tuple[NewOpinion, ...]] = field(default_factory=list)
    """Analysts' opinions a record carries (hashcore's own export), recorded with it."""

    def append(self, update: BankUpdate) -> None:  # type: ignore[override]
        Records.append(self, update)
        self.positions.append(update.position)
        self.opinions.append(update.opinion)
        self.kinds.append(update.content_kind)
        self.entry_opinions.append(update.opinions)

    def add(
        self,
        external_id: str,
        signals: Sequence[SignalRow],
        labels: tuple[str, ...],
        source: str | None,
        status: EntryStatus,
        updated_at: float | None,
        created_at: float | None,
        position: str,
        opinion: Opinion | None = None,
        kind: str | None = None,
        entry_opinions: tuple[NewOpinion, ...] = (),
    ) -> None:
        """Add a record from its fields: what :meth:`append` does with a
        :class:`BankUpdate`, without building it (a format parsing straight into columns)."""
        self.external_ids.append(external_id)
        self.statuses.append(status)
        self.labels.append(labels)
        self.sources.append(source)
        self.updated_at.append(updated_at)
        self.created_at.append(created_at)
        for signal_type, value, quality, usable, variant in signals:
            self.types.append(signal_type)
            self.values.append(value)
            self.qualities.append(quality)
            self.usable.append(usable)
            self.variants.append(variant)
        self.ends.append(len(self.types))
        self.positions.append(position)
        self.opinions.append(opinion)
        self.kinds.append(kind)
        self.entry_opinions.append(entry_opinions)

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
            self.entry_opinions[at],
        )

    def __iter__(self) -> Iterator[BankUpdate]:
        return (self[at] for at in range(len(self)))


class Runs:
    """A format's items as it reads them, runs of updates as :class:`UpdateColumns` and
    problems, skips and checkpoints in their place; taken every :data:`RUN` or so."""

    def __init__(self) -> None:
        self.items: list[Item | UpdateColumns] = []
        self.size = 0
        """Items and records held."""
        self._run: UpdateColumns | None = None

    def add(self, item: Item) -> None:
        """Add an item (an update joins the current run)."""
        self.size += 1
        if type(item) is BankUpdate:
            self.run().append(item)
        else:
            self.items.append(item)
            self._run = None

    def run(self) -> UpdateColumns:
        """The run updates are added to (:meth:`UpdateColumns.add`), counted in :attr:`size`
        by the caller's :meth:`added`."""
        if self._run is None:
            self._run = UpdateColumns()
            self.items.append(self._run)
        return self._run

    def added(self) -> None:
        self.size += 1

    def take(self) -> list[Item | UpdateColumns]:
        """The items held, in order; none are held after."""
        items, self.items, self.size, self._run = self.items, [], 0, None
        return items


def drain(runs: Runs, steps: Iterator[object], size: int = RUN) -> Iterator[Item | UpdateColumns]:
    """Advance ``steps`` (a parser filling ``runs``), taking the items every ``size``. If the
    parser fails, the items it read before are yielded before the error is raised, as a
    parser yielding them one by one would have."""
    try:
        for _ in steps:
            if runs.size >= size:
                yield from runs.take()
    except Exception:
        yield from runs.take()
        raise
    yield from runs.take()


def in_columns(items: Iterable[Item], size: int = RUN) -> Iterator[Item | UpdateColumns]:
    """``items`` with runs of updates as :class:`UpdateColumns` of at most ``size``."""
    runs = Runs()

    def steps() -> Iterator[None]:
        for item in items:
            runs.add(item)
            yield

    return drain(runs, steps(), size)


def flattened(items: Iterable[Item | UpdateColumns]) -> Iterator[Item]:
    """``items`` one by one: each :class:`UpdateColumns` as its updates."""
    for item in items:
        if type(item) is UpdateColumns:
            yield from item
        else:
            yield item  # type: ignore[misc]
