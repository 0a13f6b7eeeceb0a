"""``hashcore bank`` and ``hashcore lookup`` through the real argument parser and entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from media_data import media

from hashcore.cli.main import main

BRIDGE = "pdq/dih/bridge-1-original.jpg"
ROTATED = "pdq/dih/bridge-2-rotate-90.jpg"


@pytest.fixture
def store(tmp_path: Path) -> list[str]:
    return ["--store", str(tmp_path / "store")]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_bank_lifecycle_and_lookup_exit_codes(
    capsys: pytest.CaptureFixture[str], store: list[str], tmp_path: Path
) -> None:
    assert run(capsys, "bank", "create", "ncmec", "--label", "csem", *store)[0] == 0
    code, _, err = run(capsys, "bank", "create", "ncmec", *store)
    assert code == 2 and "already exists" in err
    code, out, _ = run(capsys, "bank", "add", "ncmec", str(media(BRIDGE)), "--label", "A1", *store)
    assert code == 0
    entry_id = int(out.split("\t")[0])

    code, out, _ = run(capsys, "lookup", "--json", str(media(ROTATED)), *store)
    assert code == 0
    result = json.loads(out)
    assert result["path"] == str(media(ROTATED))
    assert result["errors"] == [] and result["skipped"] == []
    [match] = result["matches"]
    assert match["bank"] == "ncmec" and match["entry"] == entry_id and match["labels"] == ["A1"]
    assert isinstance(match["external_id"], str)
    # Both perceptual families find the rotated copy through the variant that undoes it.
    pdq_hit, phash_hit = match["signals"]
    assert pdq_hit["type"] == "pdq" and pdq_hit["variant"] == "rot270"
    assert pdq_hit["distance"] <= 31
    assert phash_hit["type"] == "phash" and phash_hit["variant"] == "rot270"
    assert phash_hit["distance"] <= 4
    assert match["confidence"] > 37

    other = tmp_path / "other.txt"
    other.write_text("unrelated\n")
    assert run(capsys, "lookup", str(other), *store)[0] == 1
    code, out, _ = run(capsys, "lookup", "--json", str(tmp_path / "missing.jpg"), *store)
    assert code == 2 and json.loads(out)["errors"]

    assert run(capsys, "bank", "disable", "ncmec", *store)[:2] == (0, "bank ncmec disabled\n")
    assert run(capsys, "lookup", str(media(BRIDGE)), *store)[0] == 1
    assert run(capsys, "bank", "enable", "ncmec", *store)[:2] == (0, "bank ncmec enabled\n")
    code, out, _ = run(capsys, "lookup", str(media(BRIDGE)), *store)
    assert code == 0 and "ncmec" in out and "pdq 0 (orig)" in out

    code, out, _ = run(capsys, "bank", "list", "--json", *store)
    [bank] = json.loads(out)
    assert bank["name"] == "ncmec" and bank["entries"] == 1 and bank["labels"] == ["csem"]
    # pdq: the file's own hash; its three banked crops (centre90, top80, bottom80) are not files
    assert bank["signals"] == {"md5": 1, "pdq": 1, "phash": 1} and bank["enabled"] is True

    removal = run(capsys, "bank", "remove", "ncmec", str(entry_id), *store)
    assert removal[:2] == (0, "removed 1 entry from ncmec\n")
    assert run(capsys, "lookup", str(media(BRIDGE)), *store)[0] == 1
    assert run(capsys, "bank", "remove", "ncmec", "999", *store)[0] == 2
    assert run(capsys, "bank", "compact", *store)[0] == 0
    assert run(capsys, "lookup", str(media(BRIDGE)), "--bank", "nosuch", *store)[0] == 2


def test_bank_add_reports_failed_files(
    capsys: pytest.CaptureFixture[str], store: list[str], tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(media(BRIDGE), folder / "a.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    run(capsys, "bank", "create", "local", "--threshold", "pdq=10", *store)
    code, out, err = run(capsys, "bank", "add", "local", str(folder), *store)
    assert code == 1
    assert out.strip().endswith("a.jpg") and len(out.strip().splitlines()) == 1
    assert (
        "empty.jpg" in err and "bank local: 2 files, 1 added, 0 already there, 1 not added" in err
    )
    code, out, _ = run(capsys, "bank", "list", *store)
    assert "local  (enabled; 1 entry;" in out and "pdq=10" in out
    assert run(capsys, "bank", "add", "nosuch", str(folder), *store)[0] == 2


def test_bank_add_says_each_problem_once(
    capsys: pytest.CaptureFixture[str], store: list[str], tmp_path: Path
) -> None:
    """A truncated JPEG fails PDQ and pHash with one message, said once (its MD5 is banked);
    an empty file's reason names it once, not twice."""
    truncated, empty = tmp_path / "cut.jpg", tmp_path / "empty.jpg"
    truncated.write_bytes(media(BRIDGE).read_bytes()[:5000])
    empty.write_bytes(b"")
    run(capsys, "bank", "create", "local", *store)
    code, out, err = run(capsys, "bank", "add", "local", str(truncated), str(empty), *store)
    assert code == 1 and out.strip().endswith("cut.jpg")
    lines = err.splitlines()
    [warning] = [line for line in lines if "cut.jpg" in line]
    assert warning.startswith("hashcore: warning: ") and "cannot decode image" in warning
    [refusal] = [line for line in lines if "empty.jpg" in line]
    assert refusal == f"hashcore: error: {empty}: not added: empty file (0 bytes): nothing to hash"


def test_folders_walked_skip_the_store_inside_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The default store (``./var/hashcore``) sits inside the folder a user adds: ``bank add
    .`` banked the store's own database files (its WAL changing as they were read), ``hash .``
    and ``lookup .`` hashed them. However the store is reached, none of them enters it."""
    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(media(BRIDGE), folder / "photo.jpg")
    store = folder / "var" / "hashcore"
    run(capsys, "--store", str(store), "bank", "create", "local")
    code, out, _ = run(capsys, "--store", str(store), "bank", "add", "local", str(folder))
    assert code == 0 and [line.split("\t")[1] for line in out.splitlines()] == [
        str(folder / "photo.jpg")
    ]
    code, out, _ = run(capsys, "--store", str(store), "hash", "--json", str(folder))
    assert code == 0 and [json.loads(line)["path"] for line in out.splitlines()] == [
        str(folder / "photo.jpg")
    ]
    linked = tmp_path / "same-store"
    linked.symlink_to(store)  # another path to the same folder is still the store
    code, out, _ = run(capsys, "lookup", "--json", str(folder), "--store", str(linked))
    assert code == 0 and [json.loads(line)["path"] for line in out.splitlines()] == [
        str(folder / "photo.jpg")
    ]


def test_a_command_does_not_hash_its_own_output_file(tmp_path: Path) -> None:
    """``hash --json . > hashes.jsonl`` inside the folder it hashes: the output file, growing
    as it was read, was hashed (and ``bank add . > out.txt 2> err.txt`` refused both as
    empty). Files given by name are left out too; other files of the folder are not."""
    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(media(BRIDGE), folder / "photo.jpg")
    (folder / "notes.txt").write_text("a note\n")
    command = [sys.executable, "-m", "hashcore.cli.main", "--store", str(tmp_path / "store")]
    out, err = folder / "hashes.jsonl", folder / "errors.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        hashed = subprocess.run(
            [*command, "hash", "--json", str(folder), str(out)], stdout=stdout, stderr=stderr
        )
    assert hashed.returncode == 0, err.read_text()
    paths = [json.loads(line)["path"] for line in out.read_text().splitlines()]
    assert paths == [str(folder / "notes.txt"), str(folder / "photo.jpg")]
    subprocess.run([*command, "bank", "create", "local"], check=True, capture_output=True)
    with out.open("w") as stdout, err.open("w") as stderr:
        added = subprocess.run(
            [*command, "bank", "add", "local", str(folder)], stdout=stdout, stderr=stderr
        )
    assert added.returncode == 0 and "2 files, 2 added" in err.read_text()


def test_lookup_from_hash_json_equals_file_lookup(
    capsys: pytest.CaptureFixture[str], store: list[str], tmp_path: Path
) -> None:
    run(capsys, "bank", "create", "local", *store)
    run(capsys, "bank", "add", "local", str(media(BRIDGE)), *store)
    small = media("pdq/misc/small.jpg")
    code, hashed, _ = run(capsys, "hash", "--json", str(media(BRIDGE)), str(small))
    assert code == 0
    signals_file = tmp_path / "hashes.jsonl"
    signals_file.write_text(hashed)
    code, by_hash, _ = run(capsys, "lookup", "--json", "--signals", str(signals_file), *store)
    code_files, by_file, _ = run(capsys, "lookup", "--json", str(media(BRIDGE)), str(small), *store)
    assert code == code_files == 1  # small.jpg is new
    # `hash --json` has no dihedral variants, so compare what does not depend on them.
    assert without_variants(by_hash) == without_variants(by_file)
    skipped = json.loads(by_file.splitlines()[1])["skipped"]
    assert [s["type"] for s in skipped] == ["pdq"]


def without_variants(output: str) -> list[dict[str, object]]:
    results = [json.loads(line) for line in output.splitlines()]
    for result in results:
        for match in result["matches"]:
            for signal in match["signals"]:
                signal.pop("variant", None)
    return results


def test_real_entry_point_reads_stdin_and_sets_exit_code(tmp_path: Path) -> None:
    env = {**os.environ, "HASHCORE_STORE": str(tmp_path / "store")}
    command = [sys.executable, "-m", "hashcore.cli.main"]
    subprocess.run([*command, "bank", "create", "b"], env=env, check=True, capture_output=True)
    line = json.dumps(
        {
            "path": "x.jpg",
            "kind": "image",
            "signals": [{"type": "md5", "value": "0" * 32}],
            "errors": [],
        }
    )
    done = subprocess.run(
        [*command, "lookup", "--json", "--signals", "-"],
        env=env,
        input=line + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == {
        "path": "x.jpg",
        "matches": [],
        "skipped": [],
        "errors": [],
        "set_aside": [],
        "store": str(tmp_path / "store"),
    }
    assert (tmp_path / "store" / "hashcore.sqlite3").exists()
