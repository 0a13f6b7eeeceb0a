"""PDQ index benchmark: FAISS IndexBinaryFlat vs IndexBinaryMultiHash vs hashcore's HammingIndex.

One run measures, per size and structure, single-threaded: build time, resident memory, single-
query and batched lookups/s at threshold 31, restart-to-ready (load a snapshot), and checks that
every structure returns exactly the flat scan's (query, id, distance) triples. Sizes come from
HASHCORE_BENCH_SIZES (default "100000,1000000"; add 10000000 for the 10M case, ~3 GB peak RSS).

    pytest bench/test_bench_index.py --benchmark-enable -s

The pytest-benchmark timing is the single-query loop; everything else is in ``extra_info`` and in
the table printed at the end.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from hashcore.index.hamming import HammingIndex

THRESHOLD = 31
BITS = 256
SIZES = [int(s) for s in os.environ.get("HASHCORE_BENCH_SIZES", "100000,1000000").split(",")]
STRUCTURES = ["faiss-flat", "faiss-multihash", "hashcore"]
BATCH = 1000
RESULTS: list[dict[str, Any]] = []

Triples = set[tuple[int, int, int]]


def rss_mb() -> float:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random codes (the worst case for bucketing) and BATCH queries: half are stored
    codes with 0-40 bits flipped (so matches exist at and around the threshold), half random."""
    rng = np.random.default_rng(n)
    codes = rng.integers(0, 256, size=(n, BITS // 8), dtype=np.uint8)
    queries = codes[rng.integers(0, n, BATCH)].copy()
    bits = np.unpackbits(queries[: BATCH // 2], axis=1)
    for row, k in zip(bits, rng.integers(0, 41, BATCH // 2), strict=True):
        row[rng.choice(BITS, k, replace=False)] ^= 1
    queries[: BATCH // 2] = np.packbits(bits, axis=1)
    queries[BATCH // 2 :] = rng.integers(0, 256, size=(BATCH - BATCH // 2, BITS // 8))
    return np.ascontiguousarray(codes), np.ascontiguousarray(queries)


class Faiss:
    """A FAISS binary index behind the same three calls; range radius is strict, hence +1."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def search(self, queries: np.ndarray) -> Triples:
        lims, dist, ids = self.index.range_search(queries, THRESHOLD + 1)
        return {
            (q, int(ids[j]), int(dist[j])) for q in range(len(queries))
            for j in range(lims[q], lims[q + 1])
        }  # fmt: skip

    def single(self, query: np.ndarray) -> object:
        return self.index.range_search(query, THRESHOLD + 1)

    def accounted_mb(self) -> float:
        """Flat: its code array. MultiHash: unknown (hash maps), hence NaN; see the RSS delta."""
        if isinstance(self.index, faiss.IndexBinaryFlat):
            return self.index.ntotal * self.index.code_size / 2**20
        return float("nan")

    def save(self, path: Path) -> None:
        faiss.write_index_binary(self.index, str(path))

    @staticmethod
    def load(path: Path) -> Faiss:
        return Faiss(faiss.read_index_binary(str(path)))


class Hashcore:
    def __init__(self, index: HammingIndex) -> None:
        self.index = index

    def search(self, queries: np.ndarray) -> Triples:
        hits = self.index.search([q.tobytes() for q in queries], THRESHOLD)
        return {(q, h.value_id, int(h.distance)) for q, hs in enumerate(hits) for h in hs}

    def single(self, query: np.ndarray) -> object:
        return self.index.search([query.tobytes()], THRESHOLD)

    def accounted_mb(self) -> float:
        return self.index.nbytes_resident / 2**20

    def save(self, path: Path) -> None:
        self.index.save(path)

    @staticmethod
    def load(path: Path) -> Hashcore:
        return Hashcore(HammingIndex.load(path))


def build(structure: str, codes: np.ndarray) -> Faiss | Hashcore:
    if structure == "faiss-flat":
        flat = faiss.IndexBinaryFlat(BITS)
        flat.add(codes)
        return Faiss(flat)
    if structure == "faiss-multihash":
        # 16 substrings of 16 bits: distance <= 31 puts some substring within 31 // 16 = 1 bit,
        # so nflip = 1 makes it exact (checked against flat below).
        multi = faiss.IndexBinaryMultiHash(BITS, 16, 16)
        multi.nflip = THRESHOLD // 16
        multi.add(codes)
        return Faiss(multi)
    index = HammingIndex(BITS)
    index.add_array(np.arange(codes.shape[0], dtype=np.int64), codes)
    return Hashcore(index)


_data: dict[int, tuple[np.ndarray, np.ndarray, Triples, int]] = {}


def data_for(n: int) -> tuple[np.ndarray, np.ndarray, Triples, int]:
    """Codes, queries, and the flat scan's answer on the first ``r`` queries (cached per n)."""
    if n not in _data:
        _data.clear()
        gc.collect()
        codes, queries = make_data(n)
        r = BATCH if n <= 1_000_000 else 100  # flat at 10M: ~40 ms a query
        flat = faiss.IndexBinaryFlat(BITS)
        flat.add(codes)
        truth = Faiss(flat).search(queries[:r])
        del flat
        _data[n] = (codes, queries, truth, r)
    return _data[n]


@pytest.fixture(scope="module", autouse=True)
def single_thread() -> Iterator[None]:
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    lines = [
        "| n | structure | build s | RSS delta MB | array MB | single q/s | batch q/s | load s "
        "| exact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in RESULTS:
        lines.append(
            f"| {r['n']:,} | {r['structure']} | {r['build_s']:.2f} | {r['memory_mb']:.0f} "
            f"| {r['accounted_mb']:.0f} "
            f"| {r['single_qps']:,.0f} | {r['batch_qps']:,.0f} | {r['load_s']:.2f} "
            f"| {r['exact']} |"
        )
    table = "\n".join(lines)
    out = os.environ.get("HASHCORE_BENCH_INDEX_TABLE")
    if out:
        Path(out).write_text(table + "\n")
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print("\n" + table)


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("n", SIZES)
def test_index(benchmark: Any, n: int, structure: str, tmp_path: Path) -> None:
    codes, queries, truth, r = data_for(n)
    before = rss_mb()
    t0 = time.perf_counter()
    index = build(structure, codes)
    build_s = time.perf_counter() - t0
    memory_mb = rss_mb() - before
    accounted_mb = index.accounted_mb()

    singles = 20 if (structure == "faiss-flat" and n >= 10_000_000) else 200
    one = [queries[i : i + 1] for i in range(singles)]

    def run_singles(single: Callable[[np.ndarray], object] = index.single) -> None:
        for q in one:
            single(q)

    benchmark.pedantic(run_singles, rounds=3, iterations=1, warmup_rounds=1)
    single_qps = singles / benchmark.stats.stats.mean if benchmark.stats else float("nan")

    nb = r if structure == "faiss-flat" else BATCH
    t0 = time.perf_counter()
    got = index.search(queries[:nb])
    batch_qps = nb / (time.perf_counter() - t0)
    exact = {t for t in got if t[0] < r} == truth

    path = tmp_path / "snapshot"
    index.save(path)
    del index, run_singles
    gc.collect()
    t0 = time.perf_counter()
    loaded = (Hashcore if structure == "hashcore" else Faiss).load(path)
    load_s = time.perf_counter() - t0
    exact = exact and {t for t in loaded.search(queries[:10])} == {t for t in truth if t[0] < 10}
    del loaded

    row = {
        "n": n,
        "structure": structure,
        "build_s": build_s,
        "memory_mb": memory_mb,
        "accounted_mb": accounted_mb,
        "single_qps": single_qps,
        "batch_qps": batch_qps,
        "load_s": load_s,
        "exact": exact,
        "matches": len(truth),
    }
    benchmark.extra_info.update(row)
    RESULTS.append(row)
    assert exact, f"{structure} at n={n} differs from the flat scan"
