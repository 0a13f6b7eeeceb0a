"""``hashcore hash``: every applicable algorithm on every file, as JSON lines or a table."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from hashcore.cli.common import add_jobs_option, walked_files
from hashcore.cli.feature_files import tmk_files, vpdq_files
from hashcore.cli.progress import Progress
from hashcore.hash_pool import hash_files
from hashcore.hashing import FileHashes
from hashcore.registry import SignalRegistry, load_registry
from hashcore.signals import Signal, stored_variant

VPDQ_SECONDS_ENV = "HASHCORE_VPDQ_SECONDS"
"""The vpdq plugin's sampling setting; ``--vpdq-dir`` sets it to 0 (every frame)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "hash", help="hash files with every applicable algorithm", description=__doc__
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.add_argument(
        "--tmk-dir", type=Path, metavar="DIR", help="also write DIR/<file stem>.tmk for each video"
    )
    parser.add_argument(
        "--vpdq-dir",
        type=Path,
        metavar="DIR",
        help="also write DIR/<file stem>.txt for each video in the reference vPDQ layout "
        "(frame,quality,hash,seconds); vPDQ then hashes every frame",
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="also every variant a lookup of the file searches (PDQ's and pHash's eight "
        "orientations, four more crops), each marked with its name: `hash --json --variants "
        "FILE | hashcore lookup --signals -` then answers as `hashcore lookup FILE`",
    )
    add_jobs_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    registry = load_registry()
    files = walked_files(args)
    features = [tmk_files(args.tmk_dir)] if args.tmk_dir else []
    if args.vpdq_dir:
        features.append(vpdq_files(args.vpdq_dir, registry))
        os.environ[VPDQ_SECONDS_ENV] = "0"  # read while hashing, by worker processes too
    progress = Progress(len(files), "hashing")
    failures = 0
    for result in hash_files(files, registry, jobs=args.jobs, variants=args.variants):
        said = [message for files_of in features for message in files_of.write(result)]
        failures += not result.ok or any(message.startswith("error") for message in said)
        line = (
            json.dumps(to_json(result, registry, lookup_variants=args.variants))
            if args.json
            else to_table_row(result, registry, lookup_variants=args.variants)
        )
        progress.advance()
        progress.write(line)
        for message in said:
            progress.write(f"hashcore: {message}", file=sys.stderr)
    progress.close()
    if failures:
        print(f"hashcore: {failures} of {len(files)} files had errors", file=sys.stderr)
    return 1 if failures else 0


def signal_to_json(
    signal: Signal, registry: SignalRegistry, *, lookup_variants: bool = False
) -> dict[str, Any]:
    """The JSON form of one signal, which ``lookup --signals`` reads back.

    ``variant`` is written for a derived picture's hash only (``trimmed``: the file with its
    borders cut off), so the plain hashes read exactly as before; with ``lookup_variants``
    (``hash --variants``) a lookup's own names too (``orig``, ``rot90``, ``centre90-right``).
    """
    data: dict[str, Any] = {
        "type": signal.type,
        "value": registry.get(signal.type).format(signal.value),
    }
    if signal.quality is not None:
        data["quality"] = signal.quality
    if not signal.usable:
        data["usable"] = False
    variant = signal.variant if lookup_variants else stored_variant(signal.variant)
    if variant is not None:
        data["variant"] = variant
    return data


def to_json(
    result: FileHashes, registry: SignalRegistry, *, lookup_variants: bool = False
) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "kind": result.kind.value if result.kind else None,
        "signals": [
            signal_to_json(s, registry, lookup_variants=lookup_variants) for s in result.signals
        ],
        "errors": [{"type": e.type, "message": e.message} for e in result.errors],
    }


def to_table_row(
    result: FileHashes, registry: SignalRegistry, *, lookup_variants: bool = False
) -> str:
    lines = [f"{result.path}  ({result.kind.value if result.kind else 'unreadable'})"]
    for signal in result.signals:
        text = registry.get(signal.type).format(signal.value)
        if len(text) > 64:
            text = long_value(signal.value)
        extra = f"  quality {signal.quality}" if signal.quality is not None else ""
        extra += "  (unusable: quality too low)" if not signal.usable else ""
        variant = signal.variant if lookup_variants else stored_variant(signal.variant)
        extra += f"  ({variant})" if variant is not None else ""
        lines.append(f"  {signal.type:<9} {text}{extra}")
    lines.extend(f"  error     {message}" for message in result.messages())
    return "\n".join(lines)


def long_value(value: bytes) -> str:
    """A table cell for a value too long to show (TMK features: 256 KB), by digest: its start
    is the same file header in every video, so it told ten videos apart by nothing."""
    digest = hashlib.sha256(value).hexdigest()[:16]
    return f"sha256:{digest}  ({len(value):,} bytes; --json prints the value)"
