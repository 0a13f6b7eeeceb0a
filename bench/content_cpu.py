"""Where a content lookup's CPU goes: the server, its hashing workers and the caller, per call.

    .venv/bin/python bench/content_cpu.py [ROUNDS] [CALLS]

Starts ``hashcore serve`` with ``--workers 1`` and then 2 on a small store (ten of the
benchmark's 1 MP JPEGs banked), warms every worker, sends CALLS content lookups (default 120,
the benchmark's JPEGs) from two caller threads, and prints the wall time and the CPU time a
call of the server process, of its worker processes (read from ``/proc``) and of this process
(the callers): the terms that bound how far 2 workers can scale past 1 on 2 cores
(``test_content_lookups_workers``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PIL import Image
from test_bench_server import ServerProcess, run_concurrently

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.engine import Engine

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def pictures(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 1155x866 JPEGs: crops of the sample photos (a different crop each
    time round them), the benchmark's folder (``test_bench_parallel.jpeg_folder``)."""
    sources = [
        Image.open(p).convert("RGB") for p in sorted((REPO / "tests/data/pdq").rglob("*.jpg"))
    ]
    sources = [s for s in sources if min(s.size) >= 64]
    paths = []
    for number in range(count):
        picture = sources[number % len(sources)]
        cut = (number // len(sources)) * 0.02
        box = (int(picture.width * cut), int(picture.height * cut), picture.width, picture.height)
        path = folder / f"{number:03d}.jpg"
        picture.crop(box).resize((1155, 866), Image.Resampling.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def cpu_split(server_pid: int) -> tuple[float, float, float]:
    """CPU seconds so far of the server's descendants (its hashing processes), of the server
    process itself and of this process (the callers)."""
    own = os.times()
    return (
        sum(map(cpu_seconds, descendants(server_pid))),
        cpu_seconds(server_pid),
        own.user + own.system,
    )


def started(servers: list[ServerProcess], workers: int, content: bytes) -> list[ServerProcess]:
    """``servers`` after a lookup per worker each, which starts their hashing processes."""
    for server in servers:
        for _ in range(workers):
            server.matching.Lookup(pb.LookupRequest(content=content), timeout=120)
    return servers


def lookups_seconds(servers: list[ServerProcess], contents: list[bytes], callers: int) -> float:
    """Wall time of ``contents`` sent as content lookups by ``callers`` threads, caller ``n``
    to ``servers[n % len(servers)]``."""

    def caller(number: int) -> None:
        server = servers[number % len(servers)]
        for content in contents[number::callers]:
            server.matching.Lookup(pb.LookupRequest(content=content), timeout=120)

    return run_concurrently(callers, caller)


def measure(store: Path, contents: list[bytes], workers: int) -> float:
    server = ServerProcess(store, workers)
    try:
        started([server], workers, contents[0])
        before = cpu_split(server.process.pid)
        wall = lookups_seconds([server], contents, 2)
        hashing, serving, calling = (
            a - b for a, b in zip(cpu_split(server.process.pid), before, strict=True)
        )
    finally:
        server.close()
    calls = len(contents) / 1000  # milliseconds a call
    print(
        f"--workers {workers}: {wall / calls:.1f} ms a call; CPU a call: server "
        f"{serving / calls:.2f} ms, workers {hashing / calls:.2f} ms, callers "
        f"{calling / calls:.2f} ms",
        flush=True,
    )
    return wall


def main(rounds: int = 2, count: int = 120) -> None:
    with tempfile.TemporaryDirectory(prefix="hashcore-content-cpu-") as scratch:
        paths = pictures(Path(scratch), count)
        store = Path(scratch) / "store"
        with Engine(store) as engine:
            engine.create_bank("known")
            for path in paths[:10]:
                engine.add_file("known", path)
        contents = [path.read_bytes() for path in paths]
        for _ in range(rounds):
            one, two = measure(store, contents, 1), measure(store, contents, 2)
            print(f"2 workers / 1: x{one / two:.2f}", flush=True)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
