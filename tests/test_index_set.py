"""Indexes open on first use: admin verbs read none, concurrent first lookups open each once.

The engine's :class:`~hashcore.index_set.IndexSet` opens a family's index the first time a
lookup, a status, a check or a compaction needs it. Verbs that only write the store must not
load or rebuild any index (on a 1M bank that is seconds per verb), and the lazily opened
indexes must answer exactly what indexes opened up front answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from engine_support import pdq, random_pdq
from server_support import running_server

from hashcore import index_set, snapshots
from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.model import EntryStatus, LookupResult
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal, SignalType
from hashcore.store import Store

SEEDS = range(40)


def md5(seed: int) -> Signal:
    return Signal("md5", seed.to_bytes(16, "big"))


def snapshotted_store(directory: Path, registry: SignalRegistry) -> Path:
    """A store whose every family has a snapshot on disk (written by a warm engine)."""
    with Engine(directory, registry) as engine:
        engine.open_indexes()
        engine.create_bank("b")
        for seed in SEEDS:
            engine.add_entry("b", [pdq(random_pdq(seed)), md5(seed)], external_id=f"e{seed}")
    return directory


def index_files(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under the store's ``indexes/``: modification time and content."""
    return {
        str(path.relative_to(directory)): (path.stat().st_mtime_ns, path.read_bytes())
        for path in sorted((directory / "indexes").rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each family's index was opened (loaded or rebuilt) from now on."""
    counts: Counter[str] = Counter()
    real = index_set.open_index

    def counting(store: Store, signal_type: SignalType, root: Path) -> snapshots.IndexState:
        counts[signal_type.name] += 1
        time.sleep(0.05)  # widen the window in which concurrent first lookups could race
        return real(store, signal_type, root)

    monkeypatch.setattr(index_set, "open_index", counting)
    return counts


def feed_file(path: Path, seeds: range) -> Path:
    lines = [json.dumps({"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}})]
    lines += [
        json.dumps(
            {
                "external_id": f"f{seed}",
                "status": "active",
                "signals": [{"type": "md5", "hex": f"{seed + 1000:032x}"}],
            }
        )
        for seed in seeds
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_admin_verbs_open_no_index(
    tmp_path: Path,
    registry: SignalRegistry,
    opens: Counter[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = str(snapshotted_store(tmp_path / "store", registry))
    opens.clear()
    before = index_files(tmp_path / "store")
    feed = feed_file(tmp_path / "feed.jsonl", range(30))
    verbs = [
        ["bank", "create", "new", "--label", "x"],
        ["bank", "list"],
        ["bank", "import", "imported", "--create", "--format", "hashcore", str(feed)],
        ["bank", "disable", "new"],
        ["bank", "remove", "b", "1"],
    ]
    for verb in verbs:
        assert main([*verb, "--store", store]) == 0, capsys.readouterr()
    assert opens == Counter()
    assert index_files(tmp_path / "store") == before  # not rewritten, not even touched
    with Engine(store, registry) as engine:
        engine.set_entry_status("b", 2, EntryStatus.WITHDRAWN)
        assert engine.indexes.opened() == []
        assert engine.get_bank("imported").entries == 30
    assert opens == Counter()
    # The next lookup opens the indexes it needs and sees every write the verbs made.
    with Engine(store, registry) as engine:
        # Entry 1 (seed 0) was removed and entry 2 (seed 1) withdrawn; entry 3 is active.
        found = engine.lookup_signals([md5(1000 + 7), md5(0), md5(1), md5(2)])
        assert {(m.bank, m.external_id) for m in found.matches} == {
            ("imported", "f7"),
            ("b", "e2"),
        }
        assert engine.indexes.opened() == ["md5"]
    assert opens == Counter({"md5": 1})


def test_concurrent_first_lookups_open_each_family_once(
    tmp_path: Path, registry: SignalRegistry, opens: Counter[str]
) -> None:
    store = snapshotted_store(tmp_path / "store", registry)
    queries = [[pdq(random_pdq(seed)), md5(seed)] for seed in (3, 11, 29, 1000)]
    with Engine(store, registry) as eager:
        eager.open_indexes()
        expected = eager.lookup_many(queries)
    opens.clear()
    threads = 8
    start = threading.Barrier(threads)
    answers: list[list[LookupResult]] = []
    lock = threading.Lock()
    with Engine(store, registry) as engine:

        def look() -> None:
            start.wait()
            found = [engine.lookup_signals(query) for query in queries]
            with lock:
                answers.append(found)

        workers = [threading.Thread(target=look) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert engine.indexes.opened() == ["md5", "pdq"]
    assert opens == Counter({"md5": 1, "pdq": 1})
    assert len(answers) == threads
    assert all(found == expected for found in answers)
    assert [len(result.matches) for result in expected] == [1, 1, 1, 0]


def test_status_opens_every_family(tmp_path: Path, registry: SignalRegistry) -> None:
    """A status reports every family, opened for it: an unopened index's state is a guess."""
    store = snapshotted_store(tmp_path / "store", registry)
    with Engine(store, registry) as engine:
        assert engine.indexes.opened() == []
        status = engine.index_status()
        assert set(status) | set(engine.unindexed_families()) == {s.name for s in registry}
        assert status["pdq"].values == len(SEEDS) and status["pdq"].origin == "snapshot"
        assert engine.indexes.opened() == sorted(status)


def test_a_server_opens_every_index_before_it_serves(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    with running_server(tmp_path) as srv:
        assert srv.engine is not None
        opened = srv.engine.indexes.opened()
        assert opened and opened == sorted(srv.engine.index_status())


@pytest.mark.parametrize("rebuild_min", [1, 10**9], ids=["rebuild", "replay"])
def test_opening_after_a_bulk_import_rebuilds_or_replays(
    tmp_path: Path, registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch, rebuild_min: int
) -> None:
    """An import into a store nobody searched leaves its snapshots behind; the first open
    catches up as a running engine would: a rebuild when the backlog outweighs the index."""
    store = snapshotted_store(tmp_path / "store", registry)
    monkeypatch.setattr(snapshots, "REBUILD_MIN", rebuild_min)
    with Engine(store, registry) as engine:
        with engine.batch(catch_up=False) as writer:  # most of the bank replaced
            writer.remove_entries("b", range(1, len(SEEDS) + 1))
            for seed in range(100, 200):
                writer.add_entry("b", [md5(seed)])
        assert engine.indexes.opened() == []
    with Engine(store, registry) as engine:
        state = engine.indexes.states()["md5"]
        assert len(state.index) == 100
        assert state.replayed == (0 if rebuild_min == 1 else len(SEEDS) + 100)
        assert engine.lookup_signals([md5(150)]).matched
        assert not engine.lookup_signals([md5(5)]).matched


@pytest.mark.parametrize(
    ("path", "damage"),
    [
        ("pdq/index/delta_codes.npy", "array"),  # caught by the index's own checksum
        ("md5/index/manifest.json", "manifest"),  # caught by the store manifest's digest
        ("md5/index/delta_values.npy", "array"),
    ],
)
def test_a_damaged_snapshot_is_rebuilt_not_trusted(
    tmp_path: Path, registry: SignalRegistry, path: str, damage: str
) -> None:
    """Opening hashes only the index's own manifest for indexes that checksum their files on
    load (not every file twice); any damaged byte still means a rebuild, with right answers."""
    store = snapshotted_store(tmp_path / "store", registry)
    target = store / "indexes" / path
    data = bytearray(target.read_bytes())
    if damage == "manifest":
        data = bytearray(data.decode().replace('"crc32": ', '"crc32": 1', 1).encode())
    else:
        data[-3] ^= 0x10
    target.write_bytes(bytes(data))
    family = path.split("/")[0]
    with Engine(store, registry) as engine:
        status = engine.index_status()
        other = "md5" if family == "pdq" else "pdq"
        assert (status[family].origin, status[other].origin) == ("rebuilt", "snapshot")
        found = engine.lookup_signals([pdq(random_pdq(3)), md5(4)])
        assert sorted(m.external_id for m in found.matches) == ["e3", "e4"]


@pytest.mark.parametrize("verifies", [True, False])
def test_only_indexes_that_verify_their_own_files_skip_the_digest_of_each(
    tmp_path: Path, registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch, verifies: bool
) -> None:
    """An index that does not checksum its own files (the default, e.g. one with unchecked
    memory-mapped arrays) still has every file's digest checked on open: a stray file there
    means a rebuild. One that does is opened from its snapshot; its load reads only the files
    its manifest names, each checksummed."""
    from hashcore.index.base import SignalIndex
    from hashcore.index.exact import ExactIndex

    assert ExactIndex.verifies_own_files and not SignalIndex.verifies_own_files
    store = snapshotted_store(tmp_path / "store", registry)
    (store / "indexes" / "md5" / "index" / "stray.npy").write_bytes(b"not an array")
    monkeypatch.setattr(ExactIndex, "verifies_own_files", verifies)
    with Engine(store, registry) as engine:
        assert engine.index_status()["md5"].origin == ("snapshot" if verifies else "rebuilt")
        assert [m.external_id for m in engine.lookup_signals([md5(7)]).matches] == ["e7"]
