"""Upserts (``StoreWriter.upsert_entries``; ``upsert_entry`` is a batch of one) against an
independent model of the upsert rules (``tests/store_model.py``) and a recount from the tables.

Every store write is a batch, so there is one path to check: the model, which knows nothing of
SQL or batching, checks it through the store's public read API, and ``hashcore check``'s
recount checks what it maintains (``refs``, ``bank_counts``, the change log) after every
transaction. All run on real SQLite stores on disk. The same records cut into batches
anywhere, one per record included, must also leave the same tables row for row (ids, refs,
the change log in order): where a batch ends is invisible.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashcore.engine import Engine
from hashcore.errors import InvalidInput, NotFound
from hashcore.formats import BankUpdate, Problem, get_format
from hashcore.formats.importer import import_updates
from hashcore.model import EntryStatus
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from hashcore.store import Store
from hashcore.store.writer import Upsert
from tests.formats_support import upsert_one_by_one
from tests.store_model import StoreModel, assert_recounts, assert_store_matches, outcome

ACTIVE, WITHDRAWN, DELETED = EntryStatus.ACTIVE, EntryStatus.WITHDRAWN, EntryStatus.DELETED
PDQ = [Signal("pdq", bytes([n]) * 32, quality=90) for n in range(4)]
MD5 = [Signal("md5", bytes([n]) * 16) for n in range(2)]
WEAK = Signal("pdq", bytes([9]) * 32, quality=10, usable=False)
BAD = Signal("pdq", bytes(5))  # wrong length: the validator refuses it
NOW = 1_000_000.0


def validator(registry: SignalRegistry) -> Callable[[Signal], Signal]:
    def validate(signal: Signal) -> Signal:
        return dataclasses.replace(signal, value=registry.get(signal.type).validate(signal.value))

    return validate


def open_store(path: Path, registry: SignalRegistry) -> Store:
    """A store with two banks; ``beta`` shares PDQ 0 so some refs start above one."""
    store = Store(path, validate=validator(registry))
    with store.transaction() as writer:
        writer.create_bank("alpha")
        writer.create_bank("beta")
        writer.upsert_entry("beta", "shared", [PDQ[0]], updated_at=1.0)
    return store


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every table but the change log's timestamps."""
    conn = sqlite3.connect(store.path)
    try:
        queries = {
            "entries": "SELECT id, bank_id, external_id, labels, source, status, created_at,"
            " updated_at FROM entries ORDER BY id",
            "entry_signals": "SELECT entry_id, value_id, quality FROM entry_signals"
            " ORDER BY entry_id, value_id",
            "signal_values": "SELECT id, family, value, refs FROM signal_values ORDER BY id",
            "changes": "SELECT seq, family, value_id, op FROM changes ORDER BY seq",
            "bank_counts": "SELECT bank_id, family, count FROM bank_counts WHERE count != 0"
            " ORDER BY bank_id, family",
        }
        return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}
    finally:
        conn.close()


def seeded_model() -> StoreModel:
    """The model of :func:`open_store`'s two banks."""
    model = StoreModel(NOW)
    model.create_bank("alpha")
    model.create_bank("beta")
    model.upsert("beta", Upsert("shared", [PDQ[0]], updated_at=1.0))
    return model


def one_by_one(
    store: Store, updates: Sequence[Upsert], bank: str = "alpha", model: StoreModel | None = None
) -> list[object]:
    """``upsert_entry`` record by record; with a ``model``, each in its own transaction and
    the store checked against the model after every one (so a state later overwritten counts)."""
    if model is None:
        with store.transaction() as writer:
            return [outcome(result) for result in upsert_one_by_one(writer, bank, updates)]
    results: list[object] = []
    for update in updates:
        with store.transaction() as writer:
            [result] = [outcome(r) for r in upsert_one_by_one(writer, bank, [update])]
        assert result == model.upsert(bank, update), update
        assert_store_matches(store, model)
        assert_recounts(store)
        results.append(result)
    return results


def batched(
    store: Store,
    updates: Sequence[Upsert],
    cuts: Sequence[int] = (),
    bank: str = "alpha",
    model: StoreModel | None = None,
) -> list[object]:
    """``upsert_entries`` over ``updates`` split at ``cuts``, one transaction per part; with a
    ``model``, the store is checked against it after every part."""
    results: list[object] = []
    bounds = [0, *sorted(set(cuts)), len(updates)]
    for start, end in itertools.pairwise(bounds):
        with store.transaction() as writer:
            part = [outcome(r) for r in writer.upsert_entries(bank, updates[start:end])]
        if model is not None:
            assert part == model.upsert_all(bank, updates[start:end]), (start, end)
            assert_store_matches(store, model)
            assert_recounts(store)
        results += part
    return results


MIXED = [
    Upsert("a", [PDQ[1], MD5[0]], ["x"], "s", updated_at=10.0),  # add
    Upsert("b", [PDQ[0]], updated_at=10.0),  # add, PDQ 0 already live through beta
    Upsert("a", [PDQ[2], MD5[0]], ["x"], "s", updated_at=11.0),  # update, same id again
    Upsert("a", [PDQ[1]], ["x"], "s", updated_at=10.5),  # older than what the batch holds
    Upsert("gone", [], status=DELETED, updated_at=20.0),  # delete of an unseen id: tombstone
    Upsert("gone", [PDQ[3]], updated_at=19.0),  # older add cannot revive it
    Upsert("c", [PDQ[3], BAD], updated_at=5.0),  # invalid value: refused, nothing written
    Upsert("   ", [PDQ[3]]),  # invalid external id
    Upsert("c", [WEAK]),  # no usable signal
    Upsert("c", [PDQ[3]], ["ok", ""]),  # invalid label
    Upsert("b", [], status=WITHDRAWN, updated_at=12.0),  # withdrawal without signals
    Upsert("b", [], status=WITHDRAWN, updated_at=13.0),  # same again: only the time moves
    Upsert(" a ", [PDQ[2], MD5[0]], ["x"], "s", updated_at=11.0),  # same record: unchanged
    Upsert("a", [PDQ[2], MD5[0]], ["y", "x", "x"], "s", updated_at=12.0),  # labels change
    Upsert("d", [PDQ[2]], created_at=3.0),  # no updated_at: stamped with the clock
    Upsert("d", [PDQ[2], PDQ[2]]),  # same value twice: unchanged
    Upsert("a", [MD5[0]], ["x", "y"], "s", status=DELETED, updated_at=14.0),  # delete
    Upsert("a", [PDQ[1]], updated_at=15.0),  # back, with other values
    Upsert("b", [PDQ[0], MD5[1]], updated_at=16.0),  # withdrawn -> active again
    Upsert("e", [PDQ[3]], status="bogus"),  # type: ignore[arg-type]
]


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hashcore.store.batch.time.time", lambda: NOW)


@pytest.mark.usefixtures("frozen_clock")
def test_mixed_batch_and_one_by_one_equal_the_model(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    model = seeded_model()
    expected = model.upsert_all("alpha", MIXED)
    with open_store(tmp_path / "one", registry) as one, open_store(tmp_path / "all", registry) as b:
        assert one_by_one(one, MIXED, model=seeded_model()) == expected  # checked per record
        assert batched(b, MIXED) == expected
        assert_store_matches(b, model)
        dumped = dump(b)
        assert dumped == dump(one)
        assert_recounts(b)
    with open_store(tmp_path / "parts", registry) as parts:  # checked after each part
        assert batched(parts, MIXED, cuts=[4, 12, 16], model=seeded_model()) == expected
        assert dump(parts) == dumped
    assert [r if isinstance(r, str) else r[0] for r in expected] == [
        *["added", "added", "updated", "unchanged", "not_held", "unchanged"],
        *["error", "error", "error", "error", "updated", "unchanged", "unchanged", "updated"],
        *["added", "unchanged", "updated", "updated", "updated", "error"],
    ]


@pytest.mark.usefixtures("frozen_clock")
def test_mixed_batch_on_top_of_stored_entries(tmp_path: Path, registry: SignalRegistry) -> None:
    """The same records again, now against entries the store holds, split across batches."""
    again = [dataclasses.replace(u, updated_at=(u.updated_at or 0) + 100) for u in MIXED]
    checked, plain = seeded_model(), seeded_model()
    with open_store(tmp_path / "one", registry) as one, open_store(tmp_path / "all", registry) as b:
        first = one_by_one(one, MIXED[:9], model=checked)
        assert batched(b, MIXED[:9], cuts=[4], model=plain) == first
        assert batched(b, again, cuts=[3, 11], model=plain) == one_by_one(one, again, model=checked)
        assert dump(b) == dump(one)
        assert_recounts(b)


def test_unknown_bank_aborts_the_call(tmp_path: Path, registry: SignalRegistry) -> None:
    with open_store(tmp_path, registry) as store:
        with pytest.raises(NotFound), store.transaction() as writer:
            writer.upsert_entries("nope", MIXED[:2])
        with store.transaction() as writer:
            assert writer.upsert_entries("nope", []) == []
        with pytest.raises(InvalidInput), store.transaction() as writer:
            writer.upsert_entry("alpha", "x", [BAD])


EXTERNAL_IDS = ["a", "b", "c", " a", ""]
SIGNALS = [*PDQ[:3], MD5[0], Signal("pdq", PDQ[1].value, quality=60), WEAK, BAD]
SIGNAL_SETS = [(), (WEAK,), (PDQ[0],), (PDQ[1],), (SIGNALS[4],), (PDQ[0], MD5[0]), (PDQ[2], BAD)]
"""A few sets drawn often, so records repeat an entry's values (label- or status-only changes)."""
records = st.builds(
    Upsert,
    external_id=st.sampled_from(EXTERNAL_IDS),
    signals=st.one_of(st.sampled_from(SIGNAL_SETS), st.lists(st.sampled_from(SIGNALS), max_size=3)),
    labels=st.sampled_from([(), ("x",), ("x", "y"), ("y", "x"), ("",)]),
    source=st.sampled_from([None, "s", "t"]),
    status=st.sampled_from([ACTIVE, ACTIVE, WITHDRAWN, DELETED]),
    updated_at=st.sampled_from([None, 1.0, 2.0, 3.0]),
    created_at=st.sampled_from([None, 0.5]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    updates=st.lists(records, min_size=1, max_size=14),
    cuts=st.lists(st.integers(0, 14), max_size=3),
)
def test_any_batching_and_one_by_one_equal_the_model(
    tmp_path_factory: pytest.TempPathFactory,
    registry: SignalRegistry,
    updates: list[Upsert],
    cuts: list[int],
) -> None:
    root = tmp_path_factory.mktemp("upserts")
    cuts = [cut for cut in cuts if 0 < cut < len(updates)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("hashcore.store.batch.time.time", lambda: NOW)
        with open_store(root / "one", registry) as one, open_store(root / "b", registry) as b:
            assert batched(b, updates, cuts, model=seeded_model()) == one_by_one(
                one, updates, model=seeded_model()
            )
            assert dump(b) == dump(one)


@pytest.mark.usefixtures("frozen_clock")
def test_import_in_batches_equals_import_one_by_one(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    """Through the importer and the engine: the same summary and tables at every batch size,
    and the state and counts the model gives for the records read."""
    lines = [json.dumps({"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}})]
    for n in range(60):
        status = "deleted" if n % 7 == 3 else "active"
        value = f"{n % 13:02x}" * 32 if n % 11 != 5 else "zz" * 32  # some malformed
        lines.append(
            json.dumps(
                {
                    "external_id": f"e{n % 23}",
                    "status": status,
                    "labels": ["l"] if n % 2 else [],
                    "updated_at": float(n % 17),
                    "signals": [{"type": "pdq", "hex": value}] if n % 5 else [],
                }
            )
        )
    data = "\n".join(lines).encode()
    model = StoreModel(NOW)
    model.create_bank("partner")
    parsed = list(get_format("hashcore", registry).read(io.BytesIO(data)))
    records = [item for item in parsed if isinstance(item, BankUpdate)]
    outcomes = [
        "deleted"
        if record.status is not ACTIVE and result in ("added", "updated")
        else (result if isinstance(result, str) else "problems")
        for record, result in zip(records, model.upsert_all("partner", records), strict=True)
    ]
    dumps = []
    summaries = []
    for batch_size in (1, 8, 1000):
        with Engine(tmp_path / str(batch_size), registry) as engine:
            engine.create_bank("partner")
            items = get_format("hashcore", registry).read(io.BytesIO(data))
            summary = import_updates(engine, "partner", items, batch_size=batch_size)
            summaries.append((summary.as_dict(), [str(p) for p in summary.problems]))
            live = sorted(state.values for state in engine.index_status().values())
            assert_store_matches(engine.store, model)
            assert_recounts(engine.store)
            dumps.append((dump(engine.store), live))
    assert summaries[0] == summaries[1] == summaries[2]
    assert summaries[0][0]["problems"] > 0 and summaries[0][0]["deleted"] > 0
    counted = summaries[0][0]
    for kind in ("added", "updated", "deleted", "unchanged"):
        assert counted[kind] == outcomes.count(kind), kind
    unreadable = sum(isinstance(item, Problem) for item in parsed)
    assert counted["problems"] == outcomes.count("problems") + unreadable
    assert dumps[0] == dumps[1] == dumps[2]
