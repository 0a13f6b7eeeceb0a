"""``hashcore bank``: create, list, add to, prioritise, set thresholds of, enable or disable
banks; remove entries; compact; import, fetch and export partner feeds."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hashcore.cli import follow_cmd
from hashcore.cli.common import (
    add_jobs_option,
    open_engine,
    parse_thresholds,
    require_store,
    store_parent,
    utc_time,
    verb_group,
    walked_files,
)
from hashcore.cli.import_cmd import register_bank_subcommands
from hashcore.cli.progress import Progress
from hashcore.engine_api import EngineAPI
from hashcore.errors import AlreadyExists, HashcoreError, InvalidInput
from hashcore.hash_pool import hash_files
from hashcore.hashing import FileHashes
from hashcore.model import Bank, BankInfo, UpsertOutcome
from hashcore.signals import stored_variant


def register(subparsers: Any) -> None:
    verbs = verb_group(subparsers, "bank", "manage banks of known content", __doc__)
    store = [store_parent()]

    create = verbs.add_parser("create", parents=store, help="create a bank")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--label", action="append", default=[], help="label (repeatable)")
    create.add_argument("--source", help="where the bank's content comes from")
    create.add_argument(
        "--threshold", action="append", metavar="FAMILY=VALUE", help="override a match threshold"
    )
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    create.add_argument("--priority", help="1 (highest) to 5: lookups list its matches first")
    create.set_defaults(func=run_create)

    listing = verbs.add_parser("list", parents=store, help="banks with their sizes")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)

    add = verbs.add_parser(
        "add", parents=[store_parent(hash_only=True)], help="hash files and add one entry per file"
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    add.add_argument("--label", action="append", default=[], help="entry label (repeatable)")
    add_jobs_option(add)
    add.set_defaults(func=run_add)

    remove = verbs.add_parser("remove", parents=store, help="remove entries (kept as deleted)")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("entries", nargs="+", type=int, metavar="ENTRY", help="entry ids")
    remove.set_defaults(func=run_remove)

    for verb, enabled in (("enable", True), ("disable", False)):
        toggle = verbs.add_parser(verb, parents=store, help=f"{verb} matching against a bank")
        toggle.add_argument("name", metavar="NAME")
        toggle.set_defaults(func=run_toggle, enabled=enabled)

    priority = verbs.add_parser(
        "priority", parents=store, help="set or clear a bank's priority (1 highest to 5)"
    )
    priority.add_argument("name", metavar="NAME")
    priority.add_argument("priority", metavar="PRIORITY", help="1 to 5, or 'none' to clear it")
    priority.set_defaults(func=run_priority)

    threshold = verbs.add_parser(
        "threshold", parents=store, help="set or reset a bank's match thresholds"
    )
    threshold.add_argument("name", metavar="NAME")
    threshold.add_argument(
        "changes",
        nargs="+",
        metavar="FAMILY=VALUE",
        help="a family's threshold for this bank, or FAMILY=default for the family's own",
    )
    threshold.set_defaults(func=run_threshold)

    compact = verbs.add_parser("compact", parents=store, help="compact indexes, write snapshots")
    compact.set_defaults(func=run_compact)
    register_bank_subcommands(verbs)  # import, fetch, export: after the verbs of every day
    follow_cmd.register(verbs)


def run_create(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        bank = engine.create_bank(
            args.name,
            labels=args.label,
            source=args.source,
            enabled=not args.disabled,
            thresholds=parse_thresholds(args.threshold),
            priority=_priority(args.priority or "none"),
        )
    print(f"created bank {bank.name}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    require_store(args)
    with open_engine(args) as engine:
        infos = engine.list_banks()
    if args.json:
        print(json.dumps([bank_to_json(info) for info in infos]))
        return 0
    for info in infos:
        bank = info.bank
        state = "enabled" if bank.enabled else "disabled"
        if bank.priority is not None:
            state += f", priority {bank.priority}"
        families = ", ".join(f"{k} {v}" for k, v in sorted(info.signals_per_family.items()))
        size = f"{info.entries} entr{'y' if info.entries == 1 else 'ies'}"
        print(f"{bank.name}  ({state}; {size}{'; ' if families else ''}{families})")
        if bank.labels:
            print(f"  labels: {', '.join(bank.labels)}")
        if bank.thresholds:
            overrides = ", ".join(f"{k}={v:g}" for k, v in sorted(bank.thresholds.items()))
            print(f"  thresholds: {overrides}")
        for follower in info.followers:  # partners following it (docs/sharing.md)
            when = utc_time(follower.updated_at)
            print(f"  followed by {follower.partner}: at {follower.checkpoint} ({when})")
    return 0


def bank_to_json(info: BankInfo) -> dict[str, Any]:
    bank = info.bank
    return {
        "name": bank.name,
        "labels": list(bank.labels),
        "source": bank.source,
        "enabled": bank.enabled,
        "thresholds": dict(bank.thresholds),
        "priority": bank.priority,
        "entries": info.entries,
        "signals": dict(info.signals_per_family),
        "followers": [
            {"partner": f.partner, "checkpoint": f.checkpoint, "updated_at": f.updated_at}
            for f in info.followers
        ],
    }


def run_add(args: argparse.Namespace) -> int:
    require_store(args)
    tally: Counter[str] = Counter()
    with open_engine(args) as engine:
        engine.get_bank(args.name)  # fail before hashing anything if the bank is unknown
        files = walked_files(args)
        progress = Progress(len(files), "adding")
        for hashes in hash_files(files, engine.registry, jobs=args.jobs):
            outcome, line, warnings = _add_one(engine, args.name, hashes, args.label)
            tally[outcome] += 1
            tally["featureless"] += any("quality" in warning for warning in warnings)
            progress.advance()
            for warning in warnings:
                progress.write(f"hashcore: warning: {warning}", file=sys.stderr)
            if outcome == "failed":
                progress.write(f"hashcore: error: {line}", file=sys.stderr)
            else:
                progress.write(line)
        progress.close()
    print(add_summary(args.name, len(files), tally), file=sys.stderr)
    return 1 if tally["failed"] else 0


def add_summary(bank: str, files: int, tally: Counter[str]) -> str:
    """``bank b: 12 files, 11 added, 1 already there, 0 not added (2 too featureless for PDQ)``;
    ``N updated`` after ``added`` when files already there got new labels or hashes."""
    updated = f"{tally['updated']} updated, " if tally["updated"] else ""
    line = (
        f"bank {bank}: {files} file{'' if files == 1 else 's'}, {tally['added']} added, "
        f"{updated}{tally['already']} already there, {tally['failed']} not added"
    )
    if tally["featureless"]:
        line += f" ({tally['featureless']} too featureless for some families to match on)"
    return line


def _add_one(
    engine: EngineAPI, bank: str, hashes: FileHashes, labels: list[str]
) -> tuple[str, str, list[str]]:
    """``(outcome, line, warnings)``: ``added`` with ``<entry id>\t<path>``; ``updated`` (new
    labels or hashes) or ``already`` (as it was) with the entry already holding the file; or
    ``failed`` with the reason. Warnings name hashes that failed or cannot match."""
    path = hashes.path
    warnings = hashes.messages()  # one decoding failure fails PDQ and pHash alike: said once
    warnings += [
        f"{path}: {signal.type} quality {signal.quality} is too low to match on (a featureless "
        "picture); its other hashes still match"
        for signal in hashes.signals
        if not signal.usable and stored_variant(signal.variant) is None
    ]
    warnings += [
        f"{path}: {signal.type} quality {signal.quality} is low (a smooth or dark picture): it "
        "matches only where another family agrees"
        for signal in hashes.signals
        if signal.usable
        and engine.registry.get(signal.type).is_weak(signal.quality)
        and stored_variant(signal.variant) is None
    ]
    try:
        # Keyed by the file's MD5, so a re-run (after a kill) updates instead of duplicating.
        added = engine.add_hashes(bank, hashes.signals, labels=labels, source=str(path))
    except AlreadyExists:  # a server from before AddSignals' upsert has the file already
        return "already", f"-\t{path}\t(already in {bank})", warnings
    except HashcoreError as error:
        reasons = [m.removeprefix(f"{path}: ") for m in hashes.messages() or [error.message]]
        return "failed", f"{path}: not added: {'; '.join(reasons)}", []
    entry_id = added.entry.id
    if added.outcome is UpsertOutcome.UNCHANGED:
        return "already", f"{entry_id}\t{path}\t(already in {bank})", warnings
    if added.outcome is UpsertOutcome.UPDATED:
        return "updated", f"{entry_id}\t{path}\t(already in {bank}, updated)", warnings
    return "added", f"{entry_id}\t{path}", warnings


def _one_change(args: argparse.Namespace, change: Callable[[EngineAPI], str]) -> int:
    """The small admin verbs: one change to an existing store, reported in one line."""
    require_store(args)
    with open_engine(args) as engine:
        print(change(engine))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    return _one_change(
        args, lambda engine: _removed(args.name, engine.remove_entries(args.name, args.entries))
    )


def _removed(bank: str, count: int) -> str:
    return f"removed {count} entr{'y' if count == 1 else 'ies'} from {bank}"


def run_priority(args: argparse.Namespace) -> int:
    value = _priority(args.priority)
    return _one_change(
        args, lambda engine: _priority_line(engine.set_bank_priority(args.name, value))
    )


def _priority(text: str) -> int | None:
    """A priority as typed (``bank create --priority``, ``bank priority``): a number, checked
    by the engine as from any caller, or ``none`` for unset."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"priority must be 1 to 5 or 'none', got {text!r}") from None


def _priority_line(bank: Bank) -> str:
    shown = "cleared" if bank.priority is None else f"set to {bank.priority}"
    return f"bank {bank.name} priority {shown}"


def run_threshold(args: argparse.Namespace) -> int:
    """Change some families' thresholds, keeping the bank's others: read, merge, write whole."""
    families = [item.partition("=")[0].strip() for item in args.changes]
    twice = sorted({family for family in families if families.count(family) > 1})
    if twice:  # pdq=10 pdq=20 kept the last without a word
        raise InvalidInput(f"bank threshold names {', '.join(map(repr, twice))} twice")
    changes = dict(zip(families, args.changes, strict=True))
    said = {family: item.partition("=")[2].strip().lower() for family, item in changes.items()}
    reset = {family for family, value in said.items() if value == "default"}
    values = parse_thresholds(
        [item for family, item in changes.items() if family not in reset], "bank threshold"
    )

    def change(engine: EngineAPI) -> str:
        held = dict(engine.get_bank(args.name).bank.thresholds)
        merged = {f: v for f, v in held.items() if f not in reset} | values
        return _thresholds_line(engine.set_bank_thresholds(args.name, merged))

    return _one_change(args, change)


def _thresholds_line(bank: Bank) -> str:
    own = ", ".join(f"{family}={value:g}" for family, value in sorted(bank.thresholds.items()))
    return f"bank {bank.name} thresholds: {own or 'every family at its default'}"


def run_toggle(args: argparse.Namespace) -> int:
    return _one_change(
        args, lambda engine: _toggled(engine.set_bank_enabled(args.name, args.enabled))
    )


def _toggled(bank: Bank) -> str:
    return f"bank {bank.name} {'enabled' if bank.enabled else 'disabled'}"


def run_compact(args: argparse.Namespace) -> int:
    require_store(args)
    with open_engine(args) as engine:
        progress = Progress(None, "compacting (indexes folded, snapshots written)")
        engine.compact(progress)
        progress.close()
        for family, state in sorted(engine.index_status().items()):
            print(f"{family}: {state.values} values, snapshot at seq {state.seq}")
    return 0
