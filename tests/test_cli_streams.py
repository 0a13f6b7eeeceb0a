"""The CLI with its standard streams closed or full: the work and the exit code stay right,
and what cannot be written is one line, never a traceback (a lookup's traceback exits 1,
which automation reads as "something new")."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from server_support import ORIGINAL, one_picture_store


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    where = one_picture_store(tmp_path / "store")
    capsys.readouterr()
    return where


def hashcore(*args: str, **streams: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", *args],
        text=True, timeout=120, **streams,  # type: ignore[call-overload]
    )  # fmt: skip


def closing(fd: int) -> Callable[[], None]:
    """What the child runs before hashcore: ``fd`` closed, as ``2>&-`` or ``>&-`` leave it."""
    return lambda: os.close(fd)


def test_stderr_closed_the_lookup_still_answers(store: list[str]) -> None:
    """Progress asked the closed stderr whether it was a terminal: AttributeError, exit 1."""
    done = hashcore("lookup", str(ORIGINAL), *store, stdout=subprocess.PIPE, preexec_fn=closing(2))
    assert done.returncode == 0 and "1 match" in done.stdout


@pytest.mark.parametrize("verb", [("lookup", str(ORIGINAL)), ("bank", "list"), ("hash", "--json")])
def test_stdout_closed_is_refused_not_lost(store: list[str], verb: tuple[str, ...]) -> None:
    args = [*verb, *store] if verb[0] != "hash" else [*verb, str(ORIGINAL)]
    done = hashcore(*args, stderr=subprocess.PIPE, preexec_fn=closing(1))
    assert done.returncode == 2
    assert done.stderr == (
        "hashcore: error: standard output is closed; redirect it to /dev/null to discard what it"
        " says\n"
    )


@pytest.mark.parametrize(
    "verb", [("lookup", str(ORIGINAL)), ("bank", "list"), ("hash", "--json"), ("check",)]
)
def test_stdout_to_a_full_disk_is_one_line_and_exit_2(
    store: list[str], verb: tuple[str, ...]
) -> None:
    args = [*verb, *store] if verb[0] != "hash" else [*verb, str(ORIGINAL)]
    with open("/dev/full", "w") as full:
        done = hashcore(*args, stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "hashcore: error: cannot write the output: No space left on device\n"
