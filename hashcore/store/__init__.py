"""Banks, entries and the index change log in SQLite (see :mod:`hashcore.store.schema`)."""

from hashcore.store.store import Change, LiveEntry, Store
from hashcore.store.writer import StoreWriter, UpsertOutcome

__all__ = ["Change", "LiveEntry", "Store", "StoreWriter", "UpsertOutcome"]
