"""``hashcore`` entry point: builds the argument parser from one module per verb."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from hashcore import __version__
from hashcore.cli import (
    bank_cmd,
    check_cmd,
    hash_cmd,
    lookup_cmd,
    opinion_cmd,
    plugins_cmd,
    serve_cmd,
)
from hashcore.errors import HashcoreError

EXIT_USAGE = 2
REST_MARKUP = re.compile(r"(?::\w+:)?``?(?P<text>[^`]+)``?")
COMMANDS = (hash_cmd, bank_cmd, lookup_cmd, plugins_cmd, serve_cmd, check_cmd, opinion_cmd)
"""Each module has ``register(subparsers)`` and sets ``func`` on its parser."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hashcore",
        description="Hash files and match them against known-content banks.",
    )
    parser.add_argument("--version", action="version", version=f"hashcore {__version__}")
    parser.add_argument(
        "--store",
        dest="global_store",
        type=Path,
        metavar="DIR",
        help="store directory for every verb (a verb's own --store wins)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    plain_descriptions(parser)
    return parser


def plain_descriptions(parser: argparse.ArgumentParser) -> None:
    """Strip reST markup (````x````, ``:class:`x```) from every verb's description: the verbs
    take their module docstrings, written for the API docs, and ``--help`` is read as text."""
    if parser.description:
        parser.description = REST_MARKUP.sub(r"\g<text>", parser.description)
    for action in parser._actions:  # argparse exposes subparsers no other way
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                plain_descriptions(child)


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
    except BrokenPipeError:
        return _reader_went_away()
    return code


def _reader_went_away() -> int:
    """``hashcore hash DIR | head``: the reader closed the pipe, which is not an error to show.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise again (the
    recipe in Python's ``signal`` documentation); the exit status is 1 like an EPIPE death."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


if __name__ == "__main__":
    sys.exit(main())
