"""In-process lookup throughput: ``Engine.lookup_many`` on a real store of N PDQ entries.

What a user runs: an :class:`~hashcore.engine.Engine` opened on a store on disk (its index loaded
from the snapshot), hash-only lookups of ``BATCH`` PDQ signals per ``lookup_many`` call at the
default threshold (31). Two banks of N entries, one PDQ signal each:

* **uniform**: uniformly random 256-bit codes. Queries: half stored codes with 0-40 bits
  flipped, half random (as ``bench/test_bench_index.py``): about 0.4 hits per query.
* **clustered**: N / 80 random centres, each with 80 members = the centre with 1-10 random bits
  flipped (so two members of a cluster differ by at most 20 bits, well inside 31). Queries are
  centres of random clusters with 1-10 bits flipped: each sees its cluster's 80 members (at
  most 20 bits away) and, in practice, nothing else (random codes are ~128 bits apart), so
  ~80 hits per query: the many-hit case of near-duplicate banks.

Banks are built once with the import path a user runs (:func:`hashcore.formats.importer.
import_updates`) and cached under ``bench/.cache/lookup-<kind>-<n>-v1`` (gitignored), with the
codes and queries as ``.npy``. A measurement reports lookups/s (best of ``ROUNDS`` passes over
all batches, after one warm-up batch), hits per query, and a digest of every result (entry,
distance, variant) so that two revisions can be checked to return the same matches.

Beside it, the raw reference: FAISS ``IndexBinaryFlat.range_search`` on the same codes (no
store, no merge), one thread as for the engine.

Runs: ``HASHCORE_BENCH_LOOKUP_N=100000 .venv/bin/python -m pytest bench/test_bench_lookup.py
--benchmark-enable -s`` (default N = 1,000,000), or as a script, used by
``bench/compare_revisions.py`` to time two revisions alternately::

    python bench/test_bench_lookup.py build --kind clustered --n 100000
    python bench/test_bench_lookup.py measure --kind clustered --n 100000   # one JSON line

Only APIs present since before issue 12 are used (``Engine``, ``lookup_many``,
``import_updates``, ``BankUpdate``, ``Signal``), so any revision since can be measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

BITS = 256
BATCH = 1000
BATCHES = int(os.environ.get("HASHCORE_BENCH_LOOKUP_BATCHES", "5"))
ROUNDS = int(os.environ.get("HASHCORE_BENCH_LOOKUP_ROUNDS", "3"))
CLUSTER = 80
MAX_FLIPS = 10
THRESHOLD = 31  # PDQ's default: the banks keep it
KINDS = ("uniform", "clustered")
FORMAT = 1
CACHE = Path(__file__).resolve().parent / ".cache"
SIZE = int(os.environ.get("HASHCORE_BENCH_LOOKUP_N", "1000000"))


def flip(codes: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``codes`` with ``counts[i]`` distinct random bits of row ``i`` flipped."""
    bits = np.unpackbits(codes, axis=1)
    # The first counts[i] positions of a random permutation per row: distinct bits.
    order = np.argsort(rng.random(bits.shape), axis=1)
    mask = np.zeros(bits.shape, np.uint8)
    rows = np.repeat(np.arange(codes.shape[0]), counts)
    cols = order[rows, np.concatenate([np.arange(c) for c in counts]).astype(np.int64)]
    mask[rows, cols] = 1
    return np.packbits(bits ^ mask, axis=1)


def _flip_chunked(codes: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    step = 50_000  # the bit matrix of a chunk: 50k x 256 bytes, several times over
    parts = [
        flip(codes[i : i + step], counts[i : i + step], rng) for i in range(0, len(codes), step)
    ]
    return np.concatenate(parts) if parts else codes


def make_data(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The bank's codes (n, 32) and ``BATCHES * BATCH`` queries, deterministic per (kind, n)."""
    rng = np.random.default_rng([n, KINDS.index(kind)])
    q = BATCHES * BATCH
    if kind == "uniform":
        codes = rng.integers(0, 256, size=(n, BITS // 8), dtype=np.uint8)
        near = codes[rng.integers(0, n, q // 2)]
        near = _flip_chunked(near, rng.integers(0, 41, q // 2), rng)
        far = rng.integers(0, 256, size=(q - q // 2, BITS // 8), dtype=np.uint8)
        queries = np.concatenate([near, far])
    else:
        clusters = -(-n // CLUSTER)
        centres = rng.integers(0, 256, size=(clusters, BITS // 8), dtype=np.uint8)
        members = np.repeat(centres, CLUSTER, axis=0)[:n]
        codes = _flip_chunked(members, rng.integers(1, MAX_FLIPS + 1, n), rng)
        picked = centres[rng.integers(0, n // CLUSTER, q)]
        queries = _flip_chunked(picked, rng.integers(1, MAX_FLIPS + 1, q), rng)
    return np.ascontiguousarray(codes), np.ascontiguousarray(queries)


def cache_dir(kind: str, n: int) -> Path:
    return CACHE / f"lookup-{kind}-{n}-v{FORMAT}"


def build(kind: str, n: int) -> Path:
    """The cached store of ``kind`` with ``n`` entries, built (import + index snapshot) if new."""
    from hashcore.engine import Engine
    from hashcore.formats import BankUpdate
    from hashcore.formats.importer import import_updates
    from hashcore.signals import Signal

    root = cache_dir(kind, n)
    if (root / "ready").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    codes, queries = make_data(kind, n)
    np.save(root / "codes.npy", codes)
    np.save(root / "queries.npy", queries)
    started = time.perf_counter()

    def records() -> Iterator[BankUpdate]:
        for i, code in enumerate(codes):
            yield BankUpdate(f"e{i}", (Signal("pdq", code.tobytes()),))

    with Engine(root / "store") as engine:
        engine.create_bank("bench")
        summary = import_updates(engine, "bench", records())
        engine.compact()  # index folded and snapshotted: later opens load it
    assert summary.added == n, summary
    (root / "ready").write_text(f"{time.perf_counter() - started:.1f} s\n")
    return root


def measure(kind: str, n: int, rounds: int = ROUNDS) -> dict[str, Any]:
    """Lookups/s of this interpreter's hashcore on the cached bank, with a result digest."""
    from hashcore.signals import Signal

    faiss.omp_set_num_threads(1)
    root = build(kind, n)
    queries = np.load(root / "queries.npy")
    batches = [
        [[Signal("pdq", code.tobytes())] for code in queries[i : i + BATCH]]
        for i in range(0, len(queries), BATCH)
    ]
    # A private copy per run: a tree may migrate the store's schema or rewrite its snapshots on
    # close, and the other tree must still open the cached bank as it was built.
    private = Path(tempfile.mkdtemp(prefix="lookup-run-", dir=CACHE))
    shutil.copytree(root / "store", private / "store")
    started = time.perf_counter()
    try:
        return _measure_store(private / "store", kind, n, batches, rounds, started)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _measure_store(
    store: Path, kind: str, n: int, batches: list[Any], rounds: int, started: float
) -> dict[str, Any]:
    import hashcore
    from hashcore.engine import Engine

    with Engine(store) as engine:
        opened = time.perf_counter() - started
        engine.lookup_many(batches[0])  # warm-up: compiled kernels, page cache
        best = float("inf")
        digest = hashlib.sha256()
        hits = 0
        for r in range(rounds):
            elapsed = 0.0
            for batch in batches:
                t0 = time.perf_counter()
                results = engine.lookup_many(batch)
                elapsed += time.perf_counter() - t0
                if r == 0:
                    for number, result in enumerate(results):
                        hits += len(result.matches)
                        for match in result.matches:
                            for s in match.signals:
                                digest.update(
                                    f"{number}:{match.entry_id}:{s.distance}:{s.variant}:"
                                    f"{s.stored_variant};".encode()
                                )
            best = min(best, elapsed)
    queries = sum(len(batch) for batch in batches)
    return {
        "kind": kind,
        "n": n,
        "hashcore": str(Path(hashcore.__file__).resolve().parents[1]),
        "lookups_per_s": queries / best,
        "hits_per_query": hits / queries,
        "open_s": opened,
        "digest": digest.hexdigest()[:16],
    }


def faiss_flat(kind: str, n: int) -> dict[str, Any]:
    """The raw floor: one ``IndexBinaryFlat.range_search`` per batch on the same codes."""
    faiss.omp_set_num_threads(1)
    root = build(kind, n)
    codes, queries = np.load(root / "codes.npy"), np.load(root / "queries.npy")
    index = faiss.IndexBinaryFlat(BITS)
    index.add(codes)
    hits, elapsed = 0, 0.0
    for i in range(0, len(queries), BATCH):
        t0 = time.perf_counter()
        lims, _, _ = index.range_search(queries[i : i + BATCH], THRESHOLD + 1)  # strict radius
        elapsed += time.perf_counter() - t0
        hits += int(lims[-1])
    return {"lookups_per_s": len(queries) / elapsed, "hits_per_query": hits / len(queries)}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_bench_lookup(benchmark: Any, kind: str) -> None:
    result = benchmark.pedantic(measure, args=(kind, SIZE), rounds=1, iterations=1)
    flat = faiss_flat(kind, SIZE)
    benchmark.extra_info.update(result)
    benchmark.extra_info["faiss_flat_lookups_per_s"] = flat["lookups_per_s"]
    print(
        f"\n{kind} {SIZE:,}: {result['lookups_per_s']:,.0f} lookups/s, "
        f"{result['hits_per_query']:.1f} hits/query; FAISS flat {flat['lookups_per_s']:,.0f}/s "
        f"({flat['hits_per_query']:.1f} hits/query)"
    )
    if kind == "clustered":
        assert result["hits_per_query"] > 50
    assert result["hits_per_query"] == pytest.approx(flat["hits_per_query"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("action", choices=["build", "measure", "faiss"])
    parser.add_argument("--kind", choices=KINDS, default="clustered")
    parser.add_argument("--n", type=int, default=SIZE)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    if args.action == "build":
        print(build(args.kind, args.n))
    elif args.action == "measure":
        print(json.dumps(measure(args.kind, args.n, args.rounds)), flush=True)
    else:
        print(json.dumps(faiss_flat(args.kind, args.n)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
