"""How a bulk import reaches the indexes: once at its end, by a rebuild or a windowed replay.

The importer commits its batches without catching up; the last step brings every index to the
store's state. Whichever way that happens (rebuild from the store when most values changed,
replay in windows otherwise), the index must hold exactly the store's live values.
"""

from __future__ import annotations

import gc
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from hashcore import snapshots
from hashcore.engine import Engine
from hashcore.errors import HashcoreError
from hashcore.formats import get_format
from hashcore.formats.importer import fewer_gc_passes, import_updates
from hashcore.index.factory import create_index
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from hashcore.store.writer import Upsert


def feed(records: int, start: int = 0, deleted_every: int = 0) -> bytes:
    """A native-format feed; every ``deleted_every``-th record deletes instead."""
    lines = [json.dumps({"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}})]
    for n in range(start, start + records):
        deleted = deleted_every and n % deleted_every == 0
        signals = [
            {"type": "pdq", "hex": f"{n * 2654435761 % (1 << 256):064x}"},
            {"type": "md5", "hex": f"{n:032x}"},
        ]
        lines.append(
            json.dumps(
                {
                    "external_id": f"e{n}",
                    "status": "deleted" if deleted else "active",
                    "updated_at": 10.0 + start,
                    "signals": signals,
                }
            )
        )
    return "\n".join(lines).encode()


def run(engine: Engine, registry: SignalRegistry, data: bytes, batch_size: int = 40) -> None:
    items = get_format("hashcore", registry).read(io.BytesIO(data))
    import_updates(engine, "b", items, batch_size=batch_size)


def assert_index_is_store(engine: Engine) -> None:
    """Every family's index holds exactly the store's live values, under their ids."""
    for family, state in engine.indexes.states().items():
        assert state.seq == engine.store.last_seq()
        with engine.store.live_values(family) as (_, batches):
            live = [(i, v) for ids, values in batches for i, v in zip(ids, values, strict=True)]
        assert len(state.index) == len(live)
        if live:
            found = state.index.search([value for _, value in live], 0)
            for (value_id, _), hits in zip(live, found, strict=True):
                assert value_id in {hit.value_id for hit in hits}


@pytest.mark.parametrize("rebuild_min", [1, 10**9], ids=["rebuild", "replay"])
def test_import_catches_up_once_at_the_end(
    tmp_path: Path, registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch, rebuild_min: int
) -> None:
    monkeypatch.setattr(snapshots, "REBUILD_MIN", rebuild_min)
    with Engine(tmp_path, registry) as engine:
        engine.open_indexes()  # a serving engine's indexes: the import brings them up
        engine.create_bank("b")
        calls: list[int] = []
        catch_up = engine.indexes.catch_up
        monkeypatch.setattr(engine.indexes, "catch_up", lambda: calls.append(1) or catch_up())
        run(engine, registry, feed(300, deleted_every=7))
        assert calls == [1]  # 8 batches, one catch-up
        assert_index_is_store(engine)
        pdq = engine.indexes.states()["pdq"]
        assert pdq.replayed == (0 if rebuild_min == 1 else engine.store.last_seq() // 2)
        # A second import on top, partly over the same ids.
        run(engine, registry, feed(100, start=250, deleted_every=3))
        assert_index_is_store(engine)
        assert len(engine.lookup_signals([Signal("md5", (260).to_bytes(16, "big"))]).matches)


def test_replay_reads_in_windows(
    tmp_path: Path, registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Engine(tmp_path, registry) as engine:
        engine.open_indexes()
        engine.create_bank("b")
        run(engine, registry, feed(50))
        monkeypatch.setattr(snapshots, "REPLAY_WINDOW", 7)
        run(engine, registry, feed(30, start=20, deleted_every=2))
        assert engine.indexes.states()["md5"].replayed == engine.store.last_seq() // 2
        assert_index_is_store(engine)


def test_rebuild_at_open_matches_the_store(tmp_path: Path, registry: SignalRegistry) -> None:
    """Rebuilding adds fixed-width values as one array (``add_array``) for both index kinds."""
    with Engine(tmp_path, registry) as engine:
        engine.open_indexes()
        engine.create_bank("b")
        run(engine, registry, feed(120, deleted_every=5))
    shutil.rmtree(tmp_path / "indexes")
    with Engine(tmp_path, registry) as engine:
        assert {s.origin for s in engine.index_status().values()} == {"rebuilt"}
        assert_index_is_store(engine)


def test_fewer_gc_passes_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    with fewer_gc_passes(50_000):
        assert gc.get_threshold()[0] == max(50_000, before[0])
        with fewer_gc_passes(50_000):
            pass
        assert gc.get_threshold()[0] == max(50_000, before[0])  # the outer import still runs
    assert gc.get_threshold() == before


@pytest.mark.parametrize("table", ["signal_values", "entries"])
def test_exhausted_rowids_are_refused(tmp_path: Path, registry: SignalRegistry, table: str) -> None:
    """SQLite numbers new rows max + 1 except past rowid 2**63 - 1: the batch refuses then."""
    with Engine(tmp_path, registry) as engine:
        engine.create_bank("b")
        conn = sqlite3.connect(engine.store.path)
        if table == "entries":
            conn.execute(
                "INSERT INTO entries (id, bank_id, external_id, status, created_at, updated_at)"
                " VALUES (?, 1, 'top', 'deleted', 0, 0)",
                (2**63 - 1,),
            )
        else:
            conn.execute(
                "INSERT INTO signal_values (id, family, value) VALUES (?, 'md5', x'00')",
                (2**63 - 1,),
            )
        conn.commit()
        conn.close()
        with pytest.raises(HashcoreError, match="row ids exhausted"), engine.batch() as writer:
            writer.upsert_entries("b", [Upsert("a", [Signal("md5", bytes(16))])])


@pytest.mark.parametrize("family", ["pdq", "md5"])
def test_rebuild_adds_all_batches_as_one_array(registry: SignalRegistry, family: str) -> None:
    width = 32 if family == "pdq" else 16
    batches = [
        (
            list(range(start, start + 700)),
            [n.to_bytes(width, "big") for n in range(start, start + 700)],
        )
        for start in (1, 701, 1401)
    ]
    index = create_index(registry.get(family))
    snapshots._add_all(index, iter(batches))
    assert len(index) == 2100
    hits = index.search([(n).to_bytes(width, "big") for n in (1, 900, 2100)], 0)
    assert [[hit.value_id for hit in found] for found in hits] == [[1], [900], [2100]]
