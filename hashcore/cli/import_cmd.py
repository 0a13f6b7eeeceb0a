"""``hashcore bank import | fetch | export``: partner hash banks in and out.

``import`` reads a partner file, ``fetch`` a partner API from the stored checkpoint on, and both
apply updates (additions, replacements, deletions, withdrawals) in transactions with the
checkpoint. ``export`` writes a bank in hashcore's lossless format or as a pytx dataset CSV.
Credentials are never taken on the command line (they would show in ``ps``): ``--credentials``
names an environment variable (``env:NAME``) or a file (``file:PATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from hashcore.cli.common import open_engine, require_store, server_address, store_parent
from hashcore.cli.progress import Progress
from hashcore.engine_api import EngineAPI, ImportOptions
from hashcore.errors import InvalidInput, NotFound
from hashcore.formats.base import BankFormat
from hashcore.formats.csvmap import load_mapping
from hashcore.formats.export import EXPORT_FORMATS, export_bank
from hashcore.formats.http import HttpClient, origin
from hashcore.formats.importer import (
    BATCH_SIZE,
    MAX_DELETE_FRACTION,
    ImportSummary,
    import_updates,
    stored_checkpoint,
)
from hashcore.model import BankSettings
from hashcore.plugins import loaded_plugins

CREDENTIALS_ENV = "HASHCORE_CREDENTIALS"


def register_bank_subcommands(verbs: Any) -> None:
    """Add ``import``, ``fetch`` and ``export`` to the ``hashcore bank`` sub-parsers."""
    store = [store_parent()]
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("name", metavar="NAME", help="bank to import into")
    common.add_argument(
        "--format",
        required=True,
        dest="fmt",
        metavar="FORMAT",
        help="ncmec, stopncii, threatexchange, pytx-csv, pytx-local, tat, csv, "
        "hashcore, or a plugin's",
    )
    common.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="format option (repeatable), e.g. value_column=hash",
    )
    common.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE",
        help="TOML/JSON file of format options (the csv column mapping)",
    )
    common.add_argument(
        "--strict", action="store_true", help="abort at the first malformed or unknown record"
    )
    common.add_argument("--create", action="store_true", help="create the bank if missing")
    common.add_argument(
        "--batch-size",
        type=int,
        default=BATCH_SIZE,
        metavar="N",
        help=f"updates per transaction (default {BATCH_SIZE})",
    )
    common.add_argument("--json", action="store_true", help="print the summary as JSON")
    common.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="let the feed delete or withdraw more than half of the bank's active entries",
    )

    imp = verbs.add_parser("import", parents=[*store, common], help="import a partner file")
    imp.add_argument("path", type=Path, metavar="FILE", help="the partner feed or export to read")
    imp.set_defaults(func=run_import)

    fetch = verbs.add_parser(
        "fetch",
        parents=[*store, common],
        help="fetch from a partner API, resuming at the stored checkpoint",
    )
    fetch.add_argument("--url", required=True, help="the partner API's base URL")
    fetch.add_argument(
        "--credentials",
        metavar="env:NAME|file:PATH",
        help=f"where to read credentials (default: ${CREDENTIALS_ENV})",
    )
    fetch.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds one request may take in all, body included (default 30)",
    )
    fetch.add_argument("--retries", type=int, default=4, help="retries of a failed request")
    fetch.add_argument(
        "--restart",
        action="store_true",
        help="ignore the stored checkpoint and fetch from the beginning",
    )
    fetch.set_defaults(func=run_fetch)

    export = verbs.add_parser("export", parents=store, help="write a bank to a file")
    export.add_argument("name", metavar="NAME")
    export.add_argument("--format", dest="fmt", default="hashcore", choices=EXPORT_FORMATS)
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="default: stdout")
    export.add_argument(
        "--with-sources",
        action="store_true",
        help="include each entry's source (for `bank add`: the local file path); off by default",
    )
    export.set_defaults(func=run_export)


def run_import(args: argparse.Namespace) -> int:
    plugins, options = loaded_plugins(), _format_options(args)
    fmt = plugins.format(args.fmt, options)
    if args.path.is_dir():
        raise InvalidInput(f"{args.path}: is a directory (bank import reads a file)", field="path")
    if not args.path.is_file():
        raise NotFound(f"{args.path}: no such file", field="path")
    with open_engine(args) as engine:
        create = _bank_to_create(engine, args, fmt)
        progress = Progress(None, f"importing {args.path.name}")
        try:  # a server parses and applies the file itself; the summary is the same
            how = ImportOptions(
                args.fmt, options, args.strict, args.allow_mass_delete, args.batch_size, create
            )
            summary = engine.import_file_with(args.name, args.path, how, progress)
        finally:
            progress.close()
        created = create is not None and _has_bank(engine, args.name)  # not if refused whole
    if created and create is not None and not create.enabled:  # a backup of a paused bank
        print(
            f"hashcore: bank {args.name} created disabled, as the file's header says; "
            f"`hashcore bank enable {args.name}` to match against it",
            file=sys.stderr,
        )
    return _report(summary, args.json)


def run_fetch(args: argparse.Namespace) -> int:
    if server_address(args) is not None:  # said before any request to the partner or server
        raise InvalidInput(
            "bank fetch runs where the store it fills is (it keeps the partner's checkpoint "
            "there): run it on the server's machine with --store DIR, not through a server",
            field="server",
        )
    fmt = _format(args)
    headers = fmt.auth_headers(secret) if (secret := read_credentials(args.credentials)) else {}
    client = HttpClient(
        headers=headers, auth_origin=origin(args.url), timeout=args.timeout, retries=args.retries
    )
    key = fetch_checkpoint_key(fmt)
    with open_engine(args) as engine:
        _ensure_bank(engine, args, fmt)
        checkpoint = None if args.restart else stored_checkpoint(engine, args.name, key)
        progress = Progress(None, f"fetching {fmt.name}")
        try:
            summary = import_updates(
                engine,
                args.name,
                fmt.fetch(client, args.url, checkpoint),
                strict=args.strict,
                progress=progress,
                batch_size=args.batch_size,
                checkpoint_source=key,
                max_delete_fraction=_delete_fraction(args),
            )
        finally:
            progress.close()
    return _report(summary, args.json)


def run_export(args: argparse.Namespace) -> int:
    require_store(args)
    with open_engine(args) as engine:
        if args.output is None:
            counts = _export(engine, args, sys.stdout)
        else:
            counts = _export_to(args.output, lambda out: _export(engine, args, out))
    for reason, count in sorted(counts.items()):
        print(f"{reason}: {count}", file=sys.stderr)
    return 0


def _export(engine: EngineAPI, args: argparse.Namespace, out: TextIO) -> Counter[str]:
    return export_bank(engine, args.name, out, args.fmt, with_sources=args.with_sources)


def _export_to(path: Path, write: Callable[[TextIO], Counter[str]]) -> Counter[str]:
    """Written whole or not at all: a failed export (an unknown bank, a server gone mid-stream,
    a full disk) leaves a regular file at ``path`` as it was, an earlier export there included.
    A symlink keeps pointing where it did (the file it names is the one replaced); a FIFO, a
    device or a process substitution (``-o >(gzip > x.gz)``) is written through, never
    replaced by a file of ours (``-o /dev/full`` replaced the device, as root)."""
    try:
        kind = os.stat(path).st_mode  # through links
    except OSError:
        kind = None
    if kind is not None and not stat.S_ISREG(kind):
        try:
            with path.open("w", encoding="utf-8", newline="") as out:
                return write(out)
        except OSError as error:
            reason = error.strerror or str(error)
            raise InvalidInput(f"cannot write {path}: {reason}", field="output") from None
    target = path.resolve() if path.is_symlink() else path
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            counts = write(out)
        os.replace(partial, target)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError):  # a missing folder, no permission, a full disk
            reason = error.strerror or str(error)
            raise InvalidInput(f"cannot write {path}: {reason}", field="output") from None
        raise
    return counts


def _delete_fraction(args: argparse.Namespace) -> float | None:
    return None if args.allow_mass_delete else MAX_DELETE_FRACTION


def fetch_checkpoint_key(fmt: BankFormat) -> str:
    """Checkpoints are kept per bank and per format (one feed per format per bank)."""
    return f"fetch:{fmt.name}"


def read_credentials(spec: str | None) -> str | None:
    """The secret named by ``env:NAME`` / ``file:PATH`` (or ``$HASHCORE_CREDENTIALS``)."""
    if spec is None:
        return os.environ.get(CREDENTIALS_ENV) or None
    kind, sep, where = spec.partition(":")
    if sep and kind == "env":
        value = os.environ.get(where)
        if not value:
            raise InvalidInput(f"environment variable {where} is not set", field="credentials")
        return value.strip()
    if sep and kind == "file":
        try:
            return Path(where).read_text("utf-8").strip()
        except OSError as error:
            raise InvalidInput(
                f"cannot read credentials file: {error.strerror}", field="credentials"
            ) from None
    raise InvalidInput("--credentials takes env:NAME or file:PATH", field="credentials")


def parse_options(items: list[str], mapping: Path | None) -> dict[str, object]:
    options: dict[str, object] = dict(load_mapping(mapping)) if mapping else {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--option expects KEY=VALUE, got {item!r}", field="option")
        options[key.strip()] = value
    return options


def _format(args: argparse.Namespace) -> BankFormat:
    return loaded_plugins().format(args.fmt, _format_options(args))


def _format_options(args: argparse.Namespace) -> dict[str, object]:
    options = parse_options(args.option, args.mapping)
    path = getattr(args, "path", None)
    jsonl = path is not None and path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    if args.fmt == "csv" and "input" not in options and jsonl:
        options["input"] = "jsonl"
    return options


def _ensure_bank(engine: EngineAPI, args: argparse.Namespace, fmt: BankFormat) -> None:
    settings = _bank_to_create(engine, args, fmt)
    if settings is not None:
        engine.create_bank_with(args.name, settings)


def _bank_to_create(
    engine: EngineAPI, args: argparse.Namespace, fmt: BankFormat
) -> BankSettings | None:
    """The settings to create the missing bank with (``--create``), or None if it exists."""
    try:
        engine.get_bank(args.name)
    except NotFound:
        if not args.create:
            raise NotFound(f"no bank named {args.name!r} (use --create)", field="bank") from None
        settings = _file_settings(args, fmt)
        return BankSettings(source=fmt.source_name) if settings is None else settings
    return None


def _has_bank(engine: EngineAPI, name: str) -> bool:
    try:
        engine.get_bank(name)
    except NotFound:
        return False
    return True


def _file_settings(args: argparse.Namespace, fmt: BankFormat) -> BankSettings | None:
    """The bank settings a file carries (a hashcore export's header), taken as they are (an
    unset source stays unset), so the bank an import creates matches the way its sender's did;
    None for feeds that carry none and for API fetches (the bank is then the format's)."""
    path: Path | None = getattr(args, "path", None)
    if path is None:
        return None
    with path.open("rb") as stream:
        return fmt.bank_settings(stream)


def _report(summary: ImportSummary, as_json: bool) -> int:
    if as_json:
        print(json.dumps(summary.as_dict()))
        for problem in summary.problems:
            print(f"problem: {problem}", file=sys.stderr)
    else:
        for line in summary.lines():
            print(line)
    return 1 if summary.problem_count else 0
