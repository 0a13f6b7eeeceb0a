"""hashcore lookup: match files, or hashes alone, against every bank, and triage the answers.

Hashes alone: --pdq HEX, --phash HEX, --md5 HEX, --hash FAMILY=VALUE (together: one file's
hashes), or --signals FILE with one file per line, either a `hashcore hash --json` line or
plain `TYPE VALUE` pairs (e.g. `pdq f8f8...  md5 d35c...`).

A summary ends the output: `N files: K known, U new, E errors`, naming the store; each file
counts once (known when it matched, even with errors). --new lists only the files no bank is
known to know (the analyst's queue), those with errors too; their errors and the summary go to
stderr.

Exit status, for automation: 0 when every file is known (matched), 1 when any is new, 2 when
any could not be looked up. Query hashes are never printed or logged: a non-match's hash is
nobody's business.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hashcore.cli.common import (
    add_jobs_option,
    finite_number,
    open_engine,
    parse_thresholds,
    require_store,
    server_address,
    store_dir,
    store_parent,
    utc_time,
    walked_files,
)
from hashcore.cli.progress import Progress
from hashcore.engine_api import EngineAPI, lookup_hashed
from hashcore.errors import HashcoreError, InvalidInput
from hashcore.hash_pool import hash_files, ordered_map
from hashcore.model import LookupResult, Match, Skipped
from hashcore.registry import SignalRegistry
from hashcore.signals import Metric, Signal, stored_variant

EXIT_ALL_KNOWN, EXIT_SOMETHING_NEW, EXIT_ERROR = 0, 1, 2
HASH_OPTIONS = ("pdq", "phash", "md5")
"""Families with their own ``--FAMILY HEX`` option; ``--hash FAMILY=VALUE`` covers any other."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lookup",
        parents=[store_parent(hash_only=True)],
        help="match files against every bank",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders")
    parser.add_argument(
        "--signals",
        metavar="FILE",
        help="look up `hashcore hash --json` lines instead ('-': stdin)",
    )
    for family in HASH_OPTIONS:
        parser.add_argument(
            f"--{family}",
            action="append",
            metavar="HEX",
            help=f"look up this {family} hash (with the other hash options: one file's hashes)",
        )
    parser.add_argument(
        "--hash",
        action="append",
        metavar="FAMILY=VALUE",
        help="look up a hash of any installed family (see `hashcore plugins`)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.add_argument(
        "--new", action="store_true", help="print only the files no bank knows (summary on stderr)"
    )
    parser.add_argument(
        "--summary", action="store_true", help="with --json: end with a summary object"
    )
    parser.add_argument("--bank", action="append", help="only these banks (repeatable)")
    parser.add_argument(
        "--threshold", action="append", metavar="FAMILY=VALUE", help="override a match threshold"
    )
    parser.add_argument(
        "--min-confidence",
        type=finite_number,
        metavar="DIGITS",
        help="drop matches less certain than this (see docs/thresholds.md; unknown passes)",
    )
    add_jobs_option(parser)
    parser.set_defaults(func=run)


@dataclass
class Triage:
    """How many lookups found a known file, a new one, or could not be answered: each file is
    counted once (known when it matched, even with errors; else an error when it had one; else
    new), so the three add up to the files looked up."""

    known: int = 0
    new: int = 0
    errors: int = 0
    known_with_errors: int = 0
    """Known files that had errors too (a video that matched by MD5 but did not decode)."""

    def count(self, result: LookupResult) -> str:
        """Tally ``result``; its verdict: ``known`` (a match), ``error`` or ``new``."""
        if result.matches:
            self.known += 1
            self.known_with_errors += bool(result.errors)
            return "known"
        if result.errors:
            self.errors += 1
            return "error"
        self.new += 1
        return "new"

    def exit_code(self) -> int:
        if self.errors or self.known_with_errors:
            return EXIT_ERROR
        return EXIT_SOMETHING_NEW if self.new else EXIT_ALL_KNOWN

    def line(self, looked_up: int, what: tuple[str, str], store: str) -> str:
        """``8 files: 7 known, 1 new, 0 errors (store var/hashcore)``; ``what``: the singular
        and plural of what was looked up."""
        also = (
            f"; {self.known_with_errors} known {what[self.known_with_errors != 1]} had errors too"
            if self.known_with_errors
            else ""
        )
        return (
            f"{looked_up} {what[looked_up != 1]}: {self.known} known, "
            f"{self.new} new, {self.errors} error{'' if self.errors == 1 else 's'}{also} ({store})"
        )


def run(args: argparse.Namespace) -> int:
    hashes = _option_hashes(args)
    sources = sum(map(bool, (args.paths, args.signals, hashes)))
    if sources != 1:
        print(
            "hashcore: error: give PATH..., --signals FILE, or hash options (--pdq HEX ...)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    require_store(args)
    thresholds = parse_thresholds(args.threshold)
    triage, looked_up = Triage(), 0
    where = answered_by(args)
    store = " ".join(where)
    files = walked_files(args)
    progress = Progress(len(files) if files else None, "looking up")
    with open_engine(args) as engine:
        for bank in args.bank or ():
            _warn_if_disabled(engine, bank)
        for path, result in _results(engine, args, thresholds, hashes, files):
            if args.min_confidence is not None:
                result.matches = confident(result.matches, args.min_confidence)
            looked_up += 1
            verdict = triage.count(result)
            progress.advance()
            if args.new:  # the queue: every file no bank is known to know; errors aside
                for error in result.errors:
                    progress.write(f"hashcore: {error}", file=sys.stderr)
                if verdict == "known":
                    continue
            if args.json:
                progress.write(json.dumps(to_json(path, result, engine.registry, where)))
            elif args.new:
                progress.write(path)
            else:
                progress.write(to_text(path, result, engine.registry))
    progress.close()
    what = ("file", "files") if args.paths else ("query", "queries")
    if args.json:
        if args.summary:
            summary = {what[1]: looked_up, **vars(triage), where[0]: where[1]}
            print(json.dumps({"summary": summary}))
    else:
        print(triage.line(looked_up, what, store), file=sys.stderr if args.new else sys.stdout)
    return triage.exit_code()


def _warn_if_disabled(engine: EngineAPI, bank: str) -> None:
    """``--bank X`` of a disabled bank: its "no match" is not an answer, so say why."""
    try:
        enabled = engine.get_bank(bank).bank.enabled
    except HashcoreError:
        return  # unknown or not ours to read: the lookup itself says so
    if not enabled:
        print(
            f"hashcore: warning: bank {bank} is disabled: it matches nothing until "
            f"`hashcore bank enable {bank}`",
            file=sys.stderr,
        )


def answered_by(args: argparse.Namespace) -> tuple[str, str]:
    """What answered: ``("store", DIR)`` or ``("server", HOST:PORT)``: an answer from an
    unexpected store is how a wrong "new" looks, so the output names it."""
    address = server_address(args)
    return ("server", address) if address else ("store", str(store_dir(args)))


def _option_hashes(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(family, value)`` from --pdq/--phash/--md5/--hash, in the order of the options."""
    pairs = [(family, value) for family in HASH_OPTIONS for value in getattr(args, family) or []]
    for item in args.hash or []:
        family, sep, value = item.partition("=")
        if not sep or not family.strip() or not value.strip():
            raise InvalidInput(f"--hash expects FAMILY=VALUE, got {item!r}", field="hash")
        pairs.append((family.strip(), value.strip()))
    return pairs


def _results(
    engine: EngineAPI,
    args: argparse.Namespace,
    thresholds: dict[str, float],
    hashes: list[tuple[str, str]],
    files: list[Path],
) -> Iterator[tuple[str, LookupResult]]:
    banks = args.bank or None
    if hashes:
        signals = parse_pairs(hashes, engine.registry)
        yield "<hash options>", engine.lookup_signals(signals, thresholds=thresholds, banks=banks)
        return
    if args.signals:
        if args.signals == "-":
            yield from _signal_results(engine, sys.stdin, thresholds, banks)
        else:
            with open(args.signals, encoding="utf-8") as handle:
                yield from _signal_results(engine, handle, thresholds, banks)
        return
    if server_address(args) and not args.hash_only:  # the server hashes: N calls at once
        results = ordered_map(
            lambda path: engine.lookup_file(path, thresholds=thresholds, banks=banks),
            files,
            args.jobs,
        )
        yield from ((str(path), result) for path, result in zip(files, results, strict=True))
        return
    for hashed in hash_files(files, engine.registry, jobs=args.jobs, variants=True):
        yield str(hashed.path), lookup_hashed(engine, hashed, thresholds=thresholds, banks=banks)


def _signal_results(
    engine: EngineAPI, lines: TextIO, thresholds: dict[str, float], banks: list[str] | None
) -> Iterator[tuple[str, LookupResult]]:
    warned = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            if line.lstrip().startswith("{"):
                path, signals, errors, skipped = parse_hash_line(line, engine.registry)
                if not warned and lacks_lookup_variants(signals, engine.registry):
                    warned = True
                    print(NO_VARIANTS_WARNING, file=sys.stderr)
            else:
                signals = parse_pairs(plain_pairs(line), engine.registry)
                path, errors, skipped = "", [], []
        except (HashcoreError, ValueError, TypeError, KeyError) as error:
            failed = LookupResult(errors=[f"line {number}: {describe(error)}"], searched=False)
            yield f"<line {number}>", failed
            continue
        result = engine.lookup_signals(signals, thresholds=thresholds, banks=banks)
        result.errors[:0] = errors
        result.skipped[:0] = skipped
        result.searched = bool(signals)  # a hash --json line of a file that did not hash
        yield path or f"<line {number}>", result


def describe(error: Exception) -> str:
    """A parse error in words: ``not JSON: ...`` rather than ``JSONDecodeError(...)``."""
    if isinstance(error, HashcoreError):
        return error.message
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error.msg} at column {error.colno}"
    if isinstance(error, KeyError):
        return f"a signal lacks {error}"
    return str(error) or type(error).__name__


def plain_pairs(line: str) -> list[tuple[str, str]]:
    """``pdq f8f8... md5 d35c...``: whitespace-separated ``TYPE VALUE`` pairs. A value that
    starts a JSON list, object or string (vPDQ's ``["hash,quality,seconds", ...]``, as
    python-threatexchange writes it, with spaces) runs to that JSON's end."""
    pairs: list[tuple[str, str]] = []
    position, end = 0, len(line)
    while True:
        while position < end and line[position].isspace():
            position += 1
        if position == end:
            return pairs
        family, position = _word(line, position)
        while position < end and line[position].isspace():
            position += 1
        if position == end:
            raise InvalidInput(
                "expected TYPE VALUE pairs (e.g. `pdq <64 hex digits>`) or a `hashcore hash"
                " --json` line",
                field="signals",
            )
        if line[position] in '[{"':
            try:
                _, stop = JSON_VALUE.raw_decode(line, position)
            except json.JSONDecodeError as error:
                raise InvalidInput(f"{family}: not JSON: {error.msg}", field="signals") from None
            value, position = line[position:stop], stop
        else:
            value, position = _word(line, position)
        pairs.append((family, value))


JSON_VALUE = json.JSONDecoder()


def _word(line: str, position: int) -> tuple[str, int]:
    """The word of ``line`` starting at ``position``, and where it ends."""
    stop = position
    while stop < len(line) and not line[stop].isspace():
        stop += 1
    return line[position:stop], stop


def parse_pairs(pairs: list[tuple[str, str]], registry: SignalRegistry) -> list[Signal]:
    """Signals from typed ``(family, value)`` pairs. Unlike a JSON line from another machine,
    a family typed here that no plugin provides is a mistake: :class:`InvalidInput`."""
    signals = []
    for family, value in pairs:
        if family not in registry:
            known = ", ".join(registry.names())
            raise InvalidInput(f"unknown hash type {family!r} (installed: {known})", field="type")
        signals.append(Signal(family, registry.get(family).parse(value)))
    return signals


def parse_hash_line(
    line: str, registry: SignalRegistry
) -> tuple[str, list[Signal], list[str], list[Skipped]]:
    """One ``hashcore hash --json`` line: path, signals, errors, families with no plugin here."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    signals, skipped = [], []
    for item in data.get("signals") or []:
        family = item["type"]
        if family not in registry:
            skipped.append(Skipped(family, "no plugin for this family is installed"))
            continue
        quality = item.get("quality")
        signals.append(
            Signal(
                family,
                registry.get(family).parse(item["value"]),
                quality=quality if isinstance(quality, int) else None,
                usable=item.get("usable", True) is not False,
                variant=item.get("variant"),
            )
        )
    errors = [
        error["message"] if isinstance(error, dict) else str(error)
        for error in data.get("errors") or []
    ]
    return str(data.get("path", "")), signals, errors, skipped


NO_VARIANTS_WARNING = (
    "hashcore: warning: these hashes carry no lookup variants, so rotated, mirrored and "
    "cropped copies of the pictures can be missed; hash with `hashcore hash --json --variants`"
)


def lacks_lookup_variants(signals: Sequence[Signal], registry: SignalRegistry) -> bool:
    """Whether a picture's hashes from ``hash --json`` lack what a lookup of the file would
    search (PDQ's orientations and extra crops): only ``hash --variants`` writes them."""
    pictures = [s for s in signals if registry.get(s.type).crop_variants]
    return bool(pictures) and all(
        s.variant is None or stored_variant(s.variant) is not None for s in pictures
    )


def confident(matches: list[Match], minimum: float) -> list[Match]:
    """The matches at or above ``minimum``; a match no family can rate is kept (no evidence)."""
    return [m for m in matches if m.confidence is None or m.confidence >= minimum]


def to_json(
    path: str,
    result: LookupResult,
    registry: SignalRegistry,
    where: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One lookup's JSON line; ``where`` (:func:`answered_by`) adds ``store`` or ``server``."""
    data = {
        "path": path,
        "matches": [match_to_json(match, registry) for match in result.matches],
        "skipped": [{"type": skip.type, "reason": skip.reason} for skip in result.skipped],
        "errors": list(result.errors),
        "set_aside": [
            {"bank": a.bank, "entry": a.entry_id, "external_id": a.external_id}
            for a in result.set_aside
        ],
    }
    if where is not None:
        data[where[0]] = where[1]
    return data


def match_to_json(match: Match, registry: SignalRegistry) -> dict[str, Any]:
    signals = []
    for hit in match.signals:
        similarity = hit.type in registry and registry.get(hit.type).metric is Metric.SIMILARITY
        data: dict[str, Any] = {"type": hit.type}
        data["score" if similarity else "distance"] = _number(hit.distance)
        if hit.variant is not None:
            data["variant"] = hit.variant
        if hit.stored_variant is not None:
            data["stored_variant"] = hit.stored_variant
        if hit.weak:
            data["weak"] = True
        if hit.detail:
            data["detail"] = {key: _number(value) for key, value in hit.detail.items()}
        signals.append(data)
    data = {
        "bank": match.bank,
        "entry": match.entry_id,
        "external_id": match.external_id,
        "labels": list(match.labels),
        "signals": signals,
        "confidence": match.confidence,
    }
    if match.origin is not None:  # a followed partner's entry: cite the partner's record
        data["origin"] = {
            "partner": match.origin.partner,
            "remote_bank": match.origin.remote_bank,
            "checkpoint": match.origin.checkpoint,
            "received_at": utc_time(match.origin.received_at),
        }
    return data


def _detail_text(detail: dict[str, Any] | None) -> str:
    """vPDQ's figures in a line: ``(query 100% of 40 frames 8-12 s, banked 21% ...)``."""
    if not detail or "query_percent" not in detail:
        return ""
    sides = []
    for side in ("query", "banked"):
        sides.append(
            f"{side} {detail[f'{side}_percent']:.0f}% of {detail[f'{side}_frames']:.0f} frames"
            f" {detail[f'{side}_start']:g}-{detail[f'{side}_end']:g} s"
        )
    return f" ({', '.join(sides)})"


def to_text(path: str, result: LookupResult, registry: SignalRegistry) -> str:
    count = len(result.matches)
    if count:
        head = f"{path}: {count} match{'es' if count != 1 else ''}"
    else:
        head = f"{path}: {'no match' if result.searched else 'not looked up'}"
        if result.searched and result.errors:
            head += ", with errors"
    if result.set_aside:
        head += f" ({len(result.set_aside)} set aside by false-positive opinions)"
    lines = [head]
    for match in result.matches:
        how = ", ".join(
            f"{s['type']} {s.get('distance', s.get('score'))}"
            + (f" ({s['variant']})" if "variant" in s else "")
            + (f" (banked {s['stored_variant']})" if "stored_variant" in s else "")
            + (" (weak: low quality, seconds only)" if s.get("weak") else "")
            + _detail_text(s.get("detail"))
            for s in match_to_json(match, registry)["signals"]
        )
        labels = f"  [{', '.join(match.labels)}]" if match.labels else ""
        sure = f"  confidence {match.confidence:g}" if match.confidence is not None else ""
        origin = match.origin
        cite = (
            f"  from {origin.partner}/{origin.remote_bank} ({utc_time(origin.received_at)})"
            if origin is not None
            else ""
        )
        lines.append(
            f"  {match.bank}  entry {match.entry_id} ({match.external_id}){labels}  {how}{sure}"
            + cite
        )
    lines.extend(
        f"  set aside  {a.bank}  entry {a.entry_id} ({a.external_id}): recorded here as a false"
        " positive (see hashcore opinion list)"
        for a in result.set_aside
    )
    lines.extend(f"  skipped {skip.type}: {skip.reason}" for skip in result.skipped)
    lines.extend(f"  error   {error}" for error in result.errors)
    return "\n".join(lines)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)
