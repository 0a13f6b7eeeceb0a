"""The matching engine: banks in SQLite, one index per family, one lookup across all of them.

The CLI and the gRPC server call only this class (through :class:`~hashcore.engine_api.EngineAPI`
for the CLI). Writes go to the store first; every open index then catches up by replaying the
store's change log, the same path a restart or a write from another process takes, so a new
entry is visible to the very next lookup without a rebuild. The indexes themselves (opening on
first use, catch-up, snapshots, compaction) are :class:`~hashcore.index_set.IndexSet`'s.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

from hashcore.backends import EmbeddedBackend, IndexBackend
from hashcore.engine_api import EngineAPI, IndexStatus, hashes_to_add, lookup_hashed
from hashcore.errors import InvalidInput, NotFound
from hashcore.hashing import hash_file
from hashcore.hits import FamilyHits, match_hits, search_family
from hashcore.index_set import IndexSet
from hashcore.matching import check_thresholds, loosest_threshold
from hashcore.model import (
    Added,
    Bank,
    BankInfo,
    BankSettings,
    Entry,
    EntryStatus,
    LookupResult,
    Skipped,
)
from hashcore.opinions.exceptions import drop_excepted
from hashcore.registry import SignalRegistry, load_registry
from hashcore.signals import Signal
from hashcore.store import Store, StoreWriter
from hashcore.store.batch import ValueValidator

if TYPE_CHECKING:
    from hashcore.check import CheckReport
    from hashcore.engine_api import EntryFields, FileFields, ImportOptions
    from hashcore.formats.importer import ImportSummary
    from hashcore.model import Ticker

Thresholds = Mapping[str, float]


def content_key(signals: Sequence[Signal]) -> str | None:
    """The external id a file's entry gets from its hashes: ``md5:<hex>``, if it has an MD5."""
    md5 = next(
        (s.value.hex() for s in signals if s.type == "md5" and s.usable and not s.variant), None
    )
    return None if md5 is None else f"md5:{md5}"


class Engine(EngineAPI):
    """Open a store directory, answer the verbs of :class:`~hashcore.engine_api.EngineAPI`.
    Thread-safe.

    Opening is cheap: each family's index loads (or is rebuilt) on its first use, so a verb
    that only writes banks never reads an index; a server calls :meth:`open_indexes` to warm
    up. ``compact_interval`` (seconds) starts a background thread that folds index deltas and
    writes snapshots when there are changes. ``index_backend`` says where the indexes live
    (:mod:`hashcore.backends`; default in this process); the engine closes it.
    """

    def __init__(
        self,
        store_dir: Path | str,
        registry: SignalRegistry | None = None,
        *,
        compact_interval: float | None = None,
        index_backend: IndexBackend | None = None,
    ) -> None:
        self._registry = registry if registry is not None else load_registry()
        self.store_dir = Path(store_dir)
        self.store = Store(self.store_dir, validate=ValueValidator(self._registry))
        self.backend = index_backend if index_backend is not None else EmbeddedBackend()
        self.indexes = IndexSet(
            self.store,
            self.backend.registry(self.registry, self.store),
            self.backend.index_dir(self.store_dir),
            compact_interval=compact_interval,
        )
        self._closed = False

    @property
    def registry(self) -> SignalRegistry:
        return self._registry

    def close(self) -> None:
        """Stop background work, snapshot the open indexes that changed, close the store."""
        if self._closed:
            return
        self._closed = True
        try:
            self.indexes.close()
        finally:
            self.store.close()
            self.backend.close()

    # Banks

    def create_bank_with(self, name: str, settings: BankSettings) -> Bank:
        with self.store.transaction() as writer:
            return writer.create_bank(name, self._checked(settings))

    def get_bank(self, name: str) -> BankInfo:
        infos = self._with_followers(self.store.bank_infos([name]))
        if not infos:
            raise NotFound(f"no bank named {name!r}", field="bank")
        return infos[0]

    def list_banks(self) -> list[BankInfo]:
        return self._with_followers(self.store.bank_infos())

    def _with_followers(self, infos: list[BankInfo]) -> list[BankInfo]:
        """``infos`` with the partners following each bank (the store's owner sees them)."""
        return [
            dataclasses.replace(info, followers=tuple(self.store.followers(info.bank.name)))
            for info in infos
        ]

    def set_bank_enabled(self, name: str, enabled: bool) -> Bank:
        with self.store.transaction() as writer:
            return writer.set_bank_enabled(name, enabled)

    def set_bank_thresholds(self, name: str, thresholds: Thresholds) -> Bank:
        checked = check_thresholds(self.registry, thresholds)
        with self.store.transaction() as writer:
            return writer.set_bank_thresholds(name, checked)

    def set_bank_priority(self, name: str, priority: int | None) -> Bank:
        with self.store.transaction() as writer:
            return writer.set_bank_priority(name, priority)

    # Entries

    def add_entry(
        self, bank: str, signals: Sequence[Signal], **fields: Unpack[EntryFields]
    ) -> Entry:
        with self.batch() as writer:
            return writer.add_entry(bank, signals, **fields)

    def add_file(self, bank: str, path: Path, **fields: Unpack[FileFields]) -> Entry:
        """Hash ``path`` with every applicable family and add it as one entry.

        Families that fail on the file are left out; :class:`ContentError` if all do. Without an
        ``external_id`` the entry is keyed by the file's MD5 (``md5:<hex>``), so adding the same
        file twice updates one entry instead of creating a duplicate.
        """
        signals = hashes_to_add(path, self.registry)
        return self.add_hashes(bank, signals, source=str(path), **fields).entry

    def add_hashes(
        self, bank: str, signals: Sequence[Signal], **fields: Unpack[EntryFields]
    ) -> Added:
        """Add a file's hashes as one entry, keyed like :meth:`add_file`: without an
        ``external_id``, by the file's MD5 (``md5:<hex>``), so adding it again (a re-run after
        a kill) updates that entry instead of creating a duplicate. The outcome says which; an
        entry removed before and active again is ``ADDED``: the bank did not match the file."""
        external_id = fields.get("external_id")
        if external_id is None:
            external_id = content_key(signals)
            if external_id is None:
                return Added(self.add_entry(bank, signals, **fields))
        labels, source = fields.get("labels", ()), fields.get("source")
        with self.batch() as writer:
            return writer.add_file(bank, external_id, signals, labels=labels, source=source)

    def iter_entries(self, bank: str) -> Iterator[Entry]:
        """Every entry of ``bank`` (any status), streamed in id order: exports."""
        return self.store.iter_entries(bank)

    def get_entry(self, bank: str, entry_id: int) -> Entry:
        self.store.get_bank(bank)
        return self.store.get_entry(bank, entry_id)

    def set_entry_status(self, bank: str, entry_id: int, status: EntryStatus) -> Entry:
        with self.batch() as writer:
            return writer.set_entry_status(bank, entry_id, status)

    def remove_entries(self, bank: str, entry_ids: Iterable[int]) -> int:
        with self.batch() as writer:
            return writer.remove_entries(bank, entry_ids)

    @contextmanager
    def batch(self, *, catch_up: bool = True) -> Iterator[StoreWriter]:
        """Many writes in one atomic transaction (imports); indexes catch up on commit.

        ``catch_up=False`` leaves that to :meth:`catch_up` or the next lookup: a bulk import
        then brings the indexes up once at its end (a rebuild when it changed most values).
        """
        with self.store.transaction() as writer:
            yield writer
        if catch_up:
            self.indexes.catch_up()

    def import_file_with(
        self, bank: str, path: Path, how: ImportOptions, progress: Ticker | None = None
    ) -> ImportSummary:
        """Read a partner file (a large one in a child process) and apply it to ``bank``.

        The open indexes catch up once at the end; the others replay the change log when
        they next open, so an import into a store nobody searches loads no index.
        """
        from hashcore.formats.background import read_feed
        from hashcore.formats.importer import (
            BATCH_SIZE,
            MAX_DELETE_FRACTION,
            StrictProblem,
            Writer,
            creating_bank,
            import_updates,
        )

        create = None if how.create is None else self._checked(how.create)

        def create_in(writer: Writer) -> object:
            assert isinstance(writer, StoreWriter)  # this engine's batch() yields its writer
            assert create is not None
            return writer.create_bank(bank, create)

        items = read_feed(how.format, path, self.registry, how.format_options)
        if create is not None and not how.strict:  # not for a file refused whole
            items = creating_bank(items, lambda: self.create_bank_with(bank, create))
        try:  # --strict: one pass, one transaction, the bank created inside it
            return import_updates(
                self,
                bank,
                items,
                strict=how.strict,
                progress=progress,
                batch_size=BATCH_SIZE if how.batch_size is None else how.batch_size,
                max_delete_fraction=None if how.allow_mass_delete else MAX_DELETE_FRACTION,
                all_or_nothing=how.strict,
                prepare=create_in if how.strict and create is not None else None,
            )
        except StrictProblem as refused:
            raise InvalidInput(f"{path}: {refused.message}", field=refused.field) from None

    # Indexes

    def open_indexes(self) -> None:
        """Open every family's index now (a server's warm-up) instead of on first use."""
        self.indexes.open_all()

    def catch_up(self) -> None:
        """Bring every open index up to the store's committed changes.

        Needed after ``batch(catch_up=False)``; lookups also catch up on their own.
        """
        self.indexes.catch_up()

    def compact(self, progress: Ticker | None = None) -> None:
        """Fold every index's delta into its main structure and write the snapshots."""
        self.indexes.compact(progress)

    def index_status(self) -> dict[str, IndexStatus]:
        """Per family: its index's live values, sequence number and how it was opened (every
        family is opened for this; :attr:`indexes` has the details)."""
        return {
            family: IndexStatus(family, len(state.index), state.seq, state.origin)
            for family, state in self.indexes.states().items()
        }

    def unindexed_families(self) -> dict[str, str]:
        """Families that have no index (and why): their signals are stored, never matched."""
        return self.indexes.unindexed()

    def check(self, *, repair: bool = False) -> CheckReport:
        """``hashcore check`` of this store, its snapshots and its indexes (the server's)."""
        from hashcore.check import check_engine

        return check_engine(self, repair=repair)

    # Lookups

    def lookup_file(
        self,
        path: Path,
        *,
        thresholds: Thresholds | None = None,
        banks: Collection[str] | None = None,
    ) -> LookupResult:
        """Hash ``path`` with every family (PDQ in all eight orientations) and look it up."""
        hashes = hash_file(path, self.registry, variants=True)
        return lookup_hashed(self, hashes, thresholds=thresholds, banks=banks)

    def lookup_signals(
        self,
        signals: Sequence[Signal],
        *,
        thresholds: Thresholds | None = None,
        banks: Collection[str] | None = None,
    ) -> LookupResult:
        """Look hashes up in every family's index and merge the hits per entry."""
        return self.lookup_many([signals], thresholds=thresholds, banks=banks)[0]

    def lookup_many(
        self,
        queries: Sequence[Sequence[Signal]],
        *,
        thresholds: Thresholds | None = None,
        banks: Collection[str] | None = None,
        loosen_banks: Collection[str] | None = None,
    ) -> list[LookupResult]:
        """One :class:`LookupResult` per query, each equal to :meth:`lookup_signals` on it.

        Every query's signals go to one ``index.search`` call per family, so the per-call costs
        (bank list, change-log check, probe setup) are paid once per batch: this is what lets a
        platform check its upload stream at thousands of lookups per second.

        ``thresholds`` replace a bank's own only in ``loosen_banks`` (``None``: every bank, for
        the store's owner); elsewhere they can only tighten it. The server passes the banks the
        caller administers, so a lookup-only partner cannot widen a search into a read.
        """
        request = check_thresholds(self.registry, thresholds)
        all_banks = {bank.name: bank for bank in self.store.list_banks()}
        wanted = None if banks is None else set(banks)
        unknown = sorted((wanted or set()) - all_banks.keys())
        if unknown:
            raise NotFound(f"no bank named {', '.join(map(repr, unknown))}", field="banks")
        candidates = [
            bank
            for bank in all_banks.values()
            if bank.enabled and (wanted is None or bank.name in wanted)
        ]
        results = [LookupResult() for _ in queries]
        grouped = [
            self._queries(signals, result) for signals, result in zip(queries, results, strict=True)
        ]
        if not candidates or not any(grouped):
            return results
        # An index that can filter by bank needs to only when some bank is left out.
        scope = None if len(candidates) == len(all_banks) else [b.name for b in candidates]
        self.indexes.catch_up()
        found: list[FamilyHits] = []
        with self.indexes.reading() as states:
            for family in sorted({family for group in grouped for family in group}):
                signal_type = self.registry.get(family)
                threshold = loosest_threshold(signal_type, candidates, request, loosen_banks)
                index = states[family].index
                found.append(search_family(index, signal_type, grouped, threshold, scope))
        matched = match_hits(
            found, self.store.live_entries, self.registry, all_banks, request, len(queries),
            wanted, loosen_banks,
        )  # fmt: skip
        matched, set_aside = drop_excepted(self.store, self.registry, grouped, matched)
        for result, matches, dropped in zip(results, matched, set_aside, strict=True):
            result.matches = matches
            result.set_aside = dropped  # by false-positive opinions: said, never silent
        self._cite_origins(results)
        return results

    def _cite_origins(self, results: Sequence[LookupResult]) -> None:
        """Matches of entries received from a followed bank carry where they came from, so the
        receiver can cite the partner's own record (one query for every matched entry)."""
        ids = [match.entry_id for result in results for match in result.matches]
        origins = self.store.origins(ids) if ids else {}
        if origins:
            for result in results:
                result.matches = [
                    dataclasses.replace(match, origin=origins[match.entry_id])
                    if match.entry_id in origins
                    else match
                    for match in result.matches
                ]

    def bank_names(self) -> list[str]:
        """Every bank's name, without the entry counts :meth:`list_banks` computes (slow)."""
        return [bank.name for bank in self.store.list_banks()]

    # Internals

    def _queries(self, signals: Sequence[Signal], result: LookupResult) -> dict[str, list[Signal]]:
        """Validated signals grouped by family; unusable or unindexed ones go to ``skipped``."""
        queries: dict[str, list[Signal]] = defaultdict(list)
        unusable: dict[str, list[Signal]] = defaultdict(list)
        for signal in signals:
            signal = self._validate(signal)
            if not signal.usable:
                unusable[signal.type].append(signal)
            elif self.indexes.get(signal.type) is None:  # opens the family on first use
                reason = self.indexes.reason(signal.type)
                if all(skip.type != signal.type for skip in result.skipped):
                    result.skipped.append(Skipped(signal.type, reason))
            else:
                queries[signal.type].append(signal)
        for family, weak in unusable.items():
            qualities = sorted({s.quality for s in weak if s.quality is not None})
            quality = f"quality {qualities[0]}" if qualities else "quality"
            if family in queries:
                reason = f"{len(weak)} variant(s) with {quality} too low to match on"
            else:
                reason = f"{quality} too low to match on (featureless image)"
            result.skipped.append(Skipped(family, reason))
        return dict(queries)

    def _checked(self, settings: BankSettings) -> BankSettings:
        """``settings`` with their thresholds checked against the plugins (InvalidInput)."""
        thresholds = check_thresholds(self.registry, settings.thresholds)
        return dataclasses.replace(settings, thresholds=thresholds)

    def _validate(self, signal: Signal) -> Signal:
        value = self.registry.get(signal.type).validate(signal.value)
        return signal if value is signal.value else dataclasses.replace(signal, value=value)
