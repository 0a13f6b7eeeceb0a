"""Load soak of a real server on 127.0.0.1: mixed lookups, watches and an import, at once.

``make soak`` runs it after the crash tests (``SOAK_SECONDS=`` sets the duration, default 120;
``SOAK_THREADS=`` the lookup threads, default 8). Client threads mix hash-only lookups, content
lookups and LookupBatch streams; one thread holds WatchMatches open; one imports feed after feed
into another bank the whole time. Every lookup checks its answer (the known entry is found), so
the import must never make a known entry disappear. Prints counts, errors and latency
percentiles per call type; exits 1 on any error or wrong answer.

    python bench/soak_load.py --seconds 60 --threads 8
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from hashcore.api.v1 import hashcore_pb2 as pb  # noqa: E402
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc  # noqa: E402
from hashcore.engine import Engine  # noqa: E402
from hashcore.registry import load_registry  # noqa: E402
from hashcore_server.config import Limits, ServerConfig  # noqa: E402
from hashcore_server.server import create_server  # noqa: E402

IMAGE = ROOT / "tests" / "data" / "pdq" / "dih" / "bridge-1-original.jpg"
KNOWN = 500
"""Entries of the bank every lookup checks against."""
FEED_SIZE = 2000


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.wrong: list[str] = []

    def time(self, kind: str, started: float) -> None:
        with self.lock:
            self.latency[kind].append(time.perf_counter() - started)

    def error(self, kind: str, error: BaseException) -> None:
        with self.lock:
            detail = error.code().name if isinstance(error, grpc.RpcError) else repr(error)
            self.errors.append(f"{kind}: {detail}")

    def incorrect(self, what: str) -> None:
        with self.lock:
            self.wrong.append(what)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def md5_value(n: int, salt: str = "known") -> bytes:
    import hashlib

    return hashlib.md5(f"{salt}-{n}".encode()).digest()


def feed(round_number: int) -> bytes:
    header = {"format": "hashcore-bank", "version": 1, "bank": {"name": "feed"}}
    lines = [json.dumps(header)]
    for n in range(FEED_SIZE):
        value = md5_value(round_number * FEED_SIZE + n, "feed").hex()
        lines.append(
            json.dumps(
                {
                    "external_id": f"r{round_number}-{n}",
                    "signals": [{"type": "md5", "hex": value}],
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def run(seconds: float, threads: int) -> int:
    registry = load_registry()
    with tempfile.TemporaryDirectory(prefix="hashcore-soak-") as tmp:
        engine = Engine(Path(tmp) / "store", registry)
        config = ServerConfig(
            listen="127.0.0.1:0",
            store=Path(tmp) / "store",
            limits=Limits(workers=4, max_streams=threads + 8),
            grace_seconds=2.0,
        ).validate()
        server, port = create_server(config, engine, registry=registry)
        server.start()
        address = f"127.0.0.1:{port}"
        try:
            return _drive(address, seconds, threads)
        finally:
            server.stop(2.0)
            engine.close()


def _drive(address: str, seconds: float, threads: int) -> int:
    channel = grpc.insecure_channel(address)
    matching, banks = pb_grpc.MatchingStub(channel), pb_grpc.BanksStub(channel)
    banks.CreateBank(pb.CreateBankRequest(name="known"), timeout=30)
    entries = [
        pb.NewEntry(external_id=f"k{n}", signals=[pb.Signal(type="md5", value=md5_value(n))])
        for n in range(KNOWN)
    ]
    banks.AddSignals(pb.AddSignalsRequest(bank="known", entries=entries), timeout=60)
    banks.AddContent(
        pb.AddContentRequest(bank="known", content=IMAGE.read_bytes(), external_id="image"),
        timeout=120,
    )
    content = IMAGE.read_bytes()
    stats = Stats()
    stop = threading.Event()
    deadline = time.monotonic() + seconds
    counts: dict[str, int] = defaultdict(int)

    def lookups(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            choice = rng.random()
            started = time.perf_counter()
            try:
                if choice < 0.6:
                    n = rng.randrange(KNOWN)
                    request = pb.LookupRequest(
                        signals=pb.SignalList(signals=[pb.Signal(type="md5", value=md5_value(n))])
                    )
                    response = matching.Lookup(request, timeout=30)
                    stats.time("Lookup (hash-only)", started)
                    found = {(m.bank, m.external_id) for m in response.matches}
                    if ("known", f"k{n}") not in found:
                        stats.incorrect(f"k{n} not found")
                elif choice < 0.8:
                    response = matching.Lookup(pb.LookupRequest(content=content), timeout=60)
                    stats.time("Lookup (content)", started)
                    if not any(m.external_id == "image" for m in response.matches):
                        stats.incorrect("image not found by content")
                else:
                    picks = [rng.randrange(KNOWN) for _ in range(50)]
                    request = pb.LookupBatchRequest(
                        queries=[
                            pb.Query(
                                query_id=str(n),
                                signals=pb.SignalList(
                                    signals=[pb.Signal(type="md5", value=md5_value(n))]
                                ),
                            )
                            for n in picks
                        ]
                    )
                    answers = list(matching.LookupBatch(iter([request]), timeout=60))
                    stats.time("LookupBatch (50 queries)", started)
                    for answer in answers[0].results:
                        if not any(
                            m.external_id == f"k{answer.query_id}" for m in answer.result.matches
                        ):
                            stats.incorrect(f"batch k{answer.query_id} not found")
            except grpc.RpcError as error:
                stats.error("lookup", error)

    def watch() -> None:
        while not stop.is_set():
            call = matching.WatchMatches(pb.WatchMatchesRequest(banks=["known"]), timeout=5)
            started = time.perf_counter()
            try:
                for _ in call:
                    counts["match events"] += 1
                    if stop.is_set():
                        call.cancel()
                        break
            except grpc.RpcError as error:
                if error.code() not in (
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.CANCELLED,
                ):
                    stats.error("WatchMatches", error)
            stats.time("WatchMatches (5 s stream)", started)

    def imports() -> None:
        number = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = banks.ImportUpdates(
                    pb.ImportUpdatesRequest(bank="feed", format="hashcore", data=feed(number)),
                    timeout=300,
                )
                stats.time(f"ImportUpdates ({FEED_SIZE} records)", started)
                if response.added != FEED_SIZE:
                    stats.incorrect(f"import round {number}: added {response.added}")
            except grpc.RpcError as error:
                stats.error("ImportUpdates", error)
            number += 1

    workers = [threading.Thread(target=lookups, args=(n,)) for n in range(threads)]
    workers += [threading.Thread(target=imports), threading.Thread(target=watch)]
    started = time.monotonic()
    for thread in workers:
        thread.start()
    for thread in workers[:-1]:
        thread.join()
    stop.set()
    workers[-1].join()
    elapsed = time.monotonic() - started
    channel.close()

    total = sum(len(v) for v in stats.latency.values())
    print(f"soak: {elapsed:.0f} s, {threads} lookup threads + 1 import + 1 watch, {address}")
    print(
        f"requests {total}, errors {len(stats.errors)}, wrong answers {len(stats.wrong)}, "
        f"match events {counts['match events']}"
    )
    print(f"{'call':32} {'count':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    for kind, values in sorted(stats.latency.items()):
        print(
            f"{kind:32} {len(values):>7} {percentile(values, 0.5):>9.1f} "
            f"{percentile(values, 0.95):>9.1f} {percentile(values, 0.99):>9.1f}"
        )
    for line in (stats.errors + stats.wrong)[:20]:
        print(f"  {line}")
    return 1 if stats.errors or stats.wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "120"))
    )
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SOAK_THREADS", "8")))
    args = parser.parse_args()
    return run(args.seconds, args.threads)


if __name__ == "__main__":
    sys.exit(main())
