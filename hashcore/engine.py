"""The matching engine: banks in SQLite, one index per family, one lookup across all of them.

CONTRACT (implementation in progress): the CLI and the gRPC server call only these methods.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from hashcore.model import Bank, BankInfo, Entry, EntryStatus, LookupResult
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal

Thresholds = Mapping[str, float]


class Engine:
    """Open a store directory, load or rebuild the indexes, answer lookups. Thread-safe."""

    def __init__(self, store_dir: Path | str, registry: SignalRegistry | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None: ...
    def __enter__(self) -> Engine: ...
    def __exit__(self, *exc: object) -> None: ...

    # Banks
    def create_bank(
        self,
        name: str,
        *,
        labels: Iterable[str] = (),
        source: str | None = None,
        enabled: bool = True,
        thresholds: Thresholds | None = None,
    ) -> Bank: ...
    def get_bank(self, name: str) -> BankInfo: ...
    def list_banks(self) -> list[BankInfo]: ...
    def set_bank_enabled(self, name: str, enabled: bool) -> Bank: ...

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
    def add_file(self, bank: str, path: Path, *, labels: Iterable[str] = ()) -> Entry: ...
    def get_entry(self, bank: str, entry_id: int) -> Entry: ...
    def set_entry_status(self, bank: str, entry_id: int, status: EntryStatus) -> Entry: ...
    def remove_entries(self, bank: str, entry_ids: Iterable[int]) -> int: ...
    def compact(self) -> None: ...

    # Lookups
    def lookup_file(
        self,
        path: Path,
        *,
        thresholds: Thresholds | None = None,
        banks: Collection[str] | None = None,
    ) -> LookupResult: ...
    def lookup_signals(
        self,
        signals: Sequence[Signal],
        *,
        thresholds: Thresholds | None = None,
        banks: Collection[str] | None = None,
    ) -> LookupResult: ...
