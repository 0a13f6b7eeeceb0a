"""Health transitions, graceful shutdown (in process and on SIGTERM), metrics, generated code."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_support import ORIGINAL, ROTATED, content, registry, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.engine import Engine

REPO = Path(__file__).resolve().parents[1]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def health_of(server) -> int:
    return server.health.Check(health_pb2.HealthCheckRequest(service=""), None).status


def test_health_goes_serving_when_the_engine_arrives_and_not_serving_on_stop(tmp_path):
    with running_server(tmp_path, with_engine=False) as srv:
        health = health_pb2_grpc.HealthStub(srv.channel())
        check = health_pb2.HealthCheckRequest(service="hashcore.api.v1.Matching")
        assert health.Check(check, timeout=5).status == NOT_SERVING
        srv.engine = Engine(srv.store, registry())
        srv.server.attach_engine(srv.engine)
        assert health.Check(check, timeout=5).status == SERVING
        matching, _ = srv.stubs()
        assert matching.Hash(pb.HashRequest(content=b"abc"), timeout=10).signals
        srv.server.stop(0)
        assert health_of(srv.server) == NOT_SERVING


def test_stop_lets_an_in_flight_call_finish(tmp_path, monkeypatch):
    with running_server(tmp_path) as srv:
        matching, _ = srv.stubs()
        real = srv.engine.lookup_many
        started = threading.Event()

        def slow(*args, **kwargs):
            started.set()
            time.sleep(0.5)
            return real(*args, **kwargs)

        monkeypatch.setattr(srv.engine, "lookup_many", slow)
        outcome = {}

        def call():
            outcome["reply"] = matching.Lookup(pb.LookupRequest(content=content()), timeout=30)

        caller = threading.Thread(target=call)
        caller.start()
        assert started.wait(10)
        srv.server.stop(5)
        caller.join(10)
        assert "reply" in outcome  # finished normally, not cancelled


def test_watch_streams_end_cleanly_on_shutdown(tmp_path):
    with running_server(tmp_path) as srv:
        matching, _ = srv.stubs()
        stream = matching.WatchMatches(pb.WatchMatchesRequest(), timeout=30)
        stream.initial_metadata()
        srv.server.stop(5)
        assert list(stream) == []
        assert stream.code() is grpc.StatusCode.OK


def test_metrics_endpoint(tmp_path):
    with running_server(tmp_path, metrics_listen="127.0.0.1:0") as srv:
        matching, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        banks.AddContent(pb.AddContentRequest(bank="b", content=content()), timeout=30)
        matching.Lookup(pb.LookupRequest(content=content(ROTATED)), timeout=30)
        url = f"http://127.0.0.1:{srv.server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        assert 'hashcore_lookups_total{family="pdq",result="match"} 1.0' in text
        # The picture's PDQ and its three banked crops (centre90, top80, bottom80).
        assert 'hashcore_index_values{family="pdq"} 4.0' in text
        assert "hashcore_banks 1.0" in text
        assert 'hashcore_rpc_latency_seconds_count{method="Lookup"} 1.0' in text
        assert 'hashcore_rpcs_total{code="OK",method="CreateBank"} 1.0' in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_hashcore_serve_stops_gracefully_on_sigterm(tmp_path):
    store = tmp_path / "store"
    with Engine(store, registry()) as engine:
        engine.create_bank("known")
        engine.add_file("known", ORIGINAL)
    port = _free_port()
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        '[[tokens]]\nname = "ops"\ntoken = "s3cret-token"\ngrants = { "*" = "admin" }\n'
    )
    env = {**os.environ, "HASHCORE_TOKENS_FILE": str(tokens)}
    with _server(port, "--store", str(store), env=env) as process:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            _wait_until_serving(channel, process)
            stub = pb_grpc.MatchingStub(channel)
            reply = stub.Lookup(
                pb.LookupRequest(content=content(ROTATED)),
                timeout=30,
                metadata=(("authorization", "Bearer s3cret-token"),),
            )
            assert reply.matches
        stderr = _stop(process)
    assert process.returncode == 0, stderr
    assert "signal families:" in stderr and "pdq" in stderr
    assert "plugin " in stderr and "serving 1 bank(s): known" in stderr
    assert "plugin ncmec 0.1.0: ncmec (bank format), ncmec (feedback format)\n" in stderr
    assert "index pdq: 4 values" in stderr  # the PDQ and its three banked crops
    assert "SIGTERM" in stderr and "stopped" in stderr
    assert "s3cret-token" not in stderr
    assert "faiss.loader" not in stderr  # FAISS's CPU-build probing, INFO by INFO: not ours to log


@contextlib.contextmanager
def _server(port: int, *args: str, env: dict[str, str] | None = None) -> Iterator[Popen[str]]:
    """``hashcore serve`` on ``port`` in its own process, killed if the test leaves it running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hashcore.cli.main", "serve", "--listen", f"127.0.0.1:{port}",
         *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _stop(process: Popen[str]) -> str:
    """SIGTERM the server; its log (stderr) once it has stopped."""
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=120)[1]


def _wait_until_serving(channel: grpc.Channel, process: Popen[str]) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 180  # a cold start compiles the kernels
    while True:
        try:
            if health.Check(health_pb2.HealthCheckRequest(), timeout=2).status == SERVING:
                return
        except grpc.RpcError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, process.stderr
        time.sleep(0.2)


def test_a_debug_log_quotes_no_uploaded_content(tmp_path):
    """At ``--log-level DEBUG`` Pillow logged every EXIF tag of an uploaded picture (camera,
    time taken) in the server's log: content, which never reaches a log at any level."""
    from PIL import Image

    store = tmp_path / "store"
    with Engine(store, registry()) as engine:
        engine.create_bank("known")
    picture = Image.open(ORIGINAL).convert("RGB")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Hashcore-Test-Make", "Model-Under-Test"  # Make, Model
    uploaded = io.BytesIO()
    picture.save(uploaded, "JPEG", exif=exif)
    port = _free_port()
    with _server(port, "--store", str(store), "--log-level", "DEBUG") as process:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            _wait_until_serving(channel, process)
            stub = pb_grpc.MatchingStub(channel)
            stub.Lookup(pb.LookupRequest(content=uploaded.getvalue()), timeout=30)
            stub.Hash(pb.HashRequest(content=uploaded.getvalue()), timeout=30)
        stderr = _stop(process)
    assert process.returncode == 0, stderr
    assert " DEBUG hashcore.server: Lookup " in stderr  # the level took: each call's line
    assert "Hashcore-Test-Make" not in stderr and "Model-Under-Test" not in stderr


@pytest.mark.slow  # compiles the index kernels into an empty cache (~10-25 s)
def test_a_server_on_a_small_store_compiles_its_search_before_serving(tmp_path):
    """Below FLAT_BELOW values an index scans flat and needs no compiled search, so a fresh
    install's server reported SERVING with nothing compiled, and compiled the first time an
    import took an index past it, while lookups waited 14-25 s. The table build and the search
    are in the cache before SERVING now."""
    store = tmp_path / "store"
    with Engine(store, registry()) as engine:
        engine.create_bank("known")
        engine.add_file("known", ORIGINAL)
    cache = tmp_path / "numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    port = _free_port()
    with _server(port, "--store", str(store), env=env) as process:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            _wait_until_serving(channel, process)
            compiled = {path.name.split("-")[0] for path in cache.rglob("*.nbi")}
        stderr = _stop(process)
    assert process.returncode == 0, stderr
    assert {"table_build._table", "mih_kernel._search"} <= compiled, compiled


def test_generated_code_is_current():
    result = subprocess.run(
        [sys.executable, str(REPO / "proto" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
