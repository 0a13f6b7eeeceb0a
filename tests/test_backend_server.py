"""The index backend through the server: chosen in its configuration, invisible in its answers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_support import FLIPPED, ORIGINAL, ROTATED, content

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.backends import IndexBackend, backend_from_spec, backend_from_table
from hashcore.engine import Engine
from hashcore_server.config import ConfigError, ServerConfig, load_config
from hashcore_server.server import BACKEND_SERVICE, create_server
from tests.backend_support import NO_PYMILVUS, milvus_available
from tests.engine_support import registry


@contextlib.contextmanager
def served(store: Path, backend: IndexBackend) -> Iterator[tuple[Any, Any, Any]]:
    """A real server on 127.0.0.1 over an engine on ``backend``: its stubs, health last."""
    engine = Engine(store, registry(), index_backend=backend)
    settings = ServerConfig(listen="127.0.0.1:0", store=store, grace_seconds=1.0)
    server, port = create_server(settings.validate(), engine, registry=registry())
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield (
            pb_grpc.MatchingStub(channel),
            pb_grpc.BanksStub(channel),
            health_pb2_grpc.HealthStub(channel),
        )
    finally:
        channel.close()
        server.stop(0.5)
        engine.close()


def status(health: Any) -> int:
    request = health_pb2.HealthCheckRequest(service=BACKEND_SERVICE)
    return int(health.Check(request, timeout=10).status)


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


def answers(store: Path, backend: IndexBackend) -> list[list[tuple]]:
    """Content lookups (every dihedral variant of the picture) and a loose hash-only one."""
    with served(store, backend) as (matching, banks, _):
        banks.CreateBank(pb.CreateBankRequest(name="known"), timeout=10)
        banks.AddContent(
            pb.AddContentRequest(bank="known", content=content(ORIGINAL), external_id="x"),
            timeout=30,
        )
        replies = [
            matching.Lookup(pb.LookupRequest(content=content(path)), timeout=30)
            for path in (ORIGINAL, ROTATED, FLIPPED)
        ]
        flipped = matching.Hash(pb.HashRequest(content=content(FLIPPED)), timeout=30)
        query = pb.SignalList(signals=[s for s in flipped.signals if s.type == "pdq"])
        replies.append(
            matching.Lookup(pb.LookupRequest(signals=query, thresholds={"pdq": 63}), timeout=10)
        )
    return [
        [
            (m.bank, m.external_id, sorted((h.type, h.distance, h.variant) for h in m.signals))
            for m in reply.matches
        ]
        for reply in replies
    ]


@pytest.mark.skipif(not milvus_available(), reason=NO_PYMILVUS)
def test_a_lookup_through_the_server_is_the_same_on_milvus(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    uri = tmp_path_factory.getbasetemp() / "milvus-lite.db"
    embedded = answers(tmp_path / "a", backend_from_spec("embedded"))
    on_milvus = answers(tmp_path / "b", backend_from_spec(f"milvus:{uri}"))
    assert on_milvus == embedded
    assert all(embedded[:3])  # the picture, rotated and flipped all match


def test_the_backend_comes_from_the_toml_or_the_environment(tmp_path: Path) -> None:
    assert load_config(env={}).index_backend == {"kind": "embedded"}
    toml = tmp_path / "server.toml"
    toml.write_text('[index_backend]\nkind = "milvus"\nuri = "http://milvus:19530"\n')
    table = {"kind": "milvus", "uri": "http://milvus:19530"}
    assert load_config(toml, env={}).index_backend == table
    env = {"HASHCORE_INDEX_BACKEND": "milvus:/var/lib/milvus.db"}
    assert load_config(toml, env=env).index_backend == {
        "kind": "milvus",
        "uri": "/var/lib/milvus.db",
    }
    assert load_config(toml, env={"HASHCORE_INDEX_BACKEND": "embedded"}).index_backend == {
        "kind": "embedded"
    }


@pytest.mark.parametrize(
    "table",
    [
        '[index_backend]\nkind = "faiss-gpu"\n',
        '[index_backend]\nkind = "milvus"\n',
        '[index_backend]\nkind = "milvus"\nuri = "x.db"\nindex_type = "HNSW"\n',
        '[index_backend]\nkind = "milvus"\nuri = "x.db"\nradius = 3\n',
        'index_backend = "milvus"\n',
    ],
)
def test_a_bad_backend_stops_the_server_from_starting(tmp_path: Path, table: str) -> None:
    toml = tmp_path / "server.toml"
    toml.write_text(table)
    with pytest.raises(ConfigError, match="index_backend"):
        load_config(toml, env={})
    with pytest.raises(ConfigError, match="HASHCORE_INDEX_BACKEND"):
        load_config(env={"HASHCORE_INDEX_BACKEND": "milvus"})


@pytest.mark.skipif(not milvus_available(), reason=NO_PYMILVUS)
def test_health_follows_milvus_and_writes_wait_for_it(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Milvus unreachable: the backend's health says so, a lookup is UNAVAILABLE, a write still
    lands in the store; once Milvus answers again the lookup finds what was written."""
    from pymilvus import connections

    import hashcore_server.server

    monkeypatch.setattr(hashcore_server.server, "BACKEND_CHECK_SECONDS", 0.05)
    uri = str(tmp_path_factory.getbasetemp() / "milvus-lite.db")
    backend = backend_from_spec(f"milvus:{uri}")
    value = bytes(range(32))
    signal = pb.Signal(type="pdq", value=value, quality=100)
    lookup = pb.LookupRequest(signals=pb.SignalList(signals=[signal]))
    with served(tmp_path / "store", backend) as (matching, banks, health):
        assert status(health) == health_pb2.HealthCheckResponse.SERVING
        banks.CreateBank(pb.CreateBankRequest(name="known"), timeout=10)
        assert not matching.Lookup(lookup, timeout=10).matches
        connections.disconnect(backend.alias)  # as if Milvus went away
        wait_for(lambda: status(health) == health_pb2.HealthCheckResponse.NOT_SERVING)
        banks.AddSignals(
            pb.AddSignalsRequest(bank="known", entries=[pb.NewEntry(signals=[signal])]),
            timeout=10,
        )
        with pytest.raises(grpc.RpcError) as failed:
            matching.Lookup(lookup, timeout=10)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        connections.connect(alias=backend.alias, uri=uri)  # back
        wait_for(lambda: status(health) == health_pb2.HealthCheckResponse.SERVING)
        assert len(matching.Lookup(lookup, timeout=10).matches) == 1


@pytest.mark.skipif(not milvus_available(), reason=NO_PYMILVUS)
def test_an_unreachable_milvus_is_a_clear_error() -> None:
    from hashcore.errors import NotReady

    table = {"kind": "milvus", "uri": "http://127.0.0.1:9", "timeout": 2.0}
    with pytest.raises(NotReady, match=r"milvus at http://127\.0\.0\.1:9 unreachable"):
        backend_from_table(table)
