"""``EngineAPI``: the verbs an engine answers, whether it runs here or behind a server.

:class:`hashcore.engine.Engine` (a local store) and :class:`hashcore.remote.RemoteEngine` (a
``hashcore serve`` server) both implement it, method for method, with the same arguments and
results, so the CLI prints the same output from either without knowing which it has. A verb one
side cannot answer is still a method there, raising the project's error (``NotRemote`` for a
server); ``hashcore.cli.common.open_engine`` returns both as an ``EngineAPI``, which makes
``mypy --strict`` check that each satisfies this protocol.

Both also subclass it, to inherit what is written here once: the keyword forms of the verbs
that take a value (:meth:`EngineAPI.create_bank` builds a :class:`~hashcore.model.BankSettings`,
:meth:`EngineAPI.import_file` an :class:`ImportOptions`), and the keyword arguments of the entry
verbs, declared once as :class:`EntryFields`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TypedDict, Unpack

from hashcore.errors import ContentError
from hashcore.hashing import FileHashes, hash_file
from hashcore.model import Added, Bank, BankInfo, BankSettings, Entry, EntryStatus, LookupResult
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from hashcore.store.rows import clean_labels

if TYPE_CHECKING:
    from hashcore.check import CheckReport
    from hashcore.formats.importer import ImportSummary
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


class FileFields(TypedDict, total=False):
    """The keyword arguments of ``add_file``: what describes an entry besides its hashes."""

    external_id: str | None
    """The entry's id in its bank; by default the file's MD5 (``md5:<hex>``)."""
    labels: Iterable[str]


class EntryFields(FileFields, total=False):
    """The keyword arguments of ``add_entry`` and ``add_hashes``: a file's, and its source."""

    source: str | None


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How :meth:`EngineAPI.import_file_with` reads a partner file and applies it."""

    format: str
    format_options: Mapping[str, object] = field(default_factory=dict)
    """The format's own ``key=value`` settings (``--option``, ``--mapping``)."""
    strict: bool = False
    """Nothing is imported unless the whole file is valid (and then no bank is created either)."""
    allow_mass_delete: bool = False
    batch_size: int | None = None
    """Updates per transaction; ``None``: the importer's default (a server chooses its own)."""
    create: BankSettings | None = None
    """The settings to create the bank with (it must not exist yet); else the bank must exist."""


class EngineAPI(Protocol):
    """Banks, entries, imports and lookups over one store, local or remote."""

    @property
    def registry(self) -> SignalRegistry:
        """The local plugins: hashing files and formatting hashes happen here either way."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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
    ) -> Bank:
        """:meth:`create_bank_with` these settings."""
        labels = clean_labels(labels)  # InvalidInput for one string, as the store says
        settings = BankSettings(labels, dict(thresholds or {}), source, priority, enabled)
        return self.create_bank_with(name, settings)

    def create_bank_with(self, name: str, settings: BankSettings) -> Bank:
        """A new bank; :class:`~hashcore.errors.AlreadyExists` if the name is taken."""
        ...

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
        self, bank: str, signals: Sequence[Signal], **fields: Unpack[EntryFields]
    ) -> Entry:
        """A new entry (with a new random ``external_id`` unless given one)."""
        ...

    def add_hashes(
        self, bank: str, signals: Sequence[Signal], **fields: Unpack[EntryFields]
    ) -> Added:
        """Add a file's hashes as one entry keyed by its MD5 (``md5:<hex>``) unless given an
        ``external_id``: adding the same file again never makes a second entry, and the
        outcome says whether the entry is new, updated or was there already."""
        ...

    def add_file(self, bank: str, path: Path, **fields: Unpack[FileFields]) -> Entry:
        """Hash ``path`` with every applicable family and add it as one entry (its source: the
        path), keyed like :meth:`add_hashes`."""
        ...

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
        """:meth:`import_file_with` these options (``options``: the format's)."""
        how = ImportOptions(
            format, dict(options or {}), strict, allow_mass_delete, batch_size, create
        )
        return self.import_file_with(bank, path, how, progress)

    def import_file_with(
        self, bank: str, path: Path, how: ImportOptions, progress: Ticker | None = None
    ) -> ImportSummary:
        """Parse a partner file with ``how.format`` and apply it to ``bank``, creating the bank
        first if ``how.create`` says so; ``progress`` ticks per record where the work is done
        here."""
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


def hashes_to_add(path: Path, registry: SignalRegistry) -> list[Signal]:
    """``add_file``'s hashes of ``path``, hashed here; :class:`ContentError` if none is usable
    (the families that fail on the file are left out)."""
    hashes = hash_file(path, registry)
    if not any(signal.usable for signal in hashes.signals):
        reasons = "; ".join(hashes.messages()) or "no usable hash"
        raise ContentError(f"{path}: nothing to add: {reasons}")
    return hashes.signals


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
        result = LookupResult(searched=False)
    result.errors[:0] = hashes.messages()
    return result
