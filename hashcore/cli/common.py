"""What the store-backed verbs share: the ``--store`` option and opening the engine."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hashcore.engine import Engine
from hashcore.engine_api import EngineAPI
from hashcore.errors import InvalidInput

STORE_ENV = "HASHCORE_STORE"
SERVER_ENV = "HASHCORE_SERVER"
TOKEN_ENV = "HASHCORE_TOKEN"  # noqa: S105 - a variable name, not a secret
DEFAULT_STORE = Path("var/hashcore")


def store_parent() -> argparse.ArgumentParser:
    """A parent parser adding ``--store`` and the remote options, for every store verb."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help=f"store directory (default: ${STORE_ENV}, else ./{DEFAULT_STORE})",
    )
    remote = parent.add_argument_group("remote server (instead of a local store)")
    remote.add_argument(
        "--server", metavar="HOST:PORT", help=f"use a `hashcore serve` server (or ${SERVER_ENV})"
    )
    remote.add_argument("--token", help=f"API token (default: ${TOKEN_ENV})")
    remote.add_argument("--ca-cert", type=Path, metavar="PEM", help="use TLS, trusting this CA")
    remote.add_argument("--client-cert", type=Path, metavar="PEM", help="TLS client certificate")
    remote.add_argument("--client-key", type=Path, metavar="PEM", help="TLS client key")
    remote.add_argument(
        "--server-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="per server call (default 30; content lookups allow 300)",
    )
    remote.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="send --token without TLS to a non-loopback server (only on a trusted network)",
    )
    remote.add_argument(
        "--hash-only",
        action="store_true",
        help="hash files here and send only their hashes, never their content",
    )
    return parent


def store_dir(args: argparse.Namespace) -> Path:
    """``--store``, else ``$HASHCORE_STORE``, else ``./var/hashcore``."""
    chosen: Path | None = getattr(args, "store", None)
    if chosen is not None:
        return chosen
    env = os.environ.get(STORE_ENV)
    return Path(env) if env else DEFAULT_STORE


def server_address(args: argparse.Namespace) -> str | None:
    """``--server``, else ``$HASHCORE_SERVER``: when set, verbs talk to that server."""
    chosen: str | None = getattr(args, "server", None)
    return chosen or os.environ.get(SERVER_ENV) or None


def open_engine(args: argparse.Namespace) -> EngineAPI:
    """The local store's engine, or a :class:`~hashcore.remote.RemoteEngine` with ``--server``.

    Both implement :class:`EngineAPI` (returning them as one is mypy's check that they do), so
    the verbs print the same output either way. The local engine opens no index until a verb
    uses one.
    """
    address = server_address(args)
    if address is None:
        return Engine(store_dir(args))
    from hashcore.remote import RemoteEngine

    return RemoteEngine(
        address,
        token=getattr(args, "token", None),
        ca_cert=getattr(args, "ca_cert", None),
        client_cert=getattr(args, "client_cert", None),
        client_key=getattr(args, "client_key", None),
        timeout=getattr(args, "server_timeout", 30.0),
        hash_only=getattr(args, "hash_only", False),
        insecure_plaintext=getattr(args, "insecure_plaintext", False),
    )


def parse_thresholds(items: list[str] | None) -> dict[str, float]:
    """``FAMILY=VALUE`` pairs from ``--threshold`` options."""
    thresholds: dict[str, float] = {}
    for item in items or []:
        family, sep, value = item.partition("=")
        if not sep or not family.strip():
            raise InvalidInput(f"--threshold expects FAMILY=VALUE, got {item!r}")
        try:
            thresholds[family.strip()] = float(value)
        except ValueError:
            raise InvalidInput(f"--threshold {item!r}: {value!r} is not a number") from None
    return thresholds


def clear_progress_line(enabled: bool) -> None:
    """Erase the progress bar before printing a result line under it."""
    if enabled:
        sys.stderr.write("\r\x1b[K")
