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
