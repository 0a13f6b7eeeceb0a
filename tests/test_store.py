"""The SQLite store on its own: banks, entries, value sharing, the change log, upserts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashcore.errors import AlreadyExists, InvalidInput, NotFound
from hashcore.model import BankSettings, EntryStatus
from hashcore.signals import Signal
from hashcore.store import Store, UpsertOutcome
from hashcore.store.writer import Upsert

PDQ_A = Signal("pdq", bytes(range(32)))
PDQ_B = Signal("pdq", bytes(range(1, 33)))
MD5_A = Signal("md5", bytes(16))


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store") as opened:
        with opened.transaction() as writer:
            writer.create_bank("alpha", BankSettings(labels=("ncmec", "csem"), source="ncmec"))
            writer.create_bank("beta", BankSettings(thresholds={"pdq": 20}))
        yield opened


def _ops(store: Store, family: str) -> list[tuple[int, str]]:
    return [(c.value_id, c.op) for c in store.changes_since(family, 0, store.last_seq())]


def test_banks_round_trip(store: Store) -> None:
    alpha = store.get_bank("alpha")
    assert alpha.labels == ("csem", "ncmec") and alpha.source == "ncmec" and alpha.enabled
    assert store.get_bank("beta").thresholds == {"pdq": 20.0}
    assert [bank.name for bank in store.list_banks()] == ["alpha", "beta"]
    with pytest.raises(AlreadyExists), store.transaction() as writer:
        writer.create_bank("alpha")
    with pytest.raises(NotFound):
        store.get_bank("gamma")


def test_shared_value_is_stored_once_and_logged_once(store: Store) -> None:
    with store.transaction() as writer:
        first = writer.add_entry("alpha", [PDQ_A, MD5_A], labels=["ncmec:A1"])
        second = writer.add_entry("beta", [PDQ_A])
    assert first.external_id != second.external_id  # generated
    assert first.labels == ("ncmec:A1",) and {s.type for s in first.signals} == {"pdq", "md5"}
    assert _ops(store, "pdq") == [(1, "add")]
    live = store.live_entries([1])
    assert sorted((item.bank, item.entry_id) for item in live) == [
        ("alpha", first.id),
        ("beta", second.id),
    ]
    # Withdrawing one holder keeps the value live; removing the last one logs a removal.
    with store.transaction() as writer:
        writer.set_entry_status("alpha", first.id, EntryStatus.WITHDRAWN)
    assert _ops(store, "pdq") == [(1, "add")]
    assert [item.bank for item in store.live_entries([1])] == ["beta"]
    with store.transaction() as writer:
        assert writer.remove_entries("beta", [second.id]) == 1
        assert writer.remove_entries("beta", [second.id]) == 0
    assert _ops(store, "pdq") == [(1, "add"), (1, "remove")]
    assert store.get_entry("beta", second.id).status is EntryStatus.DELETED
    with store.live_values("pdq") as (seq, batches):
        assert list(batches) == [] and seq == store.last_seq()


def test_failed_transaction_changes_nothing(store: Store) -> None:
    with pytest.raises(NotFound), store.transaction() as writer:
        writer.add_entry("alpha", [PDQ_A], external_id="x")
        writer.add_entry("nope", [PDQ_B])
    with pytest.raises(NotFound):
        store.find_entry("alpha", "x")
    assert store.last_seq() == 0


def test_duplicate_external_id_and_bad_input(store: Store) -> None:
    with store.transaction() as writer:
        writer.add_entry("alpha", [PDQ_A], external_id="x")
    with pytest.raises(AlreadyExists), store.transaction() as writer:
        writer.add_entry("alpha", [PDQ_B], external_id="x")
    with pytest.raises(InvalidInput), store.transaction() as writer:
        writer.add_entry("alpha", [Signal("pdq", PDQ_B.value, quality=10, usable=False)])
    with pytest.raises(NotFound), store.transaction() as writer:
        writer.remove_entries("alpha", [999])


def test_upsert_outcomes_and_checkpoint(store: Store) -> None:
    with store.transaction() as writer:
        added = writer.upsert_entry("alpha", "n1", [PDQ_A], labels=["csem"])
        same = writer.upsert_entry("alpha", "n1", [PDQ_A], labels=["csem"])
        writer.set_checkpoint("alpha", "ncmec", "cursor-1")
        assert writer.get_checkpoint("alpha", "ncmec") == "cursor-1"
    assert (added, same) == (UpsertOutcome.ADDED, UpsertOutcome.UNCHANGED)
    assert store.get_checkpoint("alpha", "ncmec") == "cursor-1"
    with store.transaction() as writer:
        changed = writer.upsert_entry("alpha", "n1", [PDQ_B, MD5_A], labels=["csem"])
    assert changed is UpsertOutcome.UPDATED
    entry = store.find_entry("alpha", "n1")
    assert {s.value for s in entry.signals} == {PDQ_B.value, MD5_A.value}
    assert _ops(store, "pdq") == [(1, "add"), (1, "remove"), (2, "add")]
    with store.transaction() as writer:
        gone = writer.upsert_entry("alpha", "n1", [PDQ_B], status=EntryStatus.DELETED)
        never = writer.upsert_entry("alpha", "n2", [PDQ_A], status=EntryStatus.DELETED)
    assert (gone, never) == (UpsertOutcome.UPDATED, UpsertOutcome.NOT_HELD)
    assert store.live_state("pdq") == (store.last_seq(), 0)
    assert store.live_state("md5")[1] == 0


def test_checkpoint_rolls_back_with_its_batch(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as writer:
        writer.upsert_entry("alpha", "n1", [PDQ_A])
        writer.set_checkpoint("alpha", "ncmec", "cursor-2")
        raise RuntimeError("network died mid-batch")
    assert store.get_checkpoint("alpha", "ncmec") is None
    with pytest.raises(NotFound):
        store.find_entry("alpha", "n1")


def test_bank_infos_count_active_signals(store: Store) -> None:
    with store.transaction() as writer:
        writer.add_entry("alpha", [PDQ_A, MD5_A])
        gone = writer.add_entry("alpha", [PDQ_B])
        writer.set_entry_status("alpha", gone.id, EntryStatus.WITHDRAWN)
    info = {i.bank.name: i for i in store.bank_infos()}
    assert info["alpha"].entries == 1
    assert dict(info["alpha"].signals_per_family) == {"md5": 1, "pdq": 1}
    assert info["beta"].entries == 0


def test_reopen_keeps_store_id(tmp_path: Path) -> None:
    with Store(tmp_path) as first:
        store_id = first.store_id
    with Store(tmp_path) as second:
        assert second.store_id == store_id


def test_live_values_come_in_batches(store: Store) -> None:
    with store.transaction() as writer:
        for n in range(5):
            writer.add_entry("alpha", [Signal("pdq", bytes([n]) * 32)])
    with store.live_values("pdq", batch=2) as (seq, batches):
        sizes = [len(ids) for ids, values in batches]
    assert sizes == [2, 2, 1] and seq == store.last_seq() == 5


def test_remove_entries_is_set_based(store: Store) -> None:
    """Removing N entries costs a few statements per hundreds of entries, never one (or a
    dozen) per entry: 1,000 removals of entries with a value each stay under 50 statements."""
    count = 1000
    records = [Upsert(f"e{n}", [Signal("pdq", n.to_bytes(32, "big"))]) for n in range(count)]
    with store.transaction() as writer:
        writer.upsert_entries("alpha", records)
    statements: list[str] = []
    with store.transaction() as writer:
        store._writer.set_trace_callback(statements.append)  # the writer's own connection
        try:
            assert writer.remove_entries("alpha", range(1, count + 1)) == count
        finally:
            store._writer.set_trace_callback(None)
    # a trigger (the bank log's) reports its statement again each time it fires
    issued = [s for n, s in enumerate(statements) if n == 0 or s != statements[n - 1]]
    assert len(issued) < 50, len(issued)
    assert _ops(store, "pdq")[count:] == [(n, "remove") for n in range(1, count + 1)]
    assert store.bank_infos(["alpha"])[0].entries == 0


def test_version_3_store_gains_bank_priority_and_plain_counts(tmp_path: Path) -> None:
    """A store from before bank priorities opens with every bank unset, its counts recounted
    to the file's own hashes (v3 counted derived pictures' too), and nothing else moved."""
    import sqlite3

    from hashcore.store.schema import SCHEMA_VERSION

    with Store(tmp_path) as store, store.transaction() as writer:
        writer.create_bank("old", BankSettings(labels=("x",), thresholds={"pdq": 20}))
        plain, trimmed = Signal("pdq", bytes(32)), Signal("pdq", bytes([7]) * 32, variant="trimmed")
        writer.add_entry("old", [Signal("md5", bytes(16)), plain, trimmed], external_id="e")
    conn = sqlite3.connect(tmp_path / "hashcore.sqlite3")
    conn.execute("UPDATE bank_counts SET count = 2 WHERE family = 'pdq'")  # as v3 counted
    conn.execute("ALTER TABLE banks DROP COLUMN priority")
    conn.execute("PRAGMA user_version=3")
    conn.commit()
    conn.close()
    with Store(tmp_path) as store:
        [info] = store.bank_infos()
        assert (info.bank.priority, info.bank.labels, dict(info.bank.thresholds)) == (
            None, ("x",), {"pdq": 20.0}
        )  # fmt: skip
        assert info.entries == 1 and dict(info.signals_per_family) == {"md5": 1, "pdq": 1}
        with store.transaction() as writer:
            assert writer.set_bank_priority("old", 3).priority == 3
            with pytest.raises(InvalidInput, match="priority must be 1"):
                writer.set_bank_priority("old", 0)
    conn = sqlite3.connect(tmp_path / "hashcore.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    conn.close()


def test_families_skip_scan_equals_distinct(tmp_path: Path) -> None:
    """``Store.families`` probes the (family, value) index once per family; same answer as a
    ``SELECT DISTINCT`` over every value, including for an empty store."""
    import sqlite3

    with Store(tmp_path) as store:
        assert store.families() == []
        with store.transaction() as writer:
            writer.create_bank("b")
            for n in range(50):
                signals = [Signal("md5", n.to_bytes(16, "big")), Signal("pdq", bytes([n]) * 32)]
                writer.add_entry("b", signals if n % 2 else signals[:1])
            writer.add_entry("b", [Signal("phash", bytes(8))])
        found = store.families()
    conn = sqlite3.connect(tmp_path / "hashcore.sqlite3")
    distinct = [
        row[0] for row in conn.execute("SELECT DISTINCT family FROM signal_values ORDER BY 1")
    ]
    conn.close()
    assert found == distinct == ["md5", "pdq", "phash"]


def test_version_4_store_counts_its_live_values(tmp_path: Path) -> None:
    """Version 5 keeps each family's live values counted (an index opening reads the counter
    instead of counting); a v4 store gets the counter from a recount, and writes move it."""
    import sqlite3

    with Store(tmp_path) as store, store.transaction() as writer:
        writer.create_bank("b")
        for n in range(7):
            writer.add_entry("b", [Signal("md5", n.to_bytes(16, "big"))], external_id=f"e{n}")
    conn = sqlite3.connect(tmp_path / "hashcore.sqlite3")
    conn.execute("DELETE FROM family_counts")
    conn.execute("PRAGMA user_version=4")
    conn.commit()
    conn.close()
    with Store(tmp_path) as store:
        assert store.live_state("md5")[1] == 7 and store.live_state("pdq")[1] == 0
        with store.transaction() as writer:
            entry = writer.add_entry("b", [Signal("md5", bytes(16))], external_id="dup")  # shared
            writer.remove_entries("b", [entry.id])
            writer.set_entry_status("b", 1, EntryStatus.WITHDRAWN)
        assert store.live_state("md5")[1] == 6
