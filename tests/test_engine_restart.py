"""Restarts: snapshots tagged with a change sequence, replay of later changes, rebuilds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from engine_support import pdq, random_pdq, registry

from hashcore.engine import Engine
from hashcore.signals import Signal
from hashcore.store import Store


def open_engine(directory: Path) -> Engine:
    """An engine with its indexes open, as a server has them: what these tests restart."""
    engine = Engine(directory, registry())
    engine.open_indexes()
    return engine


def add_values(directory: Path, bank: str, seeds: range) -> list[int]:
    """Entries written by another process (a bare store), as an importer would."""
    with Store(directory) as store, store.transaction() as writer:
        return [writer.add_entry(bank, [pdq(random_pdq(seed))]).id for seed in seeds]


def matched(engine: Engine, seed: int) -> bool:
    return engine.lookup_signals([pdq(random_pdq(seed))]).matched


def test_restart_keeps_adds_and_removes(tmp_path: Path) -> None:
    with open_engine(tmp_path) as engine:
        engine.create_bank("b")
        kept = engine.add_entry("b", [pdq(random_pdq(1))])
        gone = engine.add_entry("b", [pdq(random_pdq(2))])
    with open_engine(tmp_path) as engine:
        state = engine.indexes.states()["pdq"]
        assert (state.origin, state.replayed) == ("snapshot", 0)  # written on close
        assert matched(engine, 1) and matched(engine, 2)
        engine.remove_entries("b", [gone.id])
    with open_engine(tmp_path) as engine:
        assert matched(engine, 1) and not matched(engine, 2)
        assert engine.get_entry("b", kept.id).bank == "b"


def test_restart_replays_only_changes_after_the_snapshot(tmp_path: Path) -> None:
    with open_engine(tmp_path) as engine:
        engine.create_bank("b")
        for seed in range(5):
            engine.add_entry("b", [pdq(random_pdq(seed))])
        engine.compact()
        snapshot_seq = engine.indexes.states()["pdq"].seq
    later = add_values(tmp_path, "b", range(5, 8))
    with Store(tmp_path) as store, store.transaction() as writer:
        writer.remove_entries("b", [later[0]])
    with open_engine(tmp_path) as engine:
        state = engine.indexes.states()["pdq"]
        assert state.origin == "snapshot"
        assert state.snapshot_seq == snapshot_seq
        assert state.replayed == 4  # three adds and one removal, nothing before the snapshot
        assert len(state.index) == 7
        assert [matched(engine, seed) for seed in range(8)] == [True] * 5 + [False, True, True]


def test_writes_from_another_process_reach_the_next_lookup(tmp_path: Path) -> None:
    with open_engine(tmp_path) as engine:
        engine.create_bank("b")
        assert not matched(engine, 9)
        add_values(tmp_path, "b", range(9, 10))
        assert matched(engine, 9)


def snapshot_files(directory: Path) -> list[Path]:
    return sorted(p for p in (directory / "indexes" / "pdq").rglob("*") if p.is_file())


@pytest.mark.parametrize("damage", ["truncate", "manifest_seq", "manifest_count", "garbage"])
def test_damaged_snapshot_is_rebuilt_from_the_store(tmp_path: Path, damage: str) -> None:
    with open_engine(tmp_path) as engine:
        engine.create_bank("b")
        for seed in range(3):
            engine.add_entry("b", [pdq(random_pdq(seed))])
    manifest_path = tmp_path / "indexes" / "pdq" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if damage == "truncate":
        for path in snapshot_files(tmp_path):
            if path.suffix == ".npy":
                path.write_bytes(path.read_bytes()[:-7])
    elif damage == "manifest_seq":
        manifest["seq"] += 100
        manifest_path.write_text(json.dumps(manifest))
    elif damage == "manifest_count":
        manifest["count"] = 2
        manifest_path.write_text(json.dumps(manifest))
    else:
        manifest_path.write_text("{not json")
    with open_engine(tmp_path) as engine:
        state = engine.indexes.states()["pdq"]
        assert state.origin == "rebuilt"
        assert len(state.index) == 3
        assert all(matched(engine, seed) for seed in range(3))
    with open_engine(tmp_path) as engine:  # the rebuilt index was snapshotted on close
        assert engine.indexes.states()["pdq"].origin == "snapshot"


def test_snapshot_of_another_store_is_not_trusted(tmp_path: Path) -> None:
    for name, seeds in (("one", range(0, 3)), ("two", range(3, 6))):
        with open_engine(tmp_path / name) as engine:
            engine.create_bank("b")
            for seed in seeds:
                engine.add_entry("b", [pdq(random_pdq(seed))])
    (tmp_path / "two" / "indexes" / "pdq").rename(tmp_path / "two-pdq")
    (tmp_path / "one" / "indexes" / "pdq").rename(tmp_path / "two" / "indexes" / "pdq")
    with open_engine(tmp_path / "two") as engine:
        assert engine.indexes.states()["pdq"].origin == "rebuilt"
        assert [matched(engine, seed) for seed in range(6)] == [False] * 3 + [True] * 3


def test_unchanged_family_is_not_rewritten(tmp_path: Path) -> None:
    with open_engine(tmp_path) as engine:
        engine.create_bank("b")
        engine.add_entry("b", [pdq(random_pdq(1))])
    before = (tmp_path / "indexes" / "pdq" / "manifest.json").read_text()
    with open_engine(tmp_path) as engine:
        engine.add_entry("b", [Signal("md5", bytes(16))])
    assert (tmp_path / "indexes" / "pdq" / "manifest.json").read_text() == before
    assert (tmp_path / "indexes" / "md5" / "manifest.json").exists()


def test_background_compaction_writes_snapshots(tmp_path: Path) -> None:
    engine = Engine(tmp_path, registry(), compact_interval=0.05)
    try:
        engine.create_bank("b")
        engine.add_entry("b", [pdq(random_pdq(1))])
        for _ in range(200):
            if not engine.indexes.states()["pdq"].dirty:
                break
            time.sleep(0.02)
        assert (tmp_path / "indexes" / "pdq" / "manifest.json").exists()
    finally:
        engine.close()
