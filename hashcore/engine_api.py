"""``EngineAPI``: the verbs an engine answers, whether it runs here or behind a server.

:class:`hashcore.engine.Engine` (a local store) and :class:`hashcore.remote.RemoteEngine` (a
``hashcore serve`` server) both implement it, method for method, with the same arguments and
results, so the CLI prints the same output from either without knowing which it has. A verb one
side cannot answer is still a method there, raising the project's error (``NotRemote`` for a
server); ``hashcore.cli.common.open_engine`` returns both as an ``EngineAPI``, which makes
``mypy --strict`` check that each satisfies this protocol.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from hashcore.hashing import FileHashes
from hashcore.model import Bank, BankInfo, Entry, EntryStatus, LookupResult
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal

if TYPE_CHECKING:
    from hashcore.check import CheckReport
    from hashcore.formats.importer import ImportSummary
    from hashcore.formats.records import BankSettings
    from hashcore.model import Ticker
    from hashcore.store import StoreWriter


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """One family's index as a status shows it: the same fields locally and from a server."""

    family: str
    values: int
    """Live values in the index."""
    seq: int
    """The change-log position the index has caught up to."""
    origin: str
    """``snapshot`` or ``rebuilt``: how it was opened."""


class EngineAPI(Protocol):
    """Banks, entries, imports and lookups over one store, local or remote."""

    @property
    def registry(self) -> SignalRegistry:
        """The local plugins: hashing files and formatting hashes happen here either way."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    # Banks

    def create_bank(
        self,
        name: str,
        *,
        labels: Iterable[str] = (),
        source: str | None = None,
        enabled: bool = True,
        thresholds: Mapping[str, float] | None = None,
        priority: int | None = None,
    ) -> Bank: ...

    def get_bank(self, name: str) -> BankInfo: ...

    def list_banks(self) -> list[BankInfo]: ...

    def bank_names(self) -> list[str]: ...

    def set_bank_enabled(self, name: str, enabled: bool) -> Bank: ...

    def set_bank_thresholds(self, name: str, thresholds: Mapping[str, float]) -> Bank: ...

    def set_bank_priority(self, name: str, priority: int | None) -> Bank:
        """1 (highest) to 5, or ``None`` to unset: lookups list prioritised banks' matches
        first."""
        ...

    # Entries

    def add_entry(
        self,
        bank: str,
        signals: Sequence[Signal],
        *,
        external_id: str | None = None,
        labels: Iterable[str] = (),
        source: str | None = None,
    ) -> Entry: ...

    def add_hashes(
        self,
        bank: str,
        signals: Sequence[Signal],
        *,
        labels: Iterable[str] = (),
        source: str | None = None,
        external_id: str | None = None,
    ) -> Entry:
        """Add a file's hashes as one entry keyed by its MD5 (``md5:<hex>``) unless given an
        ``external_id``: adding the same file again never makes a second entry."""
        ...

    def add_file(
        self,
        bank: str,
        path: Path,
        *,
        labels: Iterable[str] = (),
        external_id: str | None = None,
    ) -> Entry: ...

    def get_entry(self, bank: str, entry_id: int) -> Entry: ...

    def iter_entries(self, bank: str) -> Iterator[Entry]: ...

    def set_entry_status(self, bank: str, entry_id: int, status: EntryStatus) -> Entry: ...

    def remove_entries(self, bank: str, entry_ids: Iterable[int]) -> int: ...

    def batch(self, *, catch_up: bool = True) -> AbstractContextManager[StoreWriter]:
        """Many writes in one transaction (``hashcore bank fetch``)."""
        ...

    def import_file(
        self,
        bank: str,
        path: Path,
        *,
        format: str,
        options: Mapping[str, object] | None = None,
        strict: bool = False,
        allow_mass_delete: bool = False,
        batch_size: int | None = None,
        progress: Ticker | None = None,
        create: BankSettings | None = None,
    ) -> ImportSummary:
        """Parse a partner file with ``format`` and apply it to ``bank``, ``batch_size`` updates
        per transaction (``None``: the importer's default). ``create``: the settings to create
        the bank with (it must not exist yet); else the bank must exist. ``strict``: nothing is
        imported unless the whole file is valid (and then no bank is created either)."""
        ...

    # Indexes

    def catch_up(self) -> None: ...

    def compact(self, progress: Ticker | None = None) -> None:
        """Fold every index's delta and write the snapshots; ``progress`` ticks per step."""
        ...

    def index_status(self) -> dict[str, IndexStatus]: ...

    def unindexed_families(self) -> dict[str, str]: ...

    def check(self, *, repair: bool = False) -> CheckReport: ...

    # Lookups

    def lookup_file(
        self,
        path: Path,
        *,
        thresholds: Mapping[str, float] | None = None,
        banks: Collection[str] | None = None,
    ) -> LookupResult: ...

    def lookup_signals(
        self,
        signals: Sequence[Signal],
        *,
        thresholds: Mapping[str, float] | None = None,
        banks: Collection[str] | None = None,
    ) -> LookupResult: ...

    def lookup_many(
        self,
        queries: Sequence[Sequence[Signal]],
        *,
        thresholds: Mapping[str, float] | None = None,
        banks: Collection[str] | None = None,
    ) -> list[LookupResult]:
        """One result per query, in order, each equal to :meth:`lookup_signals` on it; an
        invalid query makes the whole call raise its error."""
        ...


def lookup_hashed(
    engine: EngineAPI,
    hashes: FileHashes,
    *,
    thresholds: Mapping[str, float] | None = None,
    banks: Collection[str] | None = None,
) -> LookupResult:
    """A file's lookup from its hashes (``variants=True``), its hashing errors first: what
    ``lookup_file`` answers when the file is hashed here, in this process or a worker."""
    if hashes.signals:
        result = engine.lookup_signals(hashes.signals, thresholds=thresholds, banks=banks)
    else:
        result = LookupResult()
    result.errors[:0] = [error.message for error in hashes.errors]
    return result
