"""In-process cost of one ``Engine.lookup_many`` call, by what the query holds.

    .venv/bin/python bench/lookup_cost.py [CALLS] [--profile]

Banks ten of the benchmark's 1 MP JPEGs (``content_cpu.pictures``), then times single-query
lookups of: one PDQ hash that matches, one that misses, a file's three plain hashes (MD5, PDQ,
pHash: a hash-only lookup) and a content lookup's signals (every lookup variant). Prints the
best of 5 rounds of CALLS calls each (default 300): the fixed cost a call pays on top of the
index search, which bounds a server's single-call rate and its CPU a content call
(``test_content_lookups_workers``). ``--profile`` adds cProfile's cumulative listing for the
three plain hashes.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from content_cpu import pictures

from hashcore.engine import Engine
from hashcore.hashing import hash_file
from hashcore.registry import load_registry
from hashcore.signals import Signal


def best_ms(engine: Engine, query: Sequence[Signal], calls: int) -> float:
    """Milliseconds a call, best of 5 rounds of ``calls`` after 100 to warm up."""
    for _ in range(100):
        engine.lookup_many([query])
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            engine.lookup_many([query])
        rounds.append((time.perf_counter() - started) / calls * 1000)
    return min(rounds)


def main(calls: int = 300, profile: bool = False) -> None:
    registry = load_registry()
    with tempfile.TemporaryDirectory(prefix="hashcore-lookup-cost-") as scratch:
        paths = pictures(Path(scratch), 12)
        with Engine(Path(scratch) / "store", registry) as engine:
            engine.create_bank("known")
            for path in paths[:10]:
                engine.add_file("known", path)
            content = hash_file(paths[3], registry, variants=True).signals
            hashed = hash_file(paths[3], registry).signals
            plain = [s for s in hashed if s.variant in (None, "orig")]
            pdq = [s for s in plain if s.type == "pdq"]
            miss = [Signal("pdq", bytes(32), quality=100)]
            queries = {
                "one PDQ that matches": pdq,
                "one PDQ that misses": miss,
                f"a file's {len(plain)} plain hashes": plain,
                f"a content lookup's {len(content)} signals": content,
            }
            for name, query in queries.items():
                print(f"{name}: {best_ms(engine, query, calls):.3f} ms a call", flush=True)
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(calls):
                    engine.lookup_many([plain])
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    numbers = [int(arg) for arg in sys.argv[1:] if arg.isdigit()]
    main(*numbers[:1], profile="--profile" in sys.argv[1:])
