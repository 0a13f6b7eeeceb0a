"""``hashcore opinion``: record, list and withdraw opinions on entries; send them to partners.

An opinion says an entry's match was ``confirmed``, a ``false_positive`` or ``disputed``. A
false positive given the content (``--content FILE``, hashed here, or ``--hash family:hex``)
stops that entry matching that content in this store, and only that: the entry and the
partner's data stay as they are. ``remove`` withdraws your opinion (and its exception).
``feedback`` sends this store's pending opinions on a partner's bank to the partner's API.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from hashcore.cli.common import (
    DEFAULT_STORE,
    STORE_ENV,
    open_engine,
    require_store,
    store_dir,
    store_parent,
    utc_time,
    verb_group,
)
from hashcore.cli.import_cmd import read_credentials
from hashcore.cli.table import table
from hashcore.engine import Engine
from hashcore.engine_api import EngineAPI
from hashcore.errors import ContentError, InvalidInput, NotFound
from hashcore.formats.http import HttpClient, origin
from hashcore.hashing import hash_file
from hashcore.opinions.api import opinions_of
from hashcore.opinions.model import NewOpinion, Opinion, OpinionKind, opinion_kind
from hashcore.registry import SignalRegistry
from hashcore.remote.errors import NotRemote
from hashcore.signals import Signal, stored_variant

KINDS = [kind.value for kind in OpinionKind if kind is not OpinionKind.WITHDRAWN]


def register(subparsers: Any) -> None:
    about = "opinions on entries: confirmed, false positive"
    verbs = verb_group(subparsers, "opinion", about, __doc__)
    store = [store_parent()]

    add = verbs.add_parser("add", parents=store, help="record an opinion on an entry")
    _entry_arguments(add)
    add.add_argument("--kind", required=True, choices=KINDS, help="what the match was")
    add.add_argument("--note", help="why (kept here and sent to a followed hashcore source)")
    content = add.add_mutually_exclusive_group()
    content.add_argument(
        "--content", type=Path, metavar="FILE", help="the content it is about (hashed here)"
    )
    content.add_argument(
        "--hash",
        action="append",
        default=[],
        metavar="FAMILY:HEX",
        help="a hash of that content (repeatable), e.g. pdq:f8f8...",
    )
    add.set_defaults(func=run_add)

    remove = verbs.add_parser(
        "remove", parents=store, help="withdraw your opinion on an entry (lifts its exception)"
    )
    _entry_arguments(remove)
    remove.set_defaults(func=run_remove)

    listing = verbs.add_parser("list", parents=store, help="opinions, oldest first")
    listing.add_argument("bank", nargs="?", metavar="BANK", help="only this bank's entries")
    listing.add_argument("--entry", metavar="EXTERNAL_ID", help="only this entry (with BANK)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)

    feedback = verbs.add_parser(
        "feedback",
        help="send this store's pending opinions on a partner's bank to the partner's API",
        description="Runs where the store is (on a server's host: the server's store "
        "directory), never through a server: it reads and marks the store's own outbox.",
    )
    feedback.add_argument("bank", metavar="BANK")
    feedback.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help=f"store directory (default: ${STORE_ENV}, else ./{DEFAULT_STORE})",
    )
    feedback.add_argument("--server", help=argparse.SUPPRESS)  # refused with the reason
    feedback.add_argument(
        "--format", required=True, help="the partner's format (ncmec, stopncii, threatexchange)"
    )
    feedback.add_argument("--url", required=True, help="the partner API's base URL")
    feedback.add_argument(
        "--credentials",
        metavar="env:NAME|file:PATH",
        help="where to read credentials (default: $HASHCORE_CREDENTIALS)",
    )
    feedback.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    feedback.add_argument("--retries", type=int, default=4, help="retries of a failed request")
    feedback.add_argument("--json", action="store_true", help="print the counts as JSON")
    feedback.set_defaults(func=run_feedback)


def _entry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bank", metavar="BANK")
    parser.add_argument("external_id", metavar="EXTERNAL_ID", help="the entry's id in its bank")
    parser.add_argument(
        "--author", help="who is of this opinion (default: your user name; a server: the token)"
    )
    parser.add_argument("--json", action="store_true", help="print the opinion as JSON")


def run_add(args: argparse.Namespace) -> int:
    require_store(args)
    kind = opinion_kind(args.kind)
    with open_engine(args) as engine:
        hashes = _hashes(engine, args.content, args.hash)
        if kind is OpinionKind.FALSE_POSITIVE and not hashes:
            print(
                "hashcore: warning: a false positive without --content or --hash excepts "
                "nothing here (it is recorded and sent on)",
                file=sys.stderr,
            )
        opinion = _new(engine, args, kind, note=args.note, hashes=hashes)
        return _print_one(opinions_of(engine).record_opinion(opinion), args.json)


def run_remove(args: argparse.Namespace) -> int:
    require_store(args)
    with open_engine(args) as engine:
        opinion = _new(engine, args, OpinionKind.WITHDRAWN)
        return _print_one(opinions_of(engine).record_opinion(opinion), args.json)


def run_list(args: argparse.Namespace) -> int:
    require_store(args)
    if args.entry and not args.bank:
        raise InvalidInput("--entry names an entry within BANK: give BANK too", field="entry")
    with open_engine(args) as engine:
        found = opinions_of(engine).list_opinions(args.bank, args.entry)
    if args.json:
        print(json.dumps([opinion_to_json(o) for o in found]))
        return 0
    rows = [
        [str(o.id), o.bank, o.external_id, o.kind.value, o.author, o.origin or "local",
         utc_time(o.created_at), o.note or ""]
        for o in found
    ]  # fmt: skip
    if rows:
        header = ["ID", "BANK", "ENTRY", "KIND", "AUTHOR", "ORIGIN", "WHEN", "NOTE"]
        print("\n".join(table(header, rows, indent="")))
    else:  # said on stderr: stdout stays empty for whoever counts its lines
        where = f"on {args.bank}/{args.entry}" if args.entry else f"on bank {args.bank}"
        print(f"no opinions {where if args.bank else 'in this store'}", file=sys.stderr)
    return 0


def run_feedback(args: argparse.Namespace) -> int:
    from hashcore.backends import BACKEND_ENV, backend_from_spec
    from hashcore.opinions.feedback import feedback_format, load_feedback_formats, send_feedback
    from hashcore.plugins import loaded_plugins

    if args.server:
        raise NotRemote(
            "opinion feedback runs where the store is (the server's host), not through a "
            "server", code="UNIMPLEMENTED",
        )  # fmt: skip
    directory = _local_store(args)
    plugins = loaded_plugins()
    formats = load_feedback_formats(plugins.manager)
    fmt = feedback_format(formats, args.format)
    secret = read_credentials(args.credentials)
    headers = plugins.format(args.format).auth_headers(secret) if secret else {}
    client = HttpClient(
        headers=headers, auth_origin=origin(args.url), timeout=args.timeout, retries=args.retries
    )
    with Engine(directory, index_backend=backend_from_spec(os.environ.get(BACKEND_ENV))) as engine:
        counts = send_feedback(
            engine.store, fmt, args.bank, args.url, client, partners=set(formats)
        )
    if args.json:
        keys = ("sent", "requests", "not expressible", "superseded", "nothing to withdraw")
        print(json.dumps({key.replace(" ", "_"): counts[key] for key in keys}))
        return 0
    print(
        f"bank {args.bank}: {counts['sent']} opinion(s) sent to {args.format} in "
        f"{counts['requests']} request(s); not sent: {counts['not expressible']} "
        f"{args.format} cannot express, {counts['superseded']} superseded by the same author "
        f"first, {counts['nothing to withdraw']} withdrawal(s) of what {args.format} never got"
    )
    return 0


def _local_store(args: argparse.Namespace) -> Path:
    """The store feedback reads and marks: always this host's (``$HASHCORE_SERVER`` and the
    client profile name servers, which feedback never goes through)."""
    from hashcore.store.store import DB_NAME

    directory = store_dir(args)
    if not (directory / DB_NAME).is_file():
        raise NotFound(
            f"no hashcore store at {directory} (give --store DIR or set ${STORE_ENV}; feedback "
            "runs where the store is)",
            field="store",
        )
    return directory


def opinion_to_json(opinion: Opinion) -> dict[str, Any]:
    """The ``--json`` shape of an opinion (hashes as ``family:hex``)."""
    return {
        "id": opinion.id,
        "bank": opinion.bank,
        "external_id": opinion.external_id,
        "kind": opinion.kind.value,
        "author": opinion.author,
        "note": opinion.note,
        "origin": opinion.origin,
        "created_at": opinion.created_at,
        "hashes": [f"{s.type}:{s.value.hex()}" for s in opinion.hashes],
        "uid": opinion.uid,
        "sent_at": opinion.sent_at,
        "sent_to": opinion.sent_to,
    }


def _new(
    engine: EngineAPI,
    args: argparse.Namespace,
    kind: OpinionKind,
    *,
    note: str | None = None,
    hashes: tuple[Signal, ...] = (),
) -> NewOpinion:
    # On a server the token is the author unless one is named: an empty author says so.
    default = getpass.getuser() if isinstance(engine, Engine) else ""
    return NewOpinion(args.bank, args.external_id, kind, args.author or default, note, hashes)


def _hashes(engine: EngineAPI, content: Path | None, texts: list[str]) -> tuple[Signal, ...]:
    """The content's hashes: its file hashed here (never sent), or ``family:hex`` texts."""
    registry = engine.registry
    if content is not None:
        return _content_hashes(content, registry)
    found = []
    for text in texts:
        family, sep, value = text.partition(":")
        if not sep:
            raise InvalidInput(f"--hash expects FAMILY:HEX, got {text!r}", field="hash")
        signal = registry.get(family.strip()).signal_from_text(value.strip())
        found.append(Signal(signal.type, signal.value))
    return tuple(found)


def _content_hashes(content: Path, registry: SignalRegistry) -> tuple[Signal, ...]:
    """Every family's hash of ``content``, or :class:`ContentError` naming what failed: a
    truncated picture hashed by MD5 alone would except only that exact file, never the
    re-encoded copies a false positive comes back as, so nothing partial is recorded."""
    hashed = hash_file(content, registry)
    signals = [
        Signal(s.type, s.value)
        for s in hashed.signals
        if s.usable and stored_variant(s.variant) is None
    ]
    if not signals:
        reasons = "; ".join(hashed.messages()) or f"{content}: no usable hash"
        raise ContentError(f"{reasons}; nothing recorded", field="content")
    if hashed.errors:
        kept = ", ".join(sorted({s.type for s in signals}))
        raise ContentError(
            f"{'; '.join(hashed.messages())}; nothing recorded: {kept} alone would not except "
            "re-encoded copies (give the whole file, or its hashes with --hash)",
            field="content",
        )
    return tuple(signals)


def _print_one(opinion: Opinion, as_json: bool) -> int:
    if as_json:
        print(json.dumps(opinion_to_json(opinion)))
        return 0
    hashes = f" ({len(opinion.hashes)} content hash(es))" if opinion.hashes else ""
    print(
        f"opinion {opinion.id}: {opinion.kind.value} on {opinion.bank}/{opinion.external_id} "
        f"by {opinion.author}{hashes}"
    )
    return 0
