"""Bank import throughput and memory: synthetic partner files of N records, parsed and applied.

Run: ``.venv/bin/python -m pytest bench/test_bench_import.py --benchmark-enable -s``
(sizes: ``HASHCORE_BENCH_IMPORT_SIZES=100000,1000000``; default 100000 keeps the run quick).

For each format and size it reports parse-only records/s, parse peak memory (tracemalloc, a
separate pass because tracing slows Python down), and full-import records/s into a fresh
store as ``hashcore bank import`` does it: :func:`hashcore.formats.background.read_feed` (files
of 8 MB or more are read by a child process) into :func:`hashcore.formats.importer.
import_updates` (transactions of 20,000 records). The same import with the reader in-process
runs beside it, in the same test, for the ratio.
The import time includes the indexes catching up once at its end (here a rebuild of both the
PDQ and the MD5 index from the store), so the store is ready for lookups when it stops. Memory
flat in file size means the parse peak at 10x the records stays about the same. The goal: 1M
records of either format imported in under 60 s.

Values are digests by default, spread like real hashes: each new value lands on a random page
of SQLite's value index, which is what a real feed costs. ``HASHCORE_BENCH_IMPORT_VALUES=
sequential`` uses increasing numbers instead (every insert lands at the end of the index: the
best case, ~25% faster; see ``bench/README.md``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from hashcore.engine import Engine
from hashcore.formats import BankUpdate, get_format
from hashcore.formats.background import BACKGROUND_MIN_BYTES, read_feed
from hashcore.formats.importer import import_updates
from hashcore.registry import load_registry

SIZES = [int(s) for s in os.environ.get("HASHCORE_BENCH_IMPORT_SIZES", "100000").split(",")]
HASHED = os.environ.get("HASHCORE_BENCH_IMPORT_VALUES", "hashed") != "sequential"
RESULTS: list[str] = []


def pdq(n: int) -> str:
    if HASHED:
        return hashlib.sha256(n.to_bytes(8, "big")).hexdigest()
    return f"{n * 2654435761 % (1 << 256):064x}"


def md5(n: int) -> str:
    if HASHED:
        return hashlib.md5(n.to_bytes(8, "big")).hexdigest()
    return f"{n:032x}"


def write_native(path: Path, n: int) -> None:
    with path.open("w") as out:
        out.write(json.dumps({"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}}))
        out.write("\n")
        for i in range(n):
            out.write(
                f'{{"external_id":"e{i}","status":"active","labels":["l"],"source":"s",'
                f'"created_at":1.0,"updated_at":2.0,"signals":[{{"type":"pdq","hex":"{pdq(i)}"}},'
                f'{{"type":"md5","hex":"{md5(i)}"}}]}}\n'
            )


def write_ncmec(path: Path, n: int) -> None:
    with path.open("w") as out:
        out.write(
            '<?xml version="1.0"?><queryResult xmlns="https://hashsharing.ncmec.org/'
            'hashsharing/v2"><images>'
        )
        for i in range(n):
            out.write(
                f'<image><member id="7">M</member><timestamp>2026-03-02T10:00:00Z</timestamp>'
                f"<id>e{i}</id><classification>A1</classification><fingerprints>"
                f"<md5>{md5(i)}</md5><pdq>{pdq(i)}</pdq></fingerprints></image>\n"
            )
        out.write("</images></queryResult>\n")


WRITERS: dict[str, Callable[[Path, int], None]] = {"hashcore": write_native, "ncmec": write_ncmec}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_bench_import(fmt: str, size: int, tmp_path: Path) -> None:
    registry = load_registry()
    path = tmp_path / f"feed.{fmt}"
    WRITERS[fmt](path, size)
    megabytes = path.stat().st_size / 1e6

    start = time.perf_counter()
    with path.open("rb") as stream:
        parsed = sum(isinstance(i, BankUpdate) for i in get_format(fmt, registry).read(stream))
    parse_rate = parsed / (time.perf_counter() - start)
    assert parsed == size

    tracemalloc.start()
    with path.open("rb") as stream:
        for _ in get_format(fmt, registry).read(stream):
            pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    seconds = {}
    for reader, min_bytes in (("child", BACKGROUND_MIN_BYTES), ("in-process", 1 << 62)):
        with Engine(tmp_path / reader, registry) as engine:
            engine.open_indexes()  # timed as before: the import brings open indexes up to date
            engine.create_bank("b")
            start = time.perf_counter()
            items = read_feed(fmt, path, registry, min_bytes=min_bytes)
            summary = import_updates(engine, "b", items)
            seconds[reader] = time.perf_counter() - start
        assert summary.added == size
    line = (
        f"{fmt:9} {size:>9,} records ({megabytes:,.0f} MB): parse {parse_rate:,.0f}/s, "
        f"parse peak {peak / 1e6:.1f} MB, import {size / seconds['child']:,.0f}/s "
        f"({seconds['child']:.1f} s; reader in-process: {seconds['in-process']:.1f} s, "
        f"x{seconds['in-process'] / seconds['child']:.2f})"
    )
    RESULTS.append(line)
    print("\n" + line)
