"""Two real hashcore servers on 127.0.0.1 for the sharing tests: A publishes, B follows."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from server_support import ADMIN_TOKEN, Running, auth

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.signals import Signal
from hashcore_server.config import TokenGrant, hash_token

SHARED = "shared"
FOLLOWER_TOKEN = "hotline-b-follow-token"
LOOKUP_TOKEN = "hotline-c-lookup-token"
PUBLISHER_TOKENS = (
    TokenGrant("ops", hash_token(ADMIN_TOKEN), {"*": "admin"}),
    TokenGrant("hotline-b", hash_token(FOLLOWER_TOKEN), {SHARED: "follow"}),
    TokenGrant("hotline-c", hash_token(LOOKUP_TOKEN), {SHARED: "lookup"}),
)


def md5(name: str) -> Signal:
    """A stand-in MD5 (the hash of ``name``): lookups need no file."""
    return Signal("md5", hashlib.md5(name.encode()).digest())


def lookup(server: Running, name: str, token: str | None = None) -> list[pb.Match]:
    """A real hash lookup over gRPC at ``server``."""
    matching, _ = server.stubs()
    query = pb.SignalList(signals=[pb.Signal(type="md5", value=md5(name).value)])
    response = matching.Lookup(
        pb.LookupRequest(signals=query),
        metadata=auth(token) if token else None,
        timeout=10,
    )
    return list(response.matches)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def token_file(directory: Path, token: str) -> Path:
    path = directory / "partner.token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path
