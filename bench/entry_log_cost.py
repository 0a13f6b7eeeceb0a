"""What the ``entry_log`` triggers (schema v6, docs/sharing.md) cost a bulk import.

Imports the same N hashcore-shaped records (a PDQ with quality, an MD5, two labels) into two
fresh stores through ``StoreWriter.upsert_entries`` in batches of 10,000, one store with the
triggers and one with them dropped, alternating, ``--rounds`` times each, in one run. Prints
each time and the ratio of the medians.

    .venv/bin/python bench/entry_log_cost.py --records 200000 --rounds 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from hashcore.signals import Signal
from hashcore.store import Store
from hashcore.store.writer import Upsert

BATCH = 10_000


def records(count: int, seed: int = 7) -> list[Upsert]:
    rng = random.Random(seed)
    labels = [("csam", "a1"), ("csam", "b1"), ("ncii",)]
    return [
        Upsert(
            f"r{i}",
            (
                Signal("pdq", rng.randbytes(32), quality=rng.randint(50, 100)),
                Signal("md5", rng.randbytes(16)),
            ),
            labels[i % 3],
        )
        for i in range(count)
    ]


def import_once(updates: list[Upsert], triggers: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="hashcore-bench-") as tmp:
        store = Store(Path(tmp))
        try:
            if not triggers:
                for (name,) in store._writer.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                ).fetchall():
                    store._writer.execute(f"DROP TRIGGER {name}")
            with store.transaction() as writer:
                writer.create_bank("bench")
            started = time.perf_counter()
            for start in range(0, len(updates), BATCH):
                with store.transaction() as writer:
                    writer.upsert_entries("bench", updates[start : start + BATCH])
            elapsed = time.perf_counter() - started
            logged = store._writer.execute("SELECT COUNT(*) FROM entry_log").fetchone()[0]
            assert logged == (len(updates) if triggers else 0), logged
            return elapsed
        finally:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    updates = records(args.records)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.rounds):
        for triggers in (False, True):
            elapsed = import_once(updates, triggers)
            times[triggers].append(elapsed)
            print(f"triggers={triggers!s:5} {args.records:,} records: {elapsed:.2f} s", flush=True)
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    print(f"median without {without:.2f} s, with {with_:.2f} s: x{with_ / without:.3f}")


if __name__ == "__main__":
    main()
