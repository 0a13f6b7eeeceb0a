"""Bank sizes kept in ``bank_counts`` by the writer, against counting from scratch.

Listing banks reads these rows instead of scanning every entry, so they must stay exactly what
:data:`~hashcore.store.schema.RECOUNT_SQL` computes through every kind of write, a rolled-back
transaction, and the migration of a version 1 store. Every kind of write is also checked
against ``hashcore check``'s recount of ``refs`` and the change log.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashcore.errors import HashcoreError
from hashcore.model import EntryStatus
from hashcore.signals import Signal
from hashcore.store import Store
from hashcore.store.schema import RECOUNT_SQL, SCHEMA_VERSION
from hashcore.store.writer import Upsert
from tests.store_model import assert_recounts

BANKS = ["alpha", "beta"]
SIGNALS = [
    *(Signal("pdq", bytes([n]) * 32) for n in range(3)),
    *(Signal("md5", bytes([n]) * 16) for n in range(2)),
]
STATUSES = list(EntryStatus)


def counted(store: Store) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(
            "SELECT bank_id, family, count FROM bank_counts WHERE count != 0 ORDER BY 1, 2"
        ).fetchall()
    finally:
        conn.close()


def recounted(store: Store) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(f"SELECT * FROM ({RECOUNT_SQL}) ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


def new_store(path: Path) -> Store:
    store = Store(path)
    with store.transaction() as writer:
        for bank in BANKS:
            writer.create_bank(bank)
    return store


signal_lists = st.lists(st.sampled_from(SIGNALS), min_size=1, max_size=3)
operations = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(BANKS), signal_lists, st.sampled_from(STATUSES)),
    st.tuples(
        st.just("upsert"),
        st.sampled_from(BANKS),
        st.lists(
            st.tuples(st.sampled_from("abcd"), signal_lists, st.sampled_from(STATUSES)),
            min_size=1,
            max_size=4,
        ),
    ),
    st.tuples(st.just("status"), st.integers(1, 12), st.sampled_from(STATUSES)),
    st.tuples(st.just("remove"), st.lists(st.integers(1, 12), max_size=3)),
)


def apply(store: Store, operation: tuple[Any, ...]) -> None:
    """One operation in its own transaction; refused ones (unknown entry) change nothing."""
    kind, *args = operation
    try:
        with store.transaction() as writer:
            if kind == "add":
                bank, signals, status = args
                writer.add_entry(bank, signals, status=status)
            elif kind == "upsert":
                bank, records = args
                updates = [Upsert(key, sigs, status=status) for key, sigs, status in records]
                writer.upsert_entries(bank, updates)
            elif kind == "status":
                entry_id, status = args
                bank = _bank_of(store, entry_id)
                if bank is not None:
                    writer.set_entry_status(bank, entry_id, status)
            else:
                for bank in BANKS:
                    writer.remove_entries(bank, [i for i in args[0] if _bank_of(store, i) == bank])
    except HashcoreError:
        pass


def _bank_of(store: Store, entry_id: int) -> str | None:
    conn = sqlite3.connect(store.path)
    try:
        row = conn.execute(
            "SELECT b.name FROM entries e JOIN banks b ON b.id = e.bank_id WHERE e.id = ?",
            (entry_id,),
        ).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(operations, min_size=1, max_size=12))
def test_counts_follow_every_write(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[Any, ...]]
) -> None:
    with new_store(tmp_path_factory.mktemp("counts")) as store:
        for operation in ops:
            apply(store, operation)
            assert counted(store) == recounted(store), operation
            assert_recounts(store)


def test_bank_infos_read_the_counts(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        with store.transaction() as writer:
            writer.add_entry("alpha", SIGNALS[:2] + SIGNALS[3:4], external_id="x")
            writer.add_entry("alpha", SIGNALS[:1], external_id="y", status=EntryStatus.WITHDRAWN)
            writer.upsert_entry("beta", "z", SIGNALS[4:])
        infos = {info.bank.name: info for info in store.bank_infos()}
        assert (infos["alpha"].entries, infos["alpha"].signals_per_family) == (
            1,
            {"pdq": 2, "md5": 1},
        )
        assert (infos["beta"].entries, infos["beta"].signals_per_family) == (1, {"md5": 1})
        assert [info.bank.name for info in store.bank_infos(["beta"])] == ["beta"]


def test_rolled_back_transaction_counts_nothing(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        with pytest.raises(RuntimeError), store.transaction() as writer:
            writer.add_entry("alpha", SIGNALS[:2])
            raise RuntimeError("fails before commit")
        assert counted(store) == [] == recounted(store)


V1_ENTRY_SIGNALS = """
CREATE TABLE entry_signals_v1 (
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    value_id INTEGER NOT NULL REFERENCES signal_values(id),
    quality INTEGER,
    PRIMARY KEY (entry_id, value_id)
);
INSERT INTO entry_signals_v1 SELECT entry_id, value_id, quality FROM entry_signals;
DROP TABLE entry_signals;
ALTER TABLE entry_signals_v1 RENAME TO entry_signals;
CREATE INDEX entry_signals_value ON entry_signals (value_id);
DROP TABLE bank_counts;
PRAGMA user_version = 1;
"""
"""Turns a store back into its version 1 shape: rowid ``entry_signals``, no ``bank_counts``."""


def test_version_1_store_is_migrated(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        with store.transaction() as writer:
            for n in range(5):
                writer.add_entry(BANKS[n % 2], SIGNALS[n : n + 2], external_id=f"e{n}")
            writer.set_entry_status("alpha", 1, EntryStatus.DELETED)
        signals_before = _entry_signals(store.path)
        expected = recounted(store)
    conn = sqlite3.connect(store.path)
    conn.executescript(V1_ENTRY_SIGNALS)
    conn.close()
    assert "WITHOUT ROWID" not in _table_sql(store.path, "entry_signals")

    with Store(tmp_path) as store:
        assert counted(store) == expected
        assert _entry_signals(store.path) == signals_before
        assert "WITHOUT ROWID" in _table_sql(store.path, "entry_signals")
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        indexes = conn.execute("PRAGMA index_list(entry_signals)").fetchall()
        conn.close()
        assert "entry_signals_value" in {row[1] for row in indexes}
        with store.transaction() as writer:
            writer.add_entry("beta", SIGNALS[:1])
        assert counted(store) == recounted(store)


def _entry_signals(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM entry_signals ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


def _table_sql(path: Path, table: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(
            conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        )
    finally:
        conn.close()
