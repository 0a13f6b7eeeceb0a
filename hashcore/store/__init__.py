"""Banks, entries and the index change log in SQLite (see :mod:`hashcore.store.schema`).

The names below load on first use: the bank formats import :mod:`hashcore.store.columns` (plain
column types) at every start, and a command that only hashes never needs SQLite.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashcore.store.store import Change, LiveEntry, Store
    from hashcore.store.writer import StoreWriter, UpsertOutcome

__all__ = ["Change", "LiveEntry", "Store", "StoreWriter", "UpsertOutcome"]

_HOMES = {
    "Change": "hashcore.store.store",
    "LiveEntry": "hashcore.store.store",
    "Store": "hashcore.store.store",
    "StoreWriter": "hashcore.store.writer",
    "UpsertOutcome": "hashcore.store.writer",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
