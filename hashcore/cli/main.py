"""``hashcore`` entry point: builds the argument parser from one module per verb."""

from __future__ import annotations

import argparse
import errno
import gc
import importlib
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from hashcore import __version__
from hashcore.errors import HashcoreError

EXIT_USAGE = 2
OUTPUT_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
"""Errors writing the output (stdout to a full disk, ``> /dev/full``): one line, exit 2."""
CLOSED_STDOUT = "standard output is closed; redirect it to /dev/null to discard what it says"
REST_MARKUP = re.compile(r"(?::\w+:)?``?(?P<text>[^`]+)``?")
COMMANDS = {
    "hash": "hashcore.cli.hash_cmd",
    "bank": "hashcore.cli.bank_cmd",
    "lookup": "hashcore.cli.lookup_cmd",
    "plugins": "hashcore.cli.plugins_cmd",
    "serve": "hashcore.cli.serve_cmd",
    "check": "hashcore.cli.check_cmd",
    "opinion": "hashcore.cli.opinion_cmd",
}
"""Each verb's module, in ``--help`` order. A module has ``register(subparsers)``, which adds
that verb (and only it) and sets ``func`` on its parser."""
GLOBAL_VALUE_OPTIONS = ("--store",)
"""The top-level options that take a value: skipped when finding the verb in ``argv``."""


def chosen_verb(argv: Sequence[str]) -> str | None:
    """The verb ``argv`` names, when it is a known one; None for ``--help``, ``--version``,
    a typo or no verb at all, which need every verb's parser."""
    words = iter(argv)
    for word in words:
        if any(len(word) > 2 and option.startswith(word) for option in GLOBAL_VALUE_OPTIONS):
            next(words, None)  # argparse takes abbreviations: --sto DIR is --store DIR
        elif word == "--" or word in ("-h", "--help", "--version"):
            return None
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: with ``verb``, only that verb's (a command then imports only its
    own modules: ``hash`` never loads the store, gRPC or FAISS, ~0.5 s of every start)."""
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
    for name, module in COMMANDS.items():
        if verb is None or name == verb:
            importlib.import_module(module).register(subparsers)
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
    words = sys.argv[1:] if argv is None else list(argv)
    if sys.stderr is None:  # started with fd 2 closed (`2>&-`): messages go nowhere, work goes on
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    if sys.stdout is None:  # `>&-`: the answers would be lost while the exit code said success
        print(f"hashcore: error: {CLOSED_STDOUT}", file=sys.stderr)
        return EXIT_USAGE
    args = build_parser(chosen_verb(words)).parse_args(words)
    if os.environ.get("HASHCORE_DISABLE_PLUGINS"):
        _warn_unknown_disabled()
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
    except OSError as error:
        if error.errno not in OUTPUT_FULL:
            raise
        print(f"hashcore: error: cannot write the output: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # a damaged store, met mid-verb: not a trace, not exit 1
        failed = _database_failed(error)
        if failed is None:
            raise
        print(f"hashcore: error: {failed}", file=sys.stderr)
        return EXIT_USAGE
    return code


def _warn_unknown_disabled() -> None:
    from hashcore.plugins import DISABLE_ENV, unknown_disabled_names

    unknown = unknown_disabled_names()
    if unknown:
        print(
            f"hashcore: warning: {DISABLE_ENV} names no installed plugin: {', '.join(unknown)} "
            "(`hashcore plugins` lists them)",
            file=sys.stderr,
        )


def _database_failed(error: Exception) -> str | None:
    """What a store's database error means to the person running the verb (None: not one).
    ``sqlite3`` is looked up, not imported: verbs that open no store never load it."""
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is None or not isinstance(error, sqlite3.DatabaseError):
        return None
    if isinstance(error, sqlite3.OperationalError):  # locked, I/O, permissions: not damage
        return f"the store's database refused: {error}"
    return (
        f"the store's database is damaged ({error}): `hashcore check` says what is affected; "
        "restore the store from a backup"
    )


def run() -> NoReturn:
    """The ``hashcore`` command: :func:`main`, then exit with its status.

    Everything still alive is frozen out of the garbage collector first, so the interpreter's
    teardown does not walk numpy's, Pillow's and hashcore's ~30,000 objects again to free memory
    the process is about to hand back whole: ~30 ms of a ~200 ms command (bench/README.md,
    "Session 14"). Nothing is lost: commands close their files, stores and workers in ``with``
    blocks before :func:`main` returns, the interpreter still flushes the standard streams and
    runs ``atexit``. Not in :func:`main` itself, which tests call in their own process."""
    code = main()
    try:  # what is still buffered, written now, where a full disk can still be said
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as error:
        if error.errno not in OUTPUT_FULL:
            raise
        print(f"hashcore: error: cannot write the output: {error.strerror}", file=sys.stderr)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the exit's own flush has nothing left
        code = EXIT_USAGE
    gc.freeze()
    sys.exit(code)


def _reader_went_away() -> int:
    """``hashcore hash DIR | head``: the reader closed the pipe, which is not an error to show.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise again (the
    recipe in Python's ``signal`` documentation); the exit status is 1 like an EPIPE death."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


if __name__ == "__main__":
    run()
