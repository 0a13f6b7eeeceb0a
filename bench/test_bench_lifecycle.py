"""Lifecycle: restart to the first answered lookup, index build, import; each beside a baseline.

Run: ``.venv/bin/python -m pytest bench/test_bench_lifecycle.py --benchmark-enable -s``
(``make bench`` runs it). Sizes: ``HASHCORE_BENCH_LIFECYCLE_SIZES`` (restart and build, default
``1000000``; add ``10000000`` for the 10M cases: building that store takes about half an hour
and 7 GB of disk, once), ``HASHCORE_BENCH_LIFECYCLE_IMPORT`` (records imported, default
``1000000``; 0 skips). ``HASHCORE_BENCH_CACHE`` puts the built stores and feeds elsewhere than
``bench/.cache`` (e.g. ``/tmp``, outside the repository).

* **Restart**: a store of N entries, each with a PDQ, an MD5 and a pHash (random values, one
  bank), indexes snapshotted. A fresh process imports hashcore, opens the engine, opens every
  index (what a server does before SERVING) and answers one lookup. Printed per phase, beside
  the baseline: reading the snapshot files' bytes from disk (the least a load can do), as a
  ratio. Targets (issue 14): < 2 s at 1M, < 5 s at 10M. The first start of a fresh install
  (an empty numba cache: the search kernel is compiled) is timed once beside it.
* **Index build**: ``HammingIndex`` of N PDQ codes built from scratch (the multi-index tables),
  beside the baseline: numpy sorting N 64-bit keys once per table, as a ratio. Target: < 5 s
  at 10M.
* **Import**: N records of the ``hashcore`` JSON-lines format and of NCMEC XML (one PDQ and
  one MD5 each, as ``bench/test_bench_import.py`` writes them) into a fresh store through
  ``Engine.import_file``, what ``hashcore bank import`` calls (the file parsed into columns by a
  child process, written in transactions of 20,000), until lookups see them; beside the
  baseline: a bare ``executemany`` of the same rows (external id, PDQ, MD5) into one SQLite
  table, in transactions of 20,000. Target: 1M records < 60 s. Printed with the importing
  process's peak RSS while writing (flat: SQLite's page cache of 128 MB fills, then nothing
  grows with the feed), once the indexes are built (they grow with the store), and the feed
  reader's (bounded by the records it may parse ahead). A 10M import
  (``HASHCORE_BENCH_LIFECYCLE_IMPORT=10000000``) needs about 5.5 GB for the two cached feeds
  and, per format while it runs, its store and WAL under pytest's ``tmp_path`` (see
  ``bench/README.md``); the baseline's rows are read 20,000 at a time.

The store is built once through ``import_updates`` and cached; each restart copies nothing
(the snapshots are only read) and runs in its own process, so the page cache is warm as on a
server restart, and no compiled kernel is in memory.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("HASHCORE_BENCH_CACHE", REPO / "bench" / ".cache"))
SIZES = [int(s) for s in os.environ.get("HASHCORE_BENCH_LIFECYCLE_SIZES", "1000000").split(",")]
IMPORT_SIZE = int(os.environ.get("HASHCORE_BENCH_LIFECYCLE_IMPORT", "1000000"))
FAMILIES = {"pdq": 32, "md5": 16, "phash": 8}

RESTART = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from hashcore.engine import Engine
from hashcore.signals import Signal
t1 = time.perf_counter()
engine = Engine(Path(sys.argv[1]))
t2 = time.perf_counter()
engine.open_indexes()
t3 = time.perf_counter()
query = [Signal(family, bytes.fromhex(value)) for family, value in json.loads(sys.argv[2]).items()]
result = engine.lookup_signals(query)
t4 = time.perf_counter()
assert result.matches, result
print(json.dumps({"import_s": t1 - t0, "open_store_s": t2 - t1, "open_indexes_s": t3 - t2,
                  "first_lookup_s": t4 - t3, "total_s": t4 - t0,
                  "values": {f: s.values for f, s in engine.index_status().items()}}))
engine.close()
"""


def store_of(n: int) -> tuple[Path, dict[str, str]]:
    """The cached store of ``n`` entries and one stored entry's values (hex) to look up."""
    from hashcore.engine import Engine
    from hashcore.formats import BankUpdate
    from hashcore.formats.importer import import_updates
    from hashcore.signals import Signal
    from hashcore.store.schema import SCHEMA_VERSION

    root = CACHE / f"lifecycle-{n}-v{SCHEMA_VERSION}"  # an older store would migrate when timed
    probe = root / "probe.json"
    if probe.exists():
        return root / "store", json.loads(probe.read_text())
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    chunk = 100_000

    def records() -> Iterator[BankUpdate]:
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            values = {
                f: rng.integers(0, 256, (size, b), dtype=np.uint8) for f, b in FAMILIES.items()
            }
            for i in range(size):
                signals = tuple(Signal(f, values[f][i].tobytes()) for f in FAMILIES)
                yield BankUpdate(f"e{start + i}", signals)

    with Engine(root / "store") as engine:
        engine.create_bank("bench")
        summary = import_updates(engine, "bench", records())
        engine.compact()  # every index folded and snapshotted
        entry = engine.store.find_entry("bench", "e0")
    assert summary.added == n, summary
    values = {s.type: s.value.hex() for s in entry.signals if s.variant is None}
    probe.write_text(json.dumps(values))
    return root / "store", values


def read_bytes(directory: Path) -> float:
    """Seconds to read every file under ``directory``: the floor of loading them."""
    started = time.perf_counter()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                while handle.read(1 << 24):
                    pass
    return time.perf_counter() - started


@pytest.mark.parametrize("n", SIZES)
def test_restart_to_first_lookup(benchmark: Any, n: int) -> None:
    store, probe = store_of(n)
    snapshots = store / "indexes"

    def restart(**env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", RESTART, str(store), json.dumps(probe)],
            capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(),
            env={**os.environ, **env},
        )  # fmt: skip
        return done.stdout.strip()

    out = benchmark.pedantic(restart, rounds=3, iterations=1)
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    floor = read_bytes(snapshots)
    size_mb = sum(p.stat().st_size for p in snapshots.rglob("*") if p.is_file()) / 2**20
    benchmark.extra_info.update(result, snapshot_mb=size_mb, read_snapshots_s=floor)
    print(
        f"\nrestart {n:,}: {result['total_s']:.2f} s to the first answer "
        f"(imports {result['import_s']:.2f}, store {result['open_store_s']:.2f}, "
        f"indexes {result['open_indexes_s']:.2f}, first lookup {result['first_lookup_s']:.2f}); "
        f"reading the {size_mb:,.0f} MB of snapshots {floor:.2f} s: indexes/read "
        f"x{result['open_indexes_s'] / max(floor, 1e-9):.1f}; {load()}"
    )
    with tempfile.TemporaryDirectory() as empty:  # a fresh install: nothing compiled yet
        started = time.perf_counter()
        first = json.loads(restart(NUMBA_CACHE_DIR=empty).splitlines()[-1])
        whole = time.perf_counter() - started
    benchmark.extra_info.update(first_start_s=first["total_s"])
    print(
        f"first start of a fresh install {n:,} (empty numba cache): {first['total_s']:.2f} s to "
        f"the first answer (indexes {first['open_indexes_s']:.2f}, first lookup "
        f"{first['first_lookup_s']:.2f}; process {whole:.2f} s): "
        f"x{first['total_s'] / result['total_s']:.1f} a warm restart; {load()}"
    )


@pytest.mark.parametrize("n", SIZES)
def test_index_build(benchmark: Any, n: int) -> None:
    from hashcore.index.hamming import HammingIndex, choose_substrings

    rng = np.random.default_rng(n + 1)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    ids = np.arange(n, dtype=np.int64)

    def build() -> None:
        index = HammingIndex(256)
        index.add_array(ids, codes)

    benchmark.pedantic(build, rounds=2, iterations=1)
    tables = choose_substrings(256, n)
    keys = rng.integers(0, 2**63, n, dtype=np.uint64)
    started = time.perf_counter()
    for _ in range(tables):
        np.sort(keys)
    floor = time.perf_counter() - started
    built = benchmark.stats.stats.min
    benchmark.extra_info.update(tables=tables, sort_floor_s=floor)
    print(
        f"\nindex build {n:,}: {built:.2f} s; {tables} numpy sorts of {n:,} keys {floor:.2f} s: "
        f"build/sorts x{built / max(floor, 1e-9):.1f}; {load()}"
    )


def load() -> str:
    """The machine's load average now: every figure is printed with it (the VM is shared)."""
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def feed_of(fmt: str, n: int) -> Path:
    """The cached feed file of ``n`` records in ``fmt``, as ``test_bench_import`` writes it."""
    from test_bench_import import WRITERS

    path = CACHE / f"feed-{n}.{fmt}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        WRITERS[fmt](path.with_suffix(".tmp"), n)
        path.with_suffix(".tmp").rename(path)
    return path


def bare_executemany(rows: Iterator[tuple[str, bytes, bytes]], path: Path) -> float:
    """Seconds to write ``rows`` with ``executemany`` into one table, 20,000 a transaction:
    the least SQLite does for them (no entries, values, refs or change log). Only the writes
    are timed; ``rows`` are taken 20,000 at a time (10M rows held at once would take GBs)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE rows (external_id TEXT PRIMARY KEY, pdq BLOB, md5 BLOB)")
    seconds = 0.0
    while part := list(itertools.islice(rows, 20_000)):
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO rows VALUES (?, ?, ?)", part)
        conn.execute("COMMIT")
        seconds += time.perf_counter() - started
    conn.close()
    return seconds


def feed_rows(fmt: str, feed: Path, registry: Any) -> Iterator[tuple[str, bytes, bytes]]:
    """The feed's records as (external id, PDQ, MD5) rows, read one by one."""
    from hashcore.formats import BankUpdate, get_format

    with feed.open("rb") as stream:
        for item in get_format(fmt, registry).read(stream):
            if isinstance(item, BankUpdate):
                values = {s.type: s.value for s in item.signals}
                yield item.external_id, values["pdq"], values["md5"]


def reset_peak_rss() -> None:
    """Start this process's peak RSS (``VmHWM``) afresh (Linux: ``clear_refs`` 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak RSS in MB of process ``pid`` (this one: since :func:`reset_peak_rss`); 0 if it
    has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    lines = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(lines[0].split()[1]) / 1024 if lines else 0.0


class ChildPeak(threading.Thread):
    """The largest peak RSS of this process's children (the import's feed reader), read from
    ``/proc`` twice a second until :meth:`stop`."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        parent = f"PPid:\t{os.getpid()}\n"
        while not self._done.wait(0.5):
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    if parent in status.read_text():
                        self.peak = max(self.peak, peak_rss_mb(status.parent.name))
                except OSError:
                    continue

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


@pytest.mark.skipif(IMPORT_SIZE <= 0, reason="HASHCORE_BENCH_LIFECYCLE_IMPORT=0")
@pytest.mark.parametrize("fmt", ["hashcore", "ncmec"])
def test_import(benchmark: Any, fmt: str, tmp_path: Path) -> None:
    from hashcore.engine import Engine
    from hashcore.registry import load_registry

    registry = load_registry()
    feed = feed_of(fmt, IMPORT_SIZE)
    runs = iter(range(10))
    writing: list[float] = []

    def run() -> None:
        with Engine(tmp_path / f"store-{next(runs)}", registry) as engine:
            engine.open_indexes()  # the import brings open indexes up to date, as a server's
            engine.create_bank("b")
            catch_up = engine.catch_up

            def caught_up() -> None:  # the peak while writing, before the index is built
                writing.append(peak_rss_mb())
                catch_up()

            engine.catch_up = caught_up  # type: ignore[method-assign]
            summary = engine.import_file("b", feed, format=fmt)
        assert summary.added == IMPORT_SIZE, summary

    reset_peak_rss()
    rss_before = peak_rss_mb()  # the RSS now: what the process held before the import
    reader = ChildPeak()
    reader.start()
    benchmark.pedantic(run, rounds=1, iterations=1)
    seconds = benchmark.stats.stats.min
    rss, reader_rss = peak_rss_mb(), reader.stop()
    stores = list(tmp_path.glob("store-*"))
    disk_mb = sum(f.stat().st_size for d in stores for f in d.rglob("*") if f.is_file()) / 2**20
    for store in stores:  # a 10M store takes GBs: gone before the next format's
        shutil.rmtree(store)
    floor = bare_executemany(feed_rows(fmt, feed, registry), tmp_path / "bare.sqlite3")
    for bare in tmp_path.glob("bare.sqlite3*"):
        bare.unlink()
    benchmark.extra_info.update(
        import_s=seconds,
        executemany_s=floor,
        peak_rss_mb=rss,
        writing_peak_rss_mb=writing[0],
        store_mb=disk_mb,
        reader_peak_rss_mb=reader_rss,
    )
    print(
        f"\nimport {IMPORT_SIZE:,} {fmt}: {seconds:.1f} s ({IMPORT_SIZE / seconds:,.0f}/s); "
        f"a bare executemany of the same rows {floor:.1f} s: import/executemany "
        f"x{seconds / max(floor, 1e-9):.1f}; peak RSS {writing[0]:,.0f} MB while writing, "
        f"{rss:,.0f} MB with the index built (at its start {rss_before:,.0f} MB), "
        f"store {disk_mb:,.0f} MB on disk, "
        + (f"feed reader {reader_rss:,.0f} MB; " if reader_rss else "feed read in process; ")
        + load()
    )
