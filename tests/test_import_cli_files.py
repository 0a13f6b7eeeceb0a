"""``bank import`` and ``bank export`` of files through the CLI, on stores on disk: what a row,
a header or a whole file may say, and what survives an export and its import."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashcore.cli.main import main
from hashcore.store import Store

MD5 = "0123456789abcdef0123456789abcd16"
MD5_2 = "0123456789abcdef0123456789abcd17"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def entries(store: Path, bank: str) -> dict[str, str]:
    with Store(store) as opened:
        return {e.external_id: e.status.value for e in opened.iter_entries(bank)}


def bank_names(store: Path) -> list[str]:
    with Store(store) as opened:
        return [info.bank.name for info in opened.bank_infos()]


def test_csv_unknown_deleted_value_is_a_problem_of_its_row(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``removed`` or ``2`` is neither a yes nor a no: the row is reported, not imported as
    active (a hash the partner meant to remove would keep matching)."""
    feed = tmp_path / "d.csv"
    feed.write_text(
        "id,type,value,deleted\n"
        f"a,md5,{MD5},removed\n"
        f"b,md5,{MD5_2},2\n"
        f"c,md5,{MD5},No\n"
        f"d,md5,{MD5_2},\n"
        f"e,md5,{MD5},Deleted\n"
    )
    store = tmp_path / "store"
    options = ["--option", "id_column=id", "--option", "deleted_column=deleted"]
    code, out, _ = run(
        capsys, "--store", str(store), "bank", "import", "d", "--create", "--format", "csv",
        *options, str(feed),
    )  # fmt: skip
    assert code == 1
    assert "problem: line 2: unknown deleted value" in out
    assert "problem: line 3: unknown deleted value" in out
    assert entries(store, "d") == {"c": "active", "d": "active", "e": "deleted"}
