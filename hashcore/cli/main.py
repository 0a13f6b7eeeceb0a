"""``hashcore`` entry point: builds the argument parser from one module per verb."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hashcore import __version__
from hashcore.cli import bank_cmd, check_cmd, hash_cmd, lookup_cmd, plugins_cmd, serve_cmd
from hashcore.errors import HashcoreError

EXIT_USAGE = 2
COMMANDS = (hash_cmd, bank_cmd, lookup_cmd, plugins_cmd, serve_cmd, check_cmd)
"""Each module has ``register(subparsers)`` and sets ``func`` on its parser."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hashcore",
        description="Hash files and match them against known-content banks.",
    )
    parser.add_argument("--version", action="version", version=f"hashcore {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except HashcoreError as error:
        print(f"hashcore: error: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("hashcore: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
