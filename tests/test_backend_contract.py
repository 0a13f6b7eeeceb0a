"""One contract for every index backend: the same answers as a brute-force scan, through the
index and through the engine (adds, removals, withdrawals, disabled banks, restarts with
catch-up). Parametrised over ``embedded`` and ``milvus`` (Milvus Lite, started here); only the
Milvus case is skipped, and only when pymilvus is not installed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hashcore.backends import IndexBackend
from hashcore.engine import Engine
from hashcore.index.base import SignalIndex
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from hashcore.store import Store
from tests.backend_support import BACKENDS, MakeBackend, backend_maker, oracle
from tests.engine_support import flip_bits, registry

THRESHOLDS = (-1, 0, 1, 30, 31, 31.5, 32, 33, 255, 256, float("inf"))


@pytest.fixture(params=BACKENDS)
def make_backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    return backend_maker(request.param, tmp_path_factory)


@pytest.fixture
def new_index(make_backend: MakeBackend, tmp_path: Path) -> Iterator:
    """A function giving a fresh index of a family on the backend, over an empty store of its
    own (so the values it is given belong to no bank: a bank-filtered search still finds
    them)."""
    opened: list[tuple[IndexBackend, Store]] = []

    def new(family: str) -> SignalIndex:
        backend = make_backend()
        store = Store(tmp_path / f"store-{len(opened)}")
        opened.append((backend, store))
        view: SignalRegistry = backend.registry(registry(), store)
        return view.get(family).create_index()

    yield new
    for backend, store in opened:
        backend.close()
        store.close()


def hits(index: SignalIndex, queries: list[bytes], threshold: float) -> list[list[tuple]]:
    found = index.range_search(queries, threshold).to_lists()
    return [sorted((h.value_id, h.distance) for h in per) for per in found]


def near(code: bytes, rng: random.Random, bits: int) -> bytes:
    """``code`` with ``bits`` random distinct bits flipped."""
    number = int.from_bytes(code)
    for bit in rng.sample(range(len(code) * 8), bits):
        number ^= 1 << bit
    return number.to_bytes(len(code))


def clustered(rng: random.Random, nbytes: int, centers: int, members: int) -> list[bytes]:
    """Codes in tight clusters, members 0-40 bits from their center: many hits per query."""
    out = []
    for _ in range(centers):
        center = rng.randbytes(nbytes)
        out += [near(center, rng, rng.randrange(0, 41)) for _ in range(members)]
    return out


@pytest.mark.parametrize("family", ["pdq", "phash"])
def test_random_and_clustered_codes_equal_a_scan(new_index, family: str) -> None:
    rng = random.Random(16)
    nbytes = 32 if family == "pdq" else 8
    codes = [rng.randbytes(nbytes) for _ in range(600)] + clustered(rng, nbytes, 20, 30)
    stored = dict(enumerate(codes, start=1))
    index = new_index(family)
    index.add(list(stored), list(stored.values()))
    queries = [near(codes[i], rng, rng.randrange(0, 40)) for i in range(0, len(codes), 37)]
    queries += [codes[5], flip_bits(codes[7], 31), flip_bits(codes[8], 32)]
    for threshold in THRESHOLDS:
        assert hits(index, queries, threshold) == oracle(stored, queries, threshold), threshold
    assert len(index) == len(stored)


def test_the_boundary_is_inclusive(new_index) -> None:
    rng = random.Random(3)
    base = rng.randbytes(32)
    index = new_index("pdq")
    index.add(list(range(1, 35)), [flip_bits(base, k) for k in range(34)])  # id k+1: k away
    for threshold in (0, 1, 15, 31, 32, 33):
        found = hits(index, [base], threshold)[0]
        assert [d for _, d in found] == [float(k) for k in range(min(threshold, 33) + 1)]
    assert hits(index, [base], 31.9)[0] == hits(index, [base], 31)[0]
    assert hits(index, [base], -0.5) == [[]]


def test_adds_removals_and_replacements(new_index) -> None:
    rng = random.Random(5)
    stored = {i: rng.randbytes(32) for i in range(1, 401)}
    index = new_index("pdq")
    index.add(list(stored), list(stored.values()))
    removed = rng.sample(sorted(stored), 120)
    index.remove([*removed, 10_000])  # an unknown id is ignored
    for value_id in removed:
        del stored[value_id]
    replaced = {i: near(stored[i], rng, 20) for i in rng.sample(sorted(stored), 50)}
    index.add(list(replaced), list(replaced.values()))
    stored.update(replaced)
    readded = removed[:30]
    index.add(readded, [rng.randbytes(32) for _ in readded])
    index.remove(readded[:10])
    fresh = {i: rng.randbytes(32) for i in readded[10:]}  # the last add of an id wins
    index.add(list(fresh), list(fresh.values()))
    stored.update(fresh)
    queries = [near(v, rng, rng.randrange(0, 40)) for v in list(stored.values())[::9]]
    queries += [near(v, rng, 5) for v in fresh.values()]
    for threshold in (0, 31, 32, 64):
        assert hits(index, queries, threshold) == oracle(stored, queries, threshold)
    assert len(index) == len(stored)
    assert index.value_ids().tolist() == sorted(stored)
    index.compact()
    assert hits(index, queries, 31) == oracle(stored, queries, 31)


def test_bulk_load_as_arrays(new_index) -> None:
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 256, (3000, 8), dtype=np.uint8)
    ids = np.arange(7, 3007, dtype=np.int64)
    index = new_index("phash")
    index.add_array(ids, codes)
    stored = {int(i): row.tobytes() for i, row in zip(ids, codes, strict=True)}
    queries = [codes[n].tobytes() for n in range(0, 3000, 97)]
    assert hits(index, queries, 12) == oracle(stored, queries, 12)
    assert len(index) == 3000


def test_more_hits_than_milvus_returns_in_one_search(new_index) -> None:
    """17000 values within reach of one query: over Milvus's 16384-hit ceiling, none lost."""
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 256, (17_000, 8), dtype=np.uint8)
    index = new_index("phash")
    index.add_array(np.arange(1, 17_001, dtype=np.int64), codes)
    stored = {i + 1: row.tobytes() for i, row in enumerate(codes)}
    query = codes[0].tobytes()
    for threshold in (64, 40):
        assert hits(index, [query], threshold) == oracle(stored, [query], threshold)


# Through the engine: banks, entries, statuses, restarts.


def pdq(value: bytes, variant: str | None = None) -> Signal:
    return Signal("pdq", value, quality=100, variant=variant)


def lookups(engine: Engine, queries: list[list[Signal]], **kw) -> list[list[tuple]]:
    """Per query: the matched (bank, external id, best distance per family), sorted."""
    results = engine.lookup_many(queries, **kw)
    return [
        sorted(
            (m.bank, m.external_id, tuple(sorted((h.type, h.distance) for h in m.signals)))
            for m in result.matches
        )
        for result in results
    ]


def populate(engine: Engine, rng: random.Random) -> dict[str, bytes]:
    """Two banks sharing some values; returns every entry's PDQ by external id."""
    engine.create_bank("alpha")
    engine.create_bank("beta")
    centers = [rng.randbytes(32) for _ in range(12)]
    values: dict[str, bytes] = {}
    with engine.batch() as writer:
        for n in range(240):
            value = near(centers[n % 12], rng, rng.randrange(0, 45))
            bank = "alpha" if n % 3 else "beta"
            values[f"{bank}-{n}"] = value
            writer.upsert_entry(bank, f"{bank}-{n}", [pdq(value)])
        for key in [key for key in values if key.startswith("alpha")][::25]:
            writer.upsert_entry("beta", f"shared-{key}", [pdq(values[key])])  # in both banks
    return values


def expected(engine: Engine, queries: list[list[Signal]], threshold: float) -> list[list[tuple]]:
    """The answer computed by brute force from the store's live entries (the oracle)."""
    live = {}
    for bank in engine.bank_names():
        if not engine.get_bank(bank).bank.enabled:
            continue
        for entry in engine.iter_entries(bank):
            if entry.status == "active":
                for signal in entry.signals:
                    live[(bank, entry.external_id)] = signal.value
    out = []
    for signals in queries:
        found = []
        for key, value in live.items():
            best = min(
                float(sum((a ^ b).bit_count() for a, b in zip(s.value, value, strict=True)))
                for s in signals
            )
            if best <= threshold:
                found.append((key[0], key[1], (("pdq", best),)))
        out.append(sorted(found))
    return out


def queries_of(values: dict[str, bytes], rng: random.Random) -> list[list[Signal]]:
    """Lookups of several variants each (as dihedral variants are), near stored values."""
    picked = list(values.values())[::11]
    return [
        [pdq(near(v, rng, rng.randrange(25, 40))), pdq(near(v, rng, 31), "rotate90")]
        for v in picked
    ]


def test_engine_lookups_equal_the_oracle_through_every_change(
    make_backend: MakeBackend, tmp_path: Path
) -> None:
    rng = random.Random(11)
    engine = Engine(tmp_path / "store", registry(), index_backend=make_backend())
    try:
        values = populate(engine, rng)
        queries = queries_of(values, rng)
        for threshold in (31, 32, 40):
            got = lookups(engine, queries, thresholds={"pdq": threshold})
            assert got == expected(engine, queries, threshold)
            assert sum(map(len, got)) > len(queries)  # the clusters give several hits each
        entries = {e.external_id: e.id for e in engine.iter_entries("alpha")}
        engine.set_entry_status("alpha", entries["alpha-1"], "withdrawn")
        engine.set_entry_status("alpha", entries["alpha-2"], "withdrawn")
        engine.remove_entries("alpha", [entries["alpha-4"], entries["alpha-5"]])
        engine.set_entry_status("alpha", entries["alpha-2"], "active")
        engine.set_bank_enabled("beta", False)
        assert lookups(engine, queries) == expected(engine, queries, 31)
        engine.set_bank_enabled("beta", True)
        assert lookups(engine, queries) == expected(engine, queries, 31)
        assert engine.check().ok
    finally:
        engine.close()


def test_restart_catches_up_with_changes_made_while_it_was_away(
    make_backend: MakeBackend, tmp_path: Path
) -> None:
    rng = random.Random(12)
    store = tmp_path / "store"
    engine = Engine(store, registry(), index_backend=make_backend())
    values = populate(engine, rng)
    engine.create_bank("gamma")
    queries = queries_of(values, rng)
    lookups(engine, queries)  # opens the index; closing checkpoints it
    assert lookups(engine, queries, banks=["gamma"]) == [[] for _ in queries]
    engine.close()
    other = Engine(store, registry())  # another process, on the embedded index, writes meanwhile
    entries = {e.external_id: e.id for e in other.iter_entries("beta")}
    other.remove_entries("beta", [entries["beta-0"], entries["beta-3"]])
    other.add_entry("alpha", [pdq(near(values["alpha-1"], rng, 3))], external_id="late")
    for n, value in enumerate(list(values.values())[11::11][:5]):  # live values gain gamma
        other.add_entry("gamma", [pdq(value)], external_id=f"gained-{n}")
    other.close()
    engine = Engine(store, registry(), index_backend=make_backend())
    try:
        assert lookups(engine, queries) == expected(engine, queries, 31)
        got = lookups(engine, queries, banks=["gamma"])
        assert got == [[m for m in per if m[0] == "gamma"] for per in expected(engine, queries, 31)]
        assert sum(map(len, got)) >= 5
        state = engine.indexes.states()["pdq"]
        assert (state.origin, state.replayed) == ("snapshot", 3)  # gains are not changes
    finally:
        engine.close()


# Lookups limited to some banks: filtered inside the index where it can, the same answers.


def test_bank_limited_lookups_equal_the_oracle_as_values_gain_and_lose_banks(
    make_backend: MakeBackend, tmp_path: Path
) -> None:
    """A value gains a bank without a change-log step (another bank's entry banks it, a
    withdrawn entry comes back, an entry is replaced with new signals): a lookup limited to
    that bank finds it at once, and one limited to a bank it has lost does not."""
    rng = random.Random(13)
    engine = Engine(tmp_path / "store", registry(), index_backend=make_backend())
    try:
        values = populate(engine, rng)
        engine.create_bank("gamma")
        picked = [values["alpha-7"], values["alpha-8"]]  # alpha entries that stay active
        queries = queries_of(values, rng) + [[pdq(near(v, rng, 20))] for v in picked]

        def check() -> None:
            for wanted in (["alpha"], ["beta"], ["gamma"], ["beta", "gamma"]):
                got = lookups(engine, queries, banks=wanted)
                assert got == [
                    [m for m in per if m[0] in wanted] for per in expected(engine, queries, 31)
                ], wanted

        check()
        alpha = {e.external_id: e for e in engine.iter_entries("alpha")}
        gained = engine.add_entry("gamma", [pdq(picked[0])], external_id="gained").id
        check()
        engine.set_entry_status("alpha", alpha["alpha-1"].id, "withdrawn")
        engine.set_entry_status("gamma", gained, "withdrawn")
        check()
        engine.indexes.rebuild(["pdq"])  # the value is rewritten without gamma, then it returns
        check()
        engine.set_entry_status("gamma", gained, "active")
        check()
        with engine.batch() as writer:  # an entry replaced: its new signal is gamma's too
            writer.upsert_entry("gamma", "gained", [pdq(picked[1])])
        check()
        engine.set_bank_enabled("alpha", False)
        check()
        assert engine.check().ok
    finally:
        engine.close()
