"""Server throughput: hash-only lookups through LookupBatch, and content lookups, over gRPC.

A real ``hashcore serve`` process (1 or 2 workers: threads, and as many processes hashing
content) over a synthetic PDQ bank of
HASHCORE_BENCH_SERVER_SIZE hashes (default 1,000,000), driven from this process over loopback.

    pytest bench/test_bench_server.py --benchmark-enable -s

The bank is built once through ``Engine.batch`` (its build time is printed); set
HASHCORE_BENCH_SERVER_STORE to a directory to keep it between runs (it is built there if empty).
Hash-only queries: 10% are stored hashes with 0-20 bits flipped (matches), 90% random (misses),
500 per message, W + 1 concurrent streams. Content lookups: the ~1 MP JPEG sent as bytes, W
concurrent callers, compared with ``hash_file`` (all families, PDQ's eight variants: what the
server does per content lookup) timed in this process in the same run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.engine import Engine
from hashcore.hashing import hash_file
from hashcore.registry import load_registry
from hashcore.signals import Signal

SIZE = int(os.environ.get("HASHCORE_BENCH_SERVER_SIZE", "1000000"))
BATCH = 500
MESSAGES_PER_STREAM = 40
MATCH_FRACTION = 0.1
CONTENT_CALLS = 40
SEED = 1
RESULTS: list[dict[str, Any]] = []


def synthetic_codes(n: int) -> np.ndarray:
    return np.random.default_rng(SEED).integers(0, 256, size=(n, 32), dtype=np.uint8)


@pytest.fixture(scope="module")
def pdq_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("HASHCORE_BENCH_SERVER_STORE")
    store = Path(chosen) if chosen else tmp_path_factory.mktemp("server-bench") / "store"
    if (store / "ready").exists():
        return store
    codes = synthetic_codes(SIZE)
    started = time.perf_counter()
    with Engine(store) as engine:
        engine.create_bank("synthetic")
        for first in range(0, SIZE, 50_000):
            with engine.batch() as writer:
                for row in codes[first : first + 50_000]:
                    writer.add_entry("synthetic", [Signal("pdq", row.tobytes())])
        engine.compact()
    elapsed = time.perf_counter() - started
    print(f"\nbuilt a {SIZE:,}-hash PDQ bank in {elapsed:.0f} s ({SIZE / elapsed:,.0f}/s)")
    (store / "ready").write_text(f"{SIZE} {elapsed:.1f}\n")
    return store


def make_queries(rng: np.random.Generator, codes: np.ndarray, count: int) -> list[bytes]:
    queries = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    planted = int(count * MATCH_FRACTION)
    picks = codes[rng.integers(0, len(codes), planted)]
    bits = np.unpackbits(picks, axis=1)
    for row, flips in zip(bits, rng.integers(0, 21, planted), strict=True):
        row[rng.choice(256, flips, replace=False)] ^= 1
    queries[:planted] = np.packbits(bits, axis=1)
    return [row.tobytes() for row in queries]


def batch_messages(stream: int, codes: np.ndarray) -> list[pb.LookupBatchRequest]:
    rng = np.random.default_rng(1000 + stream)
    messages = []
    for number in range(MESSAGES_PER_STREAM):
        values = make_queries(rng, codes, BATCH)
        messages.append(
            pb.LookupBatchRequest(
                queries=[
                    pb.Query(
                        query_id=f"{stream}-{number}-{i}",
                        signals=pb.SignalList(signals=[pb.Signal(type="pdq", value=value)]),
                    )
                    for i, value in enumerate(values)
                ]
            )
        )
    return messages


class ServerProcess:
    def __init__(self, store: Path, workers: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hashcore.cli.main", "serve", "--listen", self.address,
             "--store", str(store), "--workers", str(workers), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.channel = grpc.insecure_channel(
            self.address, options=[("grpc.max_receive_message_length", 64 << 20)]
        )
        health = health_pb2_grpc.HealthStub(self.channel)
        while True:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(self.process.stderr.read() if self.process.stderr else "died")
            time.sleep(0.2)
        self.ready_seconds = time.perf_counter() - started
        self.matching = pb_grpc.MatchingStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=60)


def run_concurrently(count: int, work: Any) -> float:
    errors: list[BaseException] = []

    def target(number: int) -> None:
        try:
            work(number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    return synthetic_codes(SIZE)


def test_in_process_reference(benchmark, pdq_store: Path, codes: np.ndarray):
    """The same batches through the engine directly, one thread: what the index allows."""
    messages = batch_messages(0, codes)[:10]
    queries = [
        [[Signal("pdq", q.signals.signals[0].value)] for q in message.queries]
        for message in messages
    ]
    with Engine(pdq_store) as engine:
        engine.lookup_many(queries[0])

        def run() -> float:
            started = time.perf_counter()
            for query in queries:
                engine.lookup_many(query)
            return time.perf_counter() - started

        elapsed = benchmark.pedantic(run, rounds=1)
        single = queries[0][:100]
        started = time.perf_counter()
        for query in single:
            engine.lookup_signals(query)
        one_by_one = len(single) / (time.perf_counter() - started)
    rate = len(messages) * BATCH / elapsed
    RESULTS.append(
        {"case": "in process, no RPC: batched lookups, 1 thread", "rate": rate,
         "note": f"Engine.lookup_signals one query at a time: {one_by_one:,.0f}/s"}
    )  # fmt: skip


@pytest.mark.parametrize("workers", [1, 2])
def test_hash_only_lookup_batch(benchmark, pdq_store: Path, codes: np.ndarray, workers: int):
    streams = workers + 1
    messages = [batch_messages(s, codes) for s in range(streams)]
    server = ServerProcess(pdq_store, workers)
    matched = [0] * streams

    def stream(number: int) -> None:
        replies = server.matching.LookupBatch(iter(messages[number]), timeout=600)
        for reply in replies:
            matched[number] += sum(bool(r.result.matches) for r in reply.results)

    try:
        run_concurrently(1, lambda _: list(server.matching.LookupBatch(iter(messages[0][:2]))))
        elapsed = benchmark.pedantic(lambda: run_concurrently(streams, stream), rounds=1)
    finally:
        server.close()
    queries = streams * MESSAGES_PER_STREAM * BATCH
    rate = queries / elapsed
    benchmark.extra_info.update(lookups_per_second=round(rate), matched=sum(matched))
    RESULTS.append(
        {"case": f"hash-only LookupBatch, {workers} worker(s)", "rate": rate,
         "note": f"{queries:,} queries, {sum(matched):,} matched, ready in "
                 f"{server.ready_seconds:.1f} s"}
    )  # fmt: skip


@pytest.mark.parametrize("workers", [1, 2])
def test_content_lookup(benchmark, pdq_store: Path, megapixel_jpeg: Path, workers: int):
    data = megapixel_jpeg.read_bytes()
    registry = load_registry()
    hash_file(megapixel_jpeg, registry, variants=True)  # warm up decoders and plugins
    started = time.perf_counter()
    for _ in range(20):
        hash_file(megapixel_jpeg, registry, variants=True)
    hashing_rate = 20 / (time.perf_counter() - started)
    server = ServerProcess(pdq_store, workers)
    per_caller = CONTENT_CALLS // workers

    def caller(_: int) -> None:
        for _ in range(per_caller):
            server.matching.Lookup(pb.LookupRequest(content=data), timeout=60)

    try:
        server.matching.Lookup(pb.LookupRequest(content=data), timeout=60)
        elapsed = benchmark.pedantic(lambda: run_concurrently(workers, caller), rounds=1)
    finally:
        server.close()
    rate = per_caller * workers / elapsed
    benchmark.extra_info.update(lookups_per_second=round(rate, 1), hashing_rate=hashing_rate)
    RESULTS.append(
        {"case": f"content Lookup (1 MP JPEG, {len(data) // 1024} KiB), {workers} worker(s)",
         "rate": rate, "note": f"local hash_file with variants: {hashing_rate:.1f}/s on 1 thread"}
    )  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if RESULTS:
        print(f"\n\nserver benchmark, {SIZE:,}-hash PDQ bank, {os.cpu_count()} CPUs")
        for row in RESULTS:
            print(f"  {row['case']:<48} {row['rate']:>10,.1f}/s   {row['note']}")
