"""``hashcore check``: a clean store passes; every kind of corruption we can inject is found
(exit 1) and ``--repair`` brings the store back to consistent (exit 0) without touching what
is not derived (banks, entries, statuses, signals)."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from crash_support import store_state
from server_support import ADMIN_TOKEN, ALICE_TOKEN, TOKENS, auth, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.check import check_store_dir
from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.index.factory import load_index
from hashcore.model import EntryStatus
from hashcore.opinions import NewOpinion, OpinionKind
from hashcore.opinions.api import LocalOpinions
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from hashcore.snapshots import INDEX_DIR, IndexState, read_manifest, write_snapshot
from hashcore.store import Store

DB = "hashcore.sqlite3"


def build_store(directory: Path, registry: SignalRegistry, entries: int = 60) -> None:
    """Two banks of random PDQ/pHash/MD5 entries, some withdrawn or deleted, snapshots written."""
    rng = random.Random(7)
    with Engine(directory, registry) as engine:
        for bank in ("a", "b"):
            engine.create_bank(bank)
            for n in range(entries):
                signals = [
                    Signal("md5", rng.randbytes(16)),
                    Signal("pdq", rng.randbytes(32), quality=100),
                    Signal("phash", rng.randbytes(8)),
                ]
                entry = engine.add_entry(bank, signals, external_id=f"{bank}{n}")
                if n % 7 == 3:
                    engine.remove_entries(bank, [entry.id])
                elif n % 11 == 5:
                    engine.set_entry_status(bank, entry.id, EntryStatus.WITHDRAWN)
        opinions = LocalOpinions(engine.store)  # the false-positive exceptions they derive
        for n, author in ((0, "ana"), (0, "ben"), (0, "ana"), (1, "ana")):
            content = (Signal("pdq", rng.randbytes(32)), Signal("md5", rng.randbytes(16)))
            opinions.record_opinion(
                NewOpinion("a", f"a{n}", OpinionKind.FALSE_POSITIVE, author, hashes=content)
            )
        opinions.record_opinion(NewOpinion("a", "a1", OpinionKind.CONFIRMED, "ana"))
        engine.compact()


def run_check(store: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["check", "--store", str(store), "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def failed(report: dict) -> set[str]:
    return {check["name"] for check in report["checks"] if not check["ok"]}


def sql(store: Path, statement: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(store / DB)
    try:
        with conn:
            return conn.execute(statement, args).fetchall()
    finally:
        conn.close()


def live_value(store: Path, family: str = "pdq") -> int:
    return int(
        sql(store, "SELECT id FROM signal_values WHERE family = ? AND refs > 0 LIMIT 1", family)[0][
            0
        ]
    )


def dead_value(store: Path, family: str = "pdq") -> tuple[int, bytes]:
    row = sql(store, "SELECT id, value FROM signal_values WHERE family = ? AND refs = 0", family)
    return int(row[0][0]), bytes(row[0][1])


def rewrite_snapshot(
    store: Path, registry: SignalRegistry, family: str, change: Callable[..., None]
) -> None:
    """Load a family's snapshot, change its index, write it back as a valid snapshot (right
    digests, right count): only a comparison with the store can tell."""
    root = store / "indexes"
    manifest = read_manifest(root / family)
    index = load_index(registry.get(family), root / family / INDEX_DIR)
    change(index)
    with Store(store) as opened:
        state = IndexState(family, index, int(manifest["seq"]), "snapshot")
        write_snapshot(state, opened, root)


def corrupt_bank_counts(store: Path, registry: SignalRegistry) -> None:
    sql(store, "UPDATE bank_counts SET count = count + 3 WHERE family = ''")


def corrupt_signal_counts(store: Path, registry: SignalRegistry) -> None:
    sql(store, "DELETE FROM bank_counts WHERE family = 'phash'")


def corrupt_family_counts(store: Path, registry: SignalRegistry) -> None:
    sql(store, "UPDATE family_counts SET live = live - 1 WHERE family = 'pdq'")


def corrupt_refs(store: Path, registry: SignalRegistry) -> None:
    sql(store, "UPDATE signal_values SET refs = refs + 1 WHERE id = ?", live_value(store))


def corrupt_refs_to_zero(store: Path, registry: SignalRegistry) -> None:
    sql(store, "UPDATE signal_values SET refs = 0 WHERE id = ?", live_value(store, "phash"))


def delete_change_row(store: Path, registry: SignalRegistry) -> None:
    sql(store, "DELETE FROM changes WHERE seq = (SELECT MAX(seq) / 2 FROM changes)")


def delete_last_change_row(store: Path, registry: SignalRegistry) -> None:
    sql(store, "DELETE FROM changes WHERE seq = (SELECT MAX(seq) FROM changes)")


def corrupt_snapshot_byte(store: Path, registry: SignalRegistry) -> None:
    path = store / "indexes" / "pdq" / INDEX_DIR / "codes.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40
    path.write_bytes(bytes(data))


def corrupt_snapshot_manifest(store: Path, registry: SignalRegistry) -> None:
    path = store / "indexes" / "md5" / "manifest.json"
    path.write_text(path.read_text()[:-20])


def drop_index_entry(store: Path, registry: SignalRegistry) -> None:
    value_id = live_value(store)
    rewrite_snapshot(store, registry, "pdq", lambda index: index.remove([value_id]))


def add_dead_value(store: Path, registry: SignalRegistry) -> None:
    value_id, value = dead_value(store, "phash")
    rewrite_snapshot(store, registry, "phash", lambda index: index.add([value_id], [value]))


def swap_live_for_dead(store: Path, registry: SignalRegistry) -> None:
    """One live value out, one dead value in: the count still agrees with the store."""
    live = live_value(store)
    dead, value = dead_value(store)

    def change(index: object) -> None:
        index.remove([live])  # type: ignore[attr-defined]
        index.add([dead], [value])  # type: ignore[attr-defined]

    rewrite_snapshot(store, registry, "pdq", change)


def change_indexed_hash(store: Path, registry: SignalRegistry) -> None:
    value_id = live_value(store, "md5")
    rewrite_snapshot(store, registry, "md5", lambda index: index.add([value_id], [b"\x01" * 16]))


def delete_exception_rows(store: Path, registry: SignalRegistry) -> None:
    """The exception rows lost (a hand edit, a bad restore): set-aside matches would return."""
    with sqlite3.connect(store / DB) as conn:
        assert conn.execute("DELETE FROM match_exceptions").rowcount == 6  # ana 2+2, ben 2


def add_stray_exception(store: Path, registry: SignalRegistry) -> None:
    """An exception for the false positive ana took back by confirming the entry."""
    with sqlite3.connect(store / DB) as conn:
        opinion_id, entry_id = conn.execute(
            "SELECT o.id, o.entry_id FROM opinions o JOIN entries e ON e.id = o.entry_id"
            " WHERE e.external_id = 'a1' AND o.kind = 'false_positive'"
        ).fetchone()
        conn.execute(
            "INSERT INTO match_exceptions (entry_id, family, value, opinion_id)"
            " VALUES (?, ?, ?, ?)",
            (entry_id, "pdq", b"\x07" * 32, opinion_id),
        )


CORRUPTIONS = {
    "bank_counts": (corrupt_bank_counts, {"bank_counts"}),
    "signal_counts": (corrupt_signal_counts, {"bank_counts"}),
    "family_counts": (corrupt_family_counts, {"family_counts"}),
    "refs": (corrupt_refs, {"refs"}),
    # A live value counted dead: the recounted live values disagree with the counter too.
    "refs_to_zero": (corrupt_refs_to_zero, {"refs", "changes", "family_counts"}),
    "change_row": (delete_change_row, {"changes"}),
    "last_change_row": (delete_last_change_row, {"changes"}),
    "snapshot_byte": (corrupt_snapshot_byte, {"index:pdq"}),
    "snapshot_manifest": (corrupt_snapshot_manifest, {"index:md5"}),
    "index_entry_removed": (drop_index_entry, {"index:pdq"}),
    "dead_value_in_index": (add_dead_value, {"index:phash"}),
    "live_swapped_for_dead": (swap_live_for_dead, {"index:pdq"}),
    "indexed_hash_changed": (change_indexed_hash, {"index:md5"}),
    "exceptions_lost": (delete_exception_rows, {"exceptions"}),
    "exception_stray": (add_stray_exception, {"exceptions"}),
}


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory: pytest.TempPathFactory, registry: SignalRegistry) -> Path:
    directory = tmp_path_factory.mktemp("clean") / "store"
    build_store(directory, registry)
    return directory


def exceptions(store: Path) -> set[tuple[str, str, str, str]]:
    with sqlite3.connect(store / DB) as conn:
        rows = conn.execute(
            "SELECT e.external_id, x.family, hex(x.value), o.author FROM match_exceptions x"
            " JOIN entries e ON e.id = x.entry_id JOIN opinions o ON o.id = x.opinion_id"
        ).fetchall()
    return set(rows)


def copy_store(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def test_clean_store_passes(
    clean_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = copy_store(clean_store, tmp_path / "store")
    code, report = run_check(store, capsys=capsys)
    assert code == 0, report
    assert report["ok"] and not failed(report)
    names = {check["name"] for check in report["checks"]}
    assert {"integrity", "unique", "bank_counts", "family_counts", "refs", "changes"} <= names
    assert "exceptions" in names
    assert "index:pdq" in names
    pdq = next(check for check in report["checks"] if check["name"] == "index:pdq")
    assert "sha256 verified" in pdq["detail"]
    assert main(["check", "--store", str(store)]) == 0
    text = capsys.readouterr().out
    assert "consistent" in text and "index:pdq: ok" in text


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corruption_is_found_and_repaired(
    kind: str,
    clean_store: Path,
    tmp_path: Path,
    registry: SignalRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = copy_store(clean_store, tmp_path / "store")
    before = store_state(store)
    corrupt, expected = CORRUPTIONS[kind]
    corrupt(store, registry)
    code, report = run_check(store, capsys=capsys)
    assert code == 1, report
    assert expected <= failed(report), report
    assert all(check["examples"] for check in report["checks"] if not check["ok"]), (
        "every failed check quotes an example"
    )
    code, report = run_check(store, "--repair", capsys=capsys)
    assert code == 0, report
    assert expected <= {c["name"] for c in report["before_repair"] if not c["ok"]}
    assert report["repaired"]
    code, report = run_check(store, capsys=capsys)
    assert code == 0, report
    assert store_state(store) == before  # the record itself is untouched
    assert exceptions(store) == exceptions(clean_store)  # derived: rebuilt as they were
    with Engine(store, registry) as engine:  # and the repaired store matches as before
        entry = engine.store.find_entry("a", "a0")
        assert engine.lookup_signals(entry.signals).matches[0].entry_id == entry.id


def test_change_log_repair_retires_old_snapshots(
    clean_store: Path, tmp_path: Path, registry: SignalRegistry
) -> None:
    """After a hole in the log, snapshots built on the old log are not trusted again."""
    store = copy_store(clean_store, tmp_path / "store")
    delete_change_row(store, registry)
    old_id = read_manifest(store / "indexes" / "pdq")["store_id"]
    report = check_store_dir(store, registry, repair=True)
    assert report.ok and "changes" in report.repaired
    assert read_manifest(store / "indexes" / "pdq")["store_id"] != old_id
    with Engine(store, registry) as engine:
        assert all(
            state.origin == "snapshot" for state in engine.index_status().values() if state.values
        )


def test_missing_store_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--store", str(tmp_path / "none")]) == 2
    assert "no store" in capsys.readouterr().err


def test_unreadable_store_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / DB).write_bytes(b"this is not a database" * 100)
    assert main(["check", "--store", str(tmp_path)]) == 2


def test_grpc_check_for_star_admin_only(tmp_path: Path, registry: SignalRegistry) -> None:
    with running_server(tmp_path, tokens=TOKENS) as srv:
        _, banks = srv.stubs()
        admin = auth(ADMIN_TOKEN)
        banks.CreateBank(pb.CreateBankRequest(name="alice-bank"), timeout=10, metadata=admin)
        new = pb.NewEntry(signals=[pb.Signal(type="pdq", value=bytes(range(32)))])
        banks.AddSignals(
            pb.AddSignalsRequest(bank="alice-bank", entries=[new]), timeout=10, metadata=admin
        )
        reply = banks.Check(pb.CheckRequest(), timeout=60, metadata=admin)
        assert reply.ok, reply
        names = {result.name for result in reply.results}
        assert {"refs", "changes", "loaded:pdq"} <= names
        with pytest.raises(grpc.RpcError) as denied:
            banks.Check(pb.CheckRequest(), timeout=10, metadata=auth(ALICE_TOKEN))
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as denied:
            banks.Check(pb.CheckRequest(repair=True), timeout=10, metadata=auth(ALICE_TOKEN))
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        # A corrupted derived count is found and repaired through the server, loaded
        # indexes included.
        sql(srv.store, "UPDATE bank_counts SET count = count + 5")
        sql(srv.store, "UPDATE signal_values SET refs = refs + 1")
        reply = banks.Check(pb.CheckRequest(), timeout=60, metadata=admin)
        assert not reply.ok
        assert {"bank_counts", "refs"} <= {r.name for r in reply.results if r.problems}
        reply = banks.Check(pb.CheckRequest(repair=True), timeout=60, metadata=admin)
        assert reply.ok, reply
        assert reply.repair and {"bank_counts", "refs"} <= set(reply.repaired)
        assert any(r.problems for r in reply.before_repair)


def test_grpc_check_finds_a_loaded_index_gone_wrong(tmp_path: Path) -> None:
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        new = pb.NewEntry(signals=[pb.Signal(type="pdq", value=bytes(range(32)))])
        entry = banks.AddSignals(pb.AddSignalsRequest(bank="b", entries=[new]), timeout=10)
        assert srv.engine is not None
        value_id = sql(srv.store, "SELECT id FROM signal_values WHERE family = 'pdq'")[0][0]
        srv.engine.indexes.states()["pdq"].index.remove([value_id])
        reply = banks.Check(pb.CheckRequest(), timeout=60)
        assert not reply.ok and "loaded:pdq" in {r.name for r in reply.results if r.problems}
        reply = banks.Check(pb.CheckRequest(repair=True), timeout=60)
        assert reply.ok, reply
        query = pb.LookupRequest(signals=pb.SignalList(signals=list(new.signals)))
        matching, _ = srv.stubs()
        found = matching.Lookup(query, timeout=10)
        assert [m.entry_id for m in found.matches] == [entry.entries[0].id]


def test_cli_check_through_the_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        assert main(["check", "--server", srv.address, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] and any(c["name"] == "loaded:pdq" for c in report["checks"])


def test_a_similarity_index_says_what_it_checked(tmp_path: Path, registry: SignalRegistry) -> None:
    """TMK and vPDQ indexes have no exact search: their line said "0 found by search", which
    reads as every value missing. It says what was checked instead."""
    from hashcore_vpdq import VpdqFeature

    reference = Path(__file__).resolve().parents[1] / "plugins" / "vpdq" / "tests" / "data"
    feature = VpdqFeature.read_reference(reference / "doorknob-hd-no-bar.txt")
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("videos")
        value = registry.get("vpdq").parse(feature.to_json())
        engine.add_entry("videos", [Signal("vpdq", value)], external_id="clip")
        engine.compact()
    report = check_store_dir(tmp_path / "store", registry)
    [vpdq] = [r for r in report.results if r.name == "index:vpdq"]
    assert vpdq.ok and vpdq.detail.endswith(
        "1 live values (ids checked; no exact search for scores)"
    )
