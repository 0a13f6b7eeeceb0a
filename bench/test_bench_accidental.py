"""Accidental matches at scale: random hash-only PDQ+pHash lookups against a random bank.

Issue 10's check: 20,000 hash-only lookups of random PDQ+pHash pairs against a bank of 1M random
entries must give at most 1 match. The same run counts, by brute force over the pHash codes, how
many accidents the old rule (pHash alone at 8) would have reported, so the before/after figures
come from one data set in one run.

    HASHCORE_BENCH_ACCIDENTAL_SIZE=1000000 .venv/bin/python -m pytest \\
        bench/test_bench_accidental.py --benchmark-enable -s

Takes about 2 minutes at 1M on 2 cores (most of it the import of the bank).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from hashcore.engine import Engine
from hashcore.registry import load_registry
from hashcore.signals import Signal, uniform_hamming_tail

SIZE = int(os.environ.get("HASHCORE_BENCH_ACCIDENTAL_SIZE", "1000000"))
QUERIES = 20_000
BATCH = 1_000


def _signals(phash: np.ndarray, pdq: np.ndarray) -> list[Signal]:
    return [Signal("phash", phash.tobytes()), Signal("pdq", pdq.tobytes(), quality=100)]


def test_random_lookups_against_a_random_bank(tmp_path: Path, benchmark: pytest.FixtureRequest):
    rng = np.random.default_rng(2026)
    stored_phash = rng.integers(0, 256, size=(SIZE, 8), dtype=np.uint8)
    stored_pdq = rng.integers(0, 256, size=(SIZE, 32), dtype=np.uint8)
    query_phash = rng.integers(0, 256, size=(QUERIES, 8), dtype=np.uint8)
    query_pdq = rng.integers(0, 256, size=(QUERIES, 32), dtype=np.uint8)

    started = time.perf_counter()
    with Engine(tmp_path / "store", load_registry()) as engine:
        engine.create_bank("random")
        with engine.batch(catch_up=False) as writer:
            for number in range(SIZE):
                writer.upsert_entry(
                    "random", f"r{number}", _signals(stored_phash[number], stored_pdq[number])
                )
        engine.catch_up()
        imported = time.perf_counter() - started

        queries = [_signals(query_phash[n], query_pdq[n]) for n in range(QUERIES)]

        def run() -> int:
            found = 0
            for start in range(0, QUERIES, BATCH):
                results = engine.lookup_many(queries[start : start + BATCH])
                found += sum(len(result.matches) for result in results)
            return found

        matches = benchmark.pedantic(run, rounds=1, iterations=1)

    # Brute force: pHash pairs within 8 and within 4 (the old and the new solo limits).
    codes = stored_phash.view(">u8").ravel()
    within = {4: 0, 8: 0}
    for value in query_phash.view(">u8").ravel():
        distances = np.bitwise_count(np.bitwise_xor(codes, value))
        for limit in within:
            within[limit] += int((distances <= limit).sum())
    pairs = SIZE * QUERIES
    benchmark.extra_info.update(
        size=SIZE,
        queries=QUERIES,
        matches=matches,
        phash_within_8=within[8],
        phash_within_4=within[4],
        expected_within_8=pairs * uniform_hamming_tail(64, 8),
        expected_within_4=pairs * uniform_hamming_tail(64, 4),
        import_seconds=round(imported, 1),
    )
    print(
        f"\n{SIZE:,} random entries, {QUERIES:,} random hash-only lookups: {matches} match(es);"
        f" pHash pairs within 8 (old rule, alone): {within[8]} (uniform law expects"
        f" {pairs * uniform_hamming_tail(64, 8):.2f}); within 4 (new solo limit): {within[4]}"
        f" (expects {pairs * uniform_hamming_tail(64, 4):.2g}); import {imported:.0f} s"
    )
    assert matches <= 1
