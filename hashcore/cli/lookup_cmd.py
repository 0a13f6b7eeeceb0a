"""``hashcore lookup``: match files (or hashes from ``hashcore hash --json``) against every bank.

Exit status, like grep: 0 when something matched, 1 when nothing did, 2 on errors. Query hashes
are never printed or logged: a non-match's hash is nobody's business.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from hashcore.cli.common import clear_progress_line, open_engine, parse_thresholds, store_parent
from hashcore.cli.progress import Progress
from hashcore.engine_api import EngineAPI
from hashcore.errors import HashcoreError
from hashcore.hashing import iter_files
from hashcore.model import LookupResult, Match, Skipped
from hashcore.registry import SignalRegistry
from hashcore.signals import Metric, Signal

EXIT_MATCH, EXIT_NO_MATCH, EXIT_ERROR = 0, 1, 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lookup",
        parents=[store_parent()],
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
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.add_argument("--bank", action="append", help="only these banks (repeatable)")
    parser.add_argument(
        "--threshold", action="append", metavar="FAMILY=VALUE", help="override a match threshold"
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        metavar="DIGITS",
        help="drop matches less certain than this (see docs/thresholds.md; unknown passes)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.paths) == bool(args.signals):
        print("hashcore: error: give PATH... or --signals FILE", file=sys.stderr)
        return EXIT_ERROR
    thresholds = parse_thresholds(args.threshold)
    matched = errors = 0
    with open_engine(args) as engine:
        for path, result in _results(engine, args, thresholds):
            if args.min_confidence is not None:
                result.matches = confident(result.matches, args.min_confidence)
            matched += result.matched
            errors += bool(result.errors)
            print(
                json.dumps(to_json(path, result, engine.registry))
                if args.json
                else to_text(path, result, engine.registry),
                flush=True,
            )
    if errors:
        return EXIT_ERROR
    return EXIT_MATCH if matched else EXIT_NO_MATCH


def _results(
    engine: EngineAPI, args: argparse.Namespace, thresholds: dict[str, float]
) -> Iterator[tuple[str, LookupResult]]:
    banks = args.bank or None
    if args.signals:
        if args.signals == "-":
            yield from _signal_results(engine, sys.stdin, thresholds, banks)
        else:
            with open(args.signals, encoding="utf-8") as handle:
                yield from _signal_results(engine, handle, thresholds, banks)
        return
    files = list(iter_files(args.paths))
    progress = Progress(len(files), "looking up")
    for path in files:
        result = engine.lookup_file(path, thresholds=thresholds, banks=banks)
        clear_progress_line(progress.enabled)
        yield str(path), result
        progress.advance()
    progress.close()


def _signal_results(
    engine: EngineAPI, lines: TextIO, thresholds: dict[str, float], banks: list[str] | None
) -> Iterator[tuple[str, LookupResult]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            path, signals, errors, skipped = parse_hash_line(line, engine.registry)
        except (HashcoreError, ValueError, TypeError, KeyError) as error:
            message = error.message if isinstance(error, HashcoreError) else repr(error)
            yield f"<line {number}>", LookupResult(errors=[f"line {number}: {message}"])
            continue
        result = engine.lookup_signals(signals, thresholds=thresholds, banks=banks)
        result.errors[:0] = errors
        result.skipped[:0] = skipped
        yield path, result


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


def confident(matches: list[Match], minimum: float) -> list[Match]:
    """The matches at or above ``minimum``; a match no family can rate is kept (no evidence)."""
    return [m for m in matches if m.confidence is None or m.confidence >= minimum]


def to_json(path: str, result: LookupResult, registry: SignalRegistry) -> dict[str, Any]:
    return {
        "path": path,
        "matches": [match_to_json(match, registry) for match in result.matches],
        "skipped": [{"type": skip.type, "reason": skip.reason} for skip in result.skipped],
        "errors": list(result.errors),
    }


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
        signals.append(data)
    return {
        "bank": match.bank,
        "entry": match.entry_id,
        "external_id": match.external_id,
        "labels": list(match.labels),
        "signals": signals,
        "confidence": match.confidence,
    }


def to_text(path: str, result: LookupResult, registry: SignalRegistry) -> str:
    count = len(result.matches)
    lines = [f"{path}: {count} match{'es' if count != 1 else ''}" if count else f"{path}: no match"]
    for match in result.matches:
        how = ", ".join(
            f"{s['type']} {s.get('distance', s.get('score'))}"
            + (f" ({s['variant']})" if "variant" in s else "")
            + (f" (banked {s['stored_variant']})" if "stored_variant" in s else "")
            for s in match_to_json(match, registry)["signals"]
        )
        labels = f"  [{', '.join(match.labels)}]" if match.labels else ""
        sure = f"  confidence {match.confidence:g}" if match.confidence is not None else ""
        lines.append(
            f"  {match.bank}  entry {match.entry_id} ({match.external_id}){labels}  {how}{sure}"
        )
    lines.extend(f"  skipped {skip.type}: {skip.reason}" for skip in result.skipped)
    lines.extend(f"  error   {error}" for error in result.errors)
    return "\n".join(lines)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)
