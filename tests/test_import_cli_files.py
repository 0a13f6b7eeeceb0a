"""``bank import`` and ``bank export`` of files through the CLI, on stores on disk: what a row,
a header or a whole file may say, and what survives an export and its import."""

from __future__ import annotations

import json
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


def labels(store: Path, bank: str) -> dict[str, tuple[str, ...]]:
    with Store(store) as opened:
        return {e.external_id: e.labels for e in opened.iter_entries(bank)}


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


def test_pytx_categories_survive_export(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, shared_data: Path
) -> None:
    """An ``INVESTIGATION_SEED`` row goes out as one, not as ``POSITIVE_CLASS``; the opinion
    label the category carries is not repeated as a tag, and a re-import gives the same
    labels."""
    sample = shared_data / "partner-samples" / "pytx_dataset.csv"
    store = ["--store", str(tmp_path / "store")]
    assert run(capsys, *store, "bank", "import", "p", "--create", "--format", "pytx-csv",
               str(sample))[0] == 0  # fmt: skip
    out_file = tmp_path / "out.csv"
    assert run(capsys, *store, "bank", "export", "p", "--format", "pytx-csv",
               "-o", str(out_file))[0] == 0  # fmt: skip
    rows = {row.split(",")[1]: row.split(",")[3:] for row in out_file.read_text().splitlines()[1:]}
    assert rows["d41d8cd98f00b204e9800998ecf8427e"] == ["INVESTIGATION_SEED", ""]
    assert rows["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"] == [
        "POSITIVE_CLASS",
        "A1",
    ]
    assert run(capsys, *store, "bank", "import", "q", "--create", "--format", "pytx-csv",
               str(out_file))[0] == 0  # fmt: skip
    assert labels(tmp_path / "store", "q") == labels(tmp_path / "store", "p")


def test_export_import_keeps_the_bank_header(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``import --create`` of an export makes the bank its header describes: an unset source
    stays unset (not the format's name), and labels, thresholds, priority and enabled come
    back too."""
    store = ["--store", str(tmp_path / "store")]
    assert run(capsys, *store, "bank", "create", "a", "--label", "csem", "--priority", "2")[0] == 0
    assert run(capsys, *store, "bank", "threshold", "a", "pdq=20")[0] == 0
    assert run(capsys, *store, "bank", "disable", "a")[0] == 0
    export = tmp_path / "a.jsonl"
    assert run(capsys, *store, "bank", "export", "a", "-o", str(export))[0] == 0
    header = json.loads(export.read_text().splitlines()[0])["bank"]
    assert header["source"] is None
    assert run(capsys, *store, "bank", "import", "b", "--create", "--format", "hashcore",
               str(export))[0] == 0  # fmt: skip
    copy = tmp_path / "b.jsonl"
    assert run(capsys, *store, "bank", "export", "b", "-o", str(copy))[0] == 0
    again = json.loads(copy.read_text().splitlines()[0])["bank"]
    assert again == {**header, "name": "b"}


def test_a_folder_is_named_as_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--store", str(tmp_path / "store"), "bank", "import", "d",
                       "--create", "--format", "csv", str(tmp_path))  # fmt: skip
    assert code == 2
    assert "is a directory" in err and "no such file" not in err


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("hashcore", ""),
        ("hashcore", '{"format": "something-else"}\n'),
        ("pytx-csv", "not,the,header\n"),
        ("ncmec", "<queryResult><images>"),
    ],
    ids=["empty", "bad-header", "pytx-bad-header", "ncmec-broken"],
)
def test_a_refused_file_creates_no_bank(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str, text: str
) -> None:
    """A file refused as a whole (empty, a wrong header) imports nothing: ``--create`` leaves
    no empty bank behind."""
    feed = tmp_path / "feed"
    feed.write_text(text)
    store = tmp_path / "store"
    code, out, _ = run(capsys, "--store", str(store), "bank", "import", "n", "--create",
                       "--format", fmt, str(feed))  # fmt: skip
    assert code == 1 and "problem:" in out
    assert bank_names(store) == []


def test_a_file_with_some_bad_records_still_creates_the_bank(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Only a file refused whole is left without a bank; an export of an empty bank (a header
    alone) makes its bank."""
    feed = tmp_path / "feed.csv"
    feed.write_text(f"type,value\nmd5,{MD5}\nmd5,zz\n")
    store = tmp_path / "store"
    assert run(capsys, "--store", str(store), "bank", "import", "n", "--create", "--format",
               "csv", str(feed))[0] == 1  # fmt: skip
    assert bank_names(store) == ["n"]
    assert run(capsys, "--store", str(store), "bank", "create", "empty")[0] == 0
    export = tmp_path / "empty.jsonl"
    assert run(capsys, "--store", str(store), "bank", "export", "empty", "-o", str(export))[0] == 0
    assert run(capsys, "--store", str(store), "bank", "import", "copy", "--create", "--format",
               "hashcore", str(export))[0] == 0  # fmt: skip
    assert sorted(bank_names(store)) == ["copy", "empty", "n"]
