"""A real server on 127.0.0.1:0 over a real store, for the server tests."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
from media_data import TESTS_DATA

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.engine import Engine
from hashcore.registry import SignalRegistry, load_registry
from hashcore_server.config import Limits, ServerConfig, TlsConfig, TokenGrant, hash_token
from hashcore_server.server import HashcoreServer, create_server

DIH = TESTS_DATA / "pdq" / "dih"
ORIGINAL = DIH / "bridge-1-original.jpg"
ROTATED = DIH / "bridge-2-rotate-90.jpg"
FLIPPED = DIH / "bridge-5-flipx.jpg"

ADMIN_TOKEN = "admin-secret-token"
ALICE_TOKEN = "alice-secret-token"
BOB_TOKEN = "bob-secret-token"
TOKENS = (
    TokenGrant("ops", hash_token(ADMIN_TOKEN), {"*": "admin"}),
    TokenGrant("alice", hash_token(ALICE_TOKEN), {"alice-bank": "admin", "shared": "lookup"}),
    TokenGrant("bob", hash_token(BOB_TOKEN), {"bob-bank": "lookup"}),
)


@functools.cache
def registry() -> SignalRegistry:
    return load_registry()


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Running:
    server: HashcoreServer
    port: int
    engine: Engine | None
    store: Path
    channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(
        self, credentials: grpc.ChannelCredentials | None = None, **kw: Any
    ) -> grpc.Channel:
        if credentials is None:
            channel = grpc.insecure_channel(self.address, **kw)
        else:
            channel = grpc.secure_channel(self.address, credentials, **kw)
        self.channels.append(channel)
        return channel

    def stubs(self, channel: grpc.Channel | None = None) -> tuple[Any, Any]:
        channel = channel or self.channel()
        return pb_grpc.MatchingStub(channel), pb_grpc.BanksStub(channel)


@contextlib.contextmanager
def running_server(
    tmp_path: Path,
    *,
    tokens: Sequence[TokenGrant] = (),
    with_engine: bool = True,
    limits: Limits | None = None,
    tls: TlsConfig | None = None,
    **config: Any,
) -> Iterator[Running]:
    store = tmp_path / "store"
    engine = Engine(store, registry()) if with_engine else None
    settings = ServerConfig(
        listen="127.0.0.1:0",
        store=store,
        tokens=tuple(tokens),
        tls=tls,
        grace_seconds=1.0,
        **config,
    )
    if limits is not None:
        settings = replace(settings, limits=limits)
    server, port = create_server(settings.validate(), engine, registry=registry())
    server.start()
    running = Running(server, port, engine, store)
    try:
        yield running
    finally:
        for channel in running.channels:
            channel.close()
        server.stop(0.5)
        if running.engine is not None:
            running.engine.close()


def signals_pb(result: pb.HashResponse, family: str | None = None) -> list[pb.Signal]:
    return [s for s in result.signals if family is None or s.type == family]


def content(path: Path = ORIGINAL) -> bytes:
    return path.read_bytes()


def one_picture_store(directory: Path) -> list[str]:
    """A store at ``directory`` whose bank ``b`` holds the bridge picture, made through the
    CLI; the ``--store`` option naming it."""
    from hashcore.cli.main import main

    where = ["--store", str(directory)]
    assert main(["bank", "create", "b", *where]) == 0
    assert main(["bank", "add", "b", str(ORIGINAL), *where]) == 0
    return where
