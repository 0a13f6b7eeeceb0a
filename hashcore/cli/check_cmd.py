"""``hashcore check``: verify the store and every index against it; ``--repair`` rebuilds what
is derived (indexes and snapshots, bank counts, value refcounts, the change log's end state).

Exit code 0: consistent (after the repair, with ``--repair``); 1: inconsistent; 2: the check
could not run (no store, unreadable file, a server error).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hashcore.check import EXIT_ERROR, CheckReport, check_store_dir
from hashcore.cli.common import server_address, store_dir, store_parent
from hashcore.errors import HashcoreError
from hashcore.registry import load_registry


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        parents=[store_parent()],
        help="verify the store and its indexes (exit 0 ok, 1 inconsistent, 2 error)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="rebuild derived data (indexes, snapshots, counts, refs), then check again;"
        " stop any server using the store first, or use --server",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = _report(args)
    except HashcoreError as error:
        print(f"hashcore: error: {error.message}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # noqa: BLE001 - a store too broken to read is exit 2, not a trace
        print(f"hashcore: error: check failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        for line in report.lines():
            print(line)
    return report.exit_code


def _report(args: argparse.Namespace) -> CheckReport:
    if server_address(args) is not None:
        from hashcore.cli.common import open_engine

        with open_engine(args) as remote:
            return remote.check(repair=args.repair)
    # Locally the check reads the store and the snapshots without opening an engine: it must
    # work on a store whose indexes do not load, and repair them with nothing holding them.
    return check_store_dir(store_dir(args), load_registry(), repair=args.repair)
