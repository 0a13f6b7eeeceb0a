"""What the store-backed verbs share: the ``--store`` option and opening the engine."""

from __future__ import annotations

import argparse
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashcore.cli.credentials import TOKEN_ENV, Profile, load_profile, resolve_token
from hashcore.errors import InvalidInput, NotFound, StoreError
from hashcore.hash_pool import default_jobs

if TYPE_CHECKING:
    from hashcore.engine_api import EngineAPI

STORE_ENV = "HASHCORE_STORE"
SERVER_ENV = "HASHCORE_SERVER"
DEFAULT_STORE = Path("var/hashcore")
"""Where a store is when none is named (relative to the working directory): every verb's, and
``hashcore serve``'s (its config's default), so a bank made with ``hashcore bank`` is the one
the server serves. Here, not in :mod:`hashcore.store`, which ``hash`` never imports."""


def utc_time(seconds: float) -> str:
    """A unix time as the CLI prints it: ISO 8601 in UTC, to the second (a time no clock
    can show, kept by an older store, as its number rather than a traceback)."""
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return f"{seconds!r} (not a valid time)"


def verb_group(subparsers: Any, name: str, help: str, description: str | None) -> Any:
    """A command whose actions are verbs (``hashcore bank create``, ``hashcore opinion add``):
    the subparsers to add each verb to; the chosen one is ``args.<name>_command``."""
    parser = subparsers.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def store_parent(*, hash_only: bool = False) -> argparse.ArgumentParser:
    """A parent parser adding ``--store`` and the remote options, for every store verb;
    ``--hash-only`` only for the verbs that read files (lookup, bank add)."""
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
    remote.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help=f"read the API token from FILE (mode 600); else ${TOKEN_ENV} or the client profile",
    )
    remote.add_argument("--token", help=argparse.SUPPRESS)  # visible in ps: warned, not shown
    remote.add_argument("--ca-cert", type=Path, metavar="PEM", help="use TLS, trusting this CA")
    remote.add_argument("--client-cert", type=Path, metavar="PEM", help="TLS client certificate")
    remote.add_argument("--client-key", type=Path, metavar="PEM", help="TLS client key")
    remote.add_argument(
        "--server-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="per server call (default 30; content lookups allow 300)",
    )
    remote.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="send --token without TLS to a non-loopback server (only on a trusted network)",
    )
    if hash_only:
        remote.add_argument(
            "--hash-only",
            action="store_true",
            help="hash files here and send only their hashes, never their content",
        )
    return parent


def add_jobs_option(parser: argparse.ArgumentParser) -> None:
    """``--jobs N`` for the verbs that hash files (hash, bank add, lookup)."""
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=default_jobs(),
        metavar="N",
        help="hash files in N worker processes, results in input order "
        "(default: the cores available, %(default)s; 1: in this process)",
    )


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    """A positive, finite number of seconds: 0 or less made every call time out at once."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def finite_number(text: str) -> float:
    """A finite number (``--min-confidence``): ``nan`` and ``inf`` parse as floats and
    dropped every match."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def store_dir(args: argparse.Namespace) -> Path:
    """``--store`` (the verb's, else the global one), else ``$HASHCORE_STORE``, else
    ``./var/hashcore``."""
    chosen: Path | None = getattr(args, "store", None) or getattr(args, "global_store", None)
    if chosen is not None:
        return chosen
    env = os.environ.get(STORE_ENV)
    return Path(env) if env else DEFAULT_STORE


def server_address(args: argparse.Namespace, profile: Profile | None = None) -> str | None:
    """``--server``, else ``$HASHCORE_SERVER``, else the client profile's server unless a
    store was named: when set, verbs talk to that server."""
    chosen: str | None = getattr(args, "server", None) or os.environ.get(SERVER_ENV)
    if chosen:
        return chosen
    if _store_named(args):
        return None
    return (profile if profile is not None else load_profile()).server


def _store_named(args: argparse.Namespace) -> bool:
    return bool(
        getattr(args, "store", None)
        or getattr(args, "global_store", None)
        or os.environ.get(STORE_ENV)
    )


def require_store(args: argparse.Namespace) -> None:
    """Refuse a verb that only reads (lookup, list, export, check) on a store that does not
    exist: opening one would create an empty store and answer "no match" from it."""
    if server_address(args) is not None:
        return
    from hashcore.store.store import DB_NAME, lost_database  # loaded when a verb needs them

    directory = store_dir(args)
    lost = lost_database(directory)
    if lost:
        raise StoreError(lost)
    database = directory / DB_NAME
    if database.is_file() and database.stat().st_size == 0:  # emptied, or never initialised
        raise StoreError(
            f"store {directory}: {DB_NAME} is empty (0 bytes): no banks to answer from; "
            "restore it from a backup, or remove it to start a new store"
        )
    if not database.is_file():
        raise NotFound(
            f"no hashcore store at {directory} (give --store DIR or set ${STORE_ENV}; "
            "`hashcore bank create` makes one)",
            field="store",
        )


def walked_files(args: argparse.Namespace) -> list[Path]:
    """The files ``args.paths`` name, as ``hash``, ``bank add`` and ``lookup`` walk them: not
    into the store, and not this command's own output when it is redirected to a file in the
    folder being walked (``hashcore hash --json . > hashes.jsonl``)."""
    from hashcore.hashing import iter_files
    from hashcore.media import max_image_pixels

    max_image_pixels()  # a bad HASHCORE_MAX_IMAGE_PIXELS: one error now, not every file's
    hidden: list[Path] = []
    files = list(iter_files(args.paths, skip=[store_dir(args)], skip_open=(1, 2), hidden=hidden))
    if hidden:  # left out as a file manager hides them, but never without a word
        print(
            f"hashcore: {len(hidden)} hidden file(s) or folder(s) left out (names starting "
            f"with '.', e.g. {hidden[0]}); name them to include them",
            file=sys.stderr,
        )
    return files


def open_engine(args: argparse.Namespace) -> EngineAPI:
    """The local store's engine, or a :class:`~hashcore.remote.RemoteEngine` with ``--server``.

    Both implement :class:`EngineAPI` (returning them as one is mypy's check that they do), so
    the verbs print the same output either way. The local engine opens no index until a verb
    uses one.
    """
    address = server_address(args)
    if address is None:  # HASHCORE_INDEX_BACKEND: where the indexes live (docs/scale-out.md)
        from hashcore.backends import BACKEND_ENV, backend_from_spec
        from hashcore.engine import Engine

        return Engine(store_dir(args), index_backend=backend_from_spec(os.environ.get(BACKEND_ENV)))
    from hashcore.remote import RemoteEngine

    profile = load_profile()
    return RemoteEngine(
        address,
        token=resolve_token(args, profile),
        ca_cert=getattr(args, "ca_cert", None) or profile.ca_cert,
        client_cert=getattr(args, "client_cert", None),
        client_key=getattr(args, "client_key", None),
        timeout=getattr(args, "server_timeout", 30.0),
        hash_only=getattr(args, "hash_only", False),
        insecure_plaintext=getattr(args, "insecure_plaintext", False),
    )


def parse_thresholds(items: list[str] | None, what: str = "--threshold") -> dict[str, float]:
    """``FAMILY=VALUE`` pairs from ``--threshold`` options (``what`` names them in errors)."""
    thresholds: dict[str, float] = {}
    for item in items or []:
        family, sep, value = item.partition("=")
        if not sep or not family.strip():
            raise InvalidInput(f"{what} expects FAMILY=VALUE, got {item!r}")
        if family.strip() in thresholds:  # pdq=10 pdq=20: which one was meant?
            raise InvalidInput(f"{what} names {family.strip()!r} twice")
        try:
            thresholds[family.strip()] = float(value)
        except ValueError:
            raise InvalidInput(f"{what} {item!r}: {value!r} is not a number") from None
    return thresholds
