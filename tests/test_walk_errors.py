"""Folders and files the walk cannot read: each is its own error line (lookup exit 2),
never skipped in silence (a lookup of an unreadable folder said "0 files ... 0 errors", exit
0: "every file is known") and never a traceback (a file in a folder that cannot be searched).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import ORIGINAL, ROTATED, one_picture_store

from hashcore import hash_file
from hashcore.registry import load_registry

DAC = ["--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


def as_a_user(*args: str) -> subprocess.CompletedProcess[str]:
    """``hashcore ARGS`` without root's right to read anything (setpriv drops it)."""
    command = [sys.executable, "-m", "hashcore.cli.main", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root without setpriv reads every folder")
        command = [setpriv, *DAC, *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    reports = tmp_path / "reports"
    (reports / "locked").mkdir(parents=True)
    shutil.copy(ORIGINAL, reports / "locked" / "a.jpg")
    shutil.copy(ROTATED, reports / "b.jpg")
    (reports / "locked").chmod(0)
    yield reports
    (reports / "locked").chmod(0o755)


def test_a_folder_that_cannot_be_read_is_an_error_of_its_own(tmp_path: Path, locked: Path) -> None:
    store = one_picture_store(tmp_path / "store")
    done = as_a_user("lookup", str(locked), *store)
    assert done.returncode == 2, done.stderr
    assert f"{locked / 'locked'}: a folder that cannot be read: permission denied" in done.stdout
    assert "2 files: 1 known, 0 new, 1 error" in done.stdout


def test_a_file_in_a_folder_that_cannot_be_searched_is_an_error_not_a_trace(
    tmp_path: Path, locked: Path
) -> None:
    store = one_picture_store(tmp_path / "store")
    done = as_a_user("lookup", str(locked / "locked" / "a.jpg"), *store)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot reach it: Permission denied" in done.stdout


def test_a_symlink_loop_says_so(tmp_path: Path) -> None:
    (tmp_path / "one").symlink_to("two")
    (tmp_path / "two").symlink_to("one")
    result = hash_file(tmp_path / "one", load_registry())
    assert result.messages() == [
        f"{tmp_path / 'one'}: cannot reach it: Too many levels of symbolic links"
    ]
