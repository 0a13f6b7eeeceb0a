"""The Milvus backend against the embedded index, side by side in one run (issue 16).

Per size, the same PDQ codes go into the embedded :class:`HammingIndex` and into a
:class:`MilvusIndex` on Milvus Lite (started here, in a temporary directory, BIN_FLAT: Lite has
no other binary index). Measured for each: load time (``add_array``), batched lookups/s (one
``range_search`` of 1000 queries, as the engine sends a batch with its variants), single-query
lookups/s (200 one-query calls), and the Milvus answers' recall against the embedded index's
(query, id, distance) triples at threshold 31. Sizes: HASHCORE_BENCH_MILVUS_SIZES (default
"100000,1000000"). HASHCORE_BENCH_MILVUS_URI points it at a Milvus server instead of Lite, and
HASHCORE_BENCH_MILVUS_INDEX=BIN_IVF_FLAT (server only) measures that index's recall.

    .venv/bin/python -m pytest bench/test_bench_milvus.py --benchmark-enable -s

Skipped when pymilvus is not installed (``pip install 'hashcore[milvus]'``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.test_bench_index import BITS, make_data
from hashcore.backends.milvus import MilvusBackend, MilvusSettings
from hashcore.index.base import SignalIndex
from hashcore.index.hamming import HammingIndex

pytest.importorskip("pymilvus", reason="pip install 'hashcore[milvus]'")

THRESHOLD = 31
SINGLE = 200
SIZES = [int(s) for s in os.environ.get("HASHCORE_BENCH_MILVUS_SIZES", "100000,1000000").split(",")]
RESULTS: list[dict[str, Any]] = []


def triples(index: SignalIndex, queries: list[bytes]) -> set[tuple[int, int, float]]:
    found = index.range_search(queries, THRESHOLD)
    owner = np.repeat(np.arange(len(queries)), np.diff(found.lims))
    return set(zip(owner.tolist(), found.value_ids.tolist(), found.distances.tolist(), strict=True))


def measure(index: SignalIndex, codes: np.ndarray, queries: list[bytes]) -> dict[str, Any]:
    started = time.perf_counter()
    index.add_array(np.arange(1, codes.shape[0] + 1, dtype=np.int64), codes)
    index.compact()
    load = time.perf_counter() - started
    index.range_search(queries[:10], THRESHOLD)  # warm: compiled kernel, loaded collection
    started = time.perf_counter()
    found = triples(index, queries)
    batch = len(queries) / (time.perf_counter() - started)
    started = time.perf_counter()
    for query in queries[:SINGLE]:
        index.range_search([query], THRESHOLD)
    single = SINGLE / (time.perf_counter() - started)
    return {"load_s": load, "batch_qps": batch, "single_qps": single, "found": found}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusBackend]:
    uri = os.environ.get("HASHCORE_BENCH_MILVUS_URI") or str(
        tmp_path_factory.mktemp("milvus") / "bench.db"
    )
    index_type = os.environ.get("HASHCORE_BENCH_MILVUS_INDEX", "BIN_FLAT")
    backend = MilvusBackend(MilvusSettings(uri=uri, index_type=index_type))
    backend.store_id = "bench"
    yield backend
    backend.close()


@pytest.mark.parametrize("n", SIZES)
def test_milvus_against_embedded(benchmark: Any, backend: MilvusBackend, n: int) -> None:
    codes, query_codes = make_data(n)
    queries = [row.tobytes() for row in query_codes]
    embedded = measure(HammingIndex(BITS), codes, queries)
    milvus_index = backend.index_class("pdq", BITS)
    milvus = measure(milvus_index, codes, queries)
    truth, got = embedded.pop("found"), milvus.pop("found")
    recall = len(truth & got) / len(truth) if truth else 1.0
    row = {
        "n": n,
        "hits": len(truth),
        "recall": recall,
        "exact": truth == got,
        **{f"embedded_{k}": v for k, v in embedded.items()},
        **{f"milvus_{k}": v for k, v in milvus.items()},
    }
    RESULTS.append(row)
    benchmark.extra_info.update(row)
    benchmark.pedantic(milvus_index.range_search, args=(queries[:1], THRESHOLD), rounds=20)
    if backend.settings.index_type == "BIN_FLAT":
        assert truth == got  # BIN_FLAT is exact: any difference is a bug, not a trade-off


def teardown_module() -> None:
    if not RESULTS:
        return
    print("\n| n | backend | load s | batch q/s | single q/s | recall | exact |")
    print("|---|---|---|---|---|---|---|")
    for row in RESULTS:
        for name in ("embedded", "milvus"):
            recall = 1.0 if name == "embedded" else row["recall"]
            print(
                f"| {row['n']:,} | {name} | {row[f'{name}_load_s']:.1f} "
                f"| {row[f'{name}_batch_qps']:,.0f} | {row[f'{name}_single_qps']:,.0f} "
                f"| {recall:.3f} "
                f"| {row['exact']} |"
            )
        ratio = row["embedded_batch_qps"] / row["milvus_batch_qps"]
        single = row["embedded_single_qps"] / row["milvus_single_qps"]
        print(f"| {row['n']:,} | embedded / milvus | | {ratio:.1f}x | {single:.1f}x | | |")
    Path(os.environ.get("HASHCORE_BENCH_MILVUS_TABLE", "/dev/null")).write_text(
        "\n".join(str(row) for row in RESULTS) + "\n"
    )


FILTER_SIZE = int(os.environ.get("HASHCORE_BENCH_MILVUS_FILTER_SIZE", "100000"))
CLUSTER = 100
"""Values per cluster (each within 0-24 bits of its centre): ~100 hits a query, as in a bank of
near-duplicates, so what a search transfers matters."""


def clustered_entries(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` PDQ codes in clusters of :data:`CLUSTER`, and one query near each of 200 centres."""
    rng = np.random.default_rng(16)
    centres = rng.integers(0, 256, (n // CLUSTER, BITS // 8), dtype=np.uint8)
    codes = np.repeat(centres, CLUSTER, axis=0)
    bits = np.unpackbits(codes, axis=1)
    for row, k in zip(bits, rng.integers(0, 25, n), strict=True):
        row[rng.choice(BITS, k, replace=False)] ^= 1
    return np.packbits(bits, axis=1), centres[:200]


def fill(engine: Any, codes: np.ndarray) -> None:
    """Bank ``big`` gets 99% of the entries, ``small`` every 100th."""
    from hashcore.signals import Signal

    engine.create_bank("big")
    engine.create_bank("small")
    with engine.batch() as writer:
        for n, row in enumerate(codes):
            bank = "small" if n % 100 == 0 else "big"
            writer.upsert_entry(bank, f"e{n}", [Signal("pdq", row.tobytes(), quality=100)])


def test_bank_filter_inside_milvus(tmp_path: Path) -> None:
    """A lookup limited to a bank of 1% of the values, with and without the filter sent to
    Milvus (alternating, 3 pairs, same run): lookups/s and hits returned per query. Also the
    write cost of the triggers that keep the banks whole: the same entries written into a
    store with and without them."""
    from hashcore.backends import backend_from_spec
    from hashcore.backends.membership import install
    from hashcore.engine import Engine
    from hashcore.signals import Signal
    from tests.engine_support import registry

    codes, centres = clustered_entries(FILTER_SIZE)
    queries = [row.tobytes() for row in centres]
    writes: dict[str, list[float]] = {"plain": [], "triggers": []}
    for pair in range(2):
        for kind in ("plain", "triggers"):
            plain = Engine(tmp_path / f"write-{kind}-{pair}", registry())
            if kind == "triggers":
                install(plain.store)
            started = time.perf_counter()
            fill(plain, codes)
            writes[kind].append(time.perf_counter() - started)
            plain.close()
    backend = backend_from_spec(f"milvus:{tmp_path / 'filter.db'}")
    engine = Engine(tmp_path / "store", registry(), index_backend=backend)
    try:
        fill(engine, codes)
        state = engine.indexes.get("pdq")
        assert state is not None
        index = state.index
        index.range_search_in(queries[:5], THRESHOLD, None)
        rows: dict[str, list[float]] = {}
        hits: dict[str, float] = {}
        for _ in range(3):
            for name, banks in (("index, small unfiltered", None), ("index, small", ["small"])):
                started = time.perf_counter()
                found = index.range_search_in(queries, THRESHOLD, banks)
                rows.setdefault(name, []).append(len(queries) / (time.perf_counter() - started))
                hits[name] = found.value_ids.shape[0] / len(queries)
        assert hits["index, small"] < hits["index, small unfiltered"]
        # The user's path: engine lookups limited to 'small', the filter sent or not.
        lookups = [[Signal("pdq", query, quality=100)] for query in queries]
        search = index.range_search_in
        unfiltered = lambda q, t, banks: search(q, t, None)  # noqa: E731 - the baseline
        variants = (("lookup, small unfiltered", unfiltered), ("lookup, small", search))
        for _ in range(3):
            for name, method in variants:
                index.range_search_in = method
                started = time.perf_counter()
                results = engine.lookup_many(lookups, banks=["small"])
                rows.setdefault(name, []).append(len(queries) / (time.perf_counter() - started))
                hits[name] = sum(len(r.matches) for r in results) / len(queries)
        index.range_search_in = search
        assert hits["lookup, small"] == hits["lookup, small unfiltered"]
    finally:
        engine.close()
    print(f"\n{FILTER_SIZE:,} values, bank 'small' = 1%, threshold {THRESHOLD}, 200 queries:")
    print("| call | q/s (median of 3) | hits (index) or matches (lookup) / query |")
    print("|---|---|---|")
    for name, rates in rows.items():
        print(f"| {name} | {sorted(rates)[1]:,.0f} | {hits[name]:.1f} |")
    plain_s, trig_s = sorted(writes["plain"])[0], sorted(writes["triggers"])[0]
    print(f"write {FILTER_SIZE:,} entries: {plain_s:.2f} s plain, {trig_s:.2f} s with the gains")
    print(f"triggers (best of 2 each, alternating): x{trig_s / plain_s:.2f}")
