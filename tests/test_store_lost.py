"""A store whose database was lost, emptied or damaged: every verb refuses it in one line
(exit 2) and writes nothing, instead of answering "no match" from a new empty store or letting
``check --repair`` discard the index snapshots, the last copy of the banked hashes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from server_support import ORIGINAL

from hashcore.cli.main import main
from hashcore.store.store import DB_NAME, INDEX_DIR


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def banked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store with one banked picture and its index snapshots written."""
    store = tmp_path / "store"
    assert run(capsys, "bank", "create", "known", "--store", str(store))[0] == 0
    assert run(capsys, "bank", "add", "known", str(ORIGINAL), "--store", str(store))[0] == 0
    assert run(capsys, "bank", "compact", "--store", str(store))[0] == 0
    assert any((store / INDEX_DIR).iterdir())
    return store


def snapshot_digest(store: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((store / INDEX_DIR).rglob("*")):
        digest.update(str(path.relative_to(store)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


VERBS = [
    ("lookup", str(ORIGINAL)),
    ("check",),
    ("check", "--repair"),
    ("bank", "list"),
    ("bank", "create", "fresh"),
    ("bank", "add", "known", str(ORIGINAL)),
    ("opinion", "list"),
]


@pytest.mark.parametrize("how", ["emptied", "removed"])
@pytest.mark.parametrize("verb", VERBS, ids=lambda verb: " ".join(verb[:2]).replace("/", ""))
def test_a_lost_database_beside_snapshots_is_refused_and_nothing_written(
    banked: Path, capsys: pytest.CaptureFixture[str], how: str, verb: tuple[str, ...]
) -> None:
    database = banked / DB_NAME
    for leftover in banked.glob(f"{DB_NAME}-*"):  # the WAL went with the database
        leftover.unlink()
    if how == "emptied":
        database.write_bytes(b"")
    else:
        database.unlink()
    before = snapshot_digest(banked)

    code, out, err = run(capsys, *verb, "--store", str(banked))

    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{DB_NAME} {'is empty (0 bytes)' if how == 'emptied' else 'is missing'}" in err
    assert "restore the database from a backup" in err or "restore it from a backup" in err
    assert snapshot_digest(banked) == before
    if how == "emptied":
        assert database.stat().st_size == 0
    else:
        assert not database.exists()


def test_serve_refuses_a_lost_database_beside_snapshots(banked: Path) -> None:
    (banked / DB_NAME).unlink()
    for leftover in banked.glob(f"{DB_NAME}-*"):
        leftover.unlink()
    served = subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", "serve", "--store", str(banked),
         "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert served.returncode == 2, served.stderr
    assert f"{DB_NAME} is missing but {INDEX_DIR}/ holds index snapshots" in served.stderr
    assert not (banked / DB_NAME).exists()


def test_a_replaced_database_beside_snapshots_is_refused(
    banked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another SQLite file in the database's place (a schema-less one) is no store either."""
    import sqlite3

    for path in banked.glob(f"{DB_NAME}*"):
        path.unlink()
    with sqlite3.connect(banked / DB_NAME) as other:
        other.execute("CREATE TABLE notes (text TEXT)")
    other.close()

    code, _, err = run(capsys, "lookup", str(ORIGINAL), "--store", str(banked))

    assert code == 2
    assert "holds no store (emptied or replaced)" in err


def test_an_empty_database_alone_is_no_store_to_look_up_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without snapshots beside it, an empty database file is still no store to answer from:
    a lookup refuses rather than answer "no match" (a creating verb may start a store there)."""
    store = tmp_path / "store"
    store.mkdir()
    (store / DB_NAME).write_bytes(b"")

    code, out, err = run(capsys, "lookup", str(ORIGINAL), "--store", str(store))

    assert (code, out) == (2, "")
    assert f"{DB_NAME} is empty (0 bytes)" in err
    assert (store / DB_NAME).stat().st_size == 0
    assert run(capsys, "bank", "create", "fresh", "--store", str(store))[0] == 0


@pytest.mark.parametrize("verb", [("lookup", str(ORIGINAL)), ("bank", "list")])
def test_a_damaged_database_is_one_line_and_exit_2(
    banked: Path, capsys: pytest.CaptureFixture[str], verb: tuple[str, ...]
) -> None:
    """A page overwritten in place, met mid-verb: a one-line error and exit 2 (a lookup's 1
    would read as "something is new" to a triage script), never a traceback."""
    run(capsys, "check", "--store", str(banked))  # checkpoints the WAL into the database
    with (banked / DB_NAME).open("r+b") as damaged:  # a table's page: it opens, then fails
        damaged.seek(3 * 4096)
        damaged.write(b"\xff" * 4096)

    code, out, err = run(capsys, *verb, "--store", str(banked))

    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "the store's database is damaged (database disk image is malformed)" in err
