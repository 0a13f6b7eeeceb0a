"""What this machine gives two independent processes: the yardstick for every scaling figure.

    .venv/bin/python bench/machine_scaling.py [ROUNDS] [FILES]

Runs one process, then two at once, ROUNDS times (default 6) for each of two loops: plain
Python arithmetic, and hashcore hashing FILES (default 80) of the benchmark's 1 MP JPEGs in
process (:func:`hashcore.hashing.hash_file`, after three to warm up). Prints each round's wall
and CPU times and the throughput of two at once against one (``2 * one / slower of two``): on a
machine whose cores are its own this is ~x2.0 every round; where cores are shared with other
tenants or the vCPUs' speed moves, the rounds spread, and no parallel code can do better than
they do. ``test_bench_parallel.py`` sets the same yardstick beside ``--jobs`` and ``--workers``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from content_cpu import pictures

ARITHMETIC = """
import time
started, wall, total = time.process_time(), time.perf_counter(), 0
for number in range(12_000_000):
    total += number
print(time.process_time() - started, time.perf_counter() - wall)
"""

HASHING = """
import sys, time
from pathlib import Path
from hashcore.hashing import hash_file
from hashcore.registry import load_registry
registry = load_registry()
paths = sorted(Path(sys.argv[1]).glob("*.jpg"))
for path in paths[:3]:
    hash_file(path, registry)
started, wall = time.process_time(), time.perf_counter()
for path in paths[3:]:
    hash_file(path, registry)
print(time.process_time() - started, time.perf_counter() - wall)
"""


def at_once(code: str, count: int, *args: str) -> list[tuple[float, float]]:
    """(CPU seconds, wall seconds) of the loop in each of ``count`` processes started together."""
    running = [
        subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    cpu_wall = []
    for process in running:
        out, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"the loop failed (exit {process.returncode})")
        cpu, wall = map(float, out.split())
        cpu_wall.append((cpu, wall))
    return cpu_wall


def compare(name: str, code: str, rounds: int, *args: str) -> float:
    ratios = []
    for number in range(rounds):
        (one,) = at_once(code, 1, *args)
        two = at_once(code, 2, *args)
        ratios.append(2 * one[1] / max(wall for _, wall in two))
        print(
            f"{name} round {number + 1}: one {one[1]:.2f} s (CPU {one[0]:.2f}); two at once "
            + " / ".join(f"{wall:.2f} s (CPU {cpu:.2f})" for cpu, wall in two)
            + f": x{ratios[-1]:.2f}",
            flush=True,
        )
    median = statistics.median(ratios)
    print(f"{name}: two processes at once x{median:.2f} one (median of {rounds}; "
          f"x{min(ratios):.2f}-{max(ratios):.2f})", flush=True)  # fmt: skip
    return median


def main(rounds: int = 6, files: int = 80) -> None:
    compare("python arithmetic", ARITHMETIC, rounds)
    with tempfile.TemporaryDirectory(prefix="hashcore-machine-") as folder:
        pictures(Path(folder), files + 3)
        compare("hashcore hashing", HASHING, rounds, folder)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
