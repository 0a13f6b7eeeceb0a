"""``hashcore hash`` end to end, through the installed console script."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

from hashcore.signals import hamming_distance

DATA = Path(__file__).parent / "data" / "pdq"
HASHCORE = [sys.executable, "-m", "hashcore.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HASHCORE, *args], capture_output=True, text=True, timeout=300)


def test_json_on_dihedral_samples_matches_references() -> None:
    files = sorted((DATA / "dih").glob("*.jpg"))
    done = run("hash", "--json", *map(str, files))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["path"] for row in rows] == [str(f) for f in files]
    with (DATA / "reference-hashes.csv").open() as handle:
        reference = {
            r["file"]: r["pdq_hex"] for r in csv.DictReader(handle) if r["xform"] == "orig"
        }
    md5sum = shutil.which("md5sum")
    for row in rows:
        assert row["kind"] == "image" and row["errors"] == []
        signals = {s["type"]: s for s in row["signals"] if "variant" not in s}  # not crops
        pdq = signals["pdq"]
        expected = reference[f"dih/{Path(row['path']).name}"]
        assert hamming_distance(bytes.fromhex(pdq["value"]), bytes.fromhex(expected)) <= 10
        assert pdq["quality"] == 100
        assert len(signals["phash"]["value"]) == 16
        int(signals["phash"]["value"], 16)
        if md5sum:
            out = subprocess.run([md5sum, row["path"]], capture_output=True, text=True).stdout
            assert signals["md5"]["value"] == out.split()[0]


def test_folders_recurse_and_errors_set_exit_code(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    shutil.copy(DATA / "misc" / "wee.jpg", tmp_path / "sub" / "wee.jpg")
    (tmp_path / "empty.jpg").touch()
    done = run("hash", "--json", str(tmp_path))
    assert done.returncode == 1
    rows = {Path(r["path"]).name: r for r in map(json.loads, done.stdout.splitlines())}
    assert set(rows) == {"wee.jpg", "empty.jpg"}
    plain = [s for s in rows["wee.jpg"]["signals"] if "variant" not in s]  # not crops
    assert rows["wee.jpg"]["errors"] == [] and len(plain) == 3
    assert "empty file" in rows["empty.jpg"]["errors"][0]["message"]
    assert "1 of 2 files had errors" in done.stderr


def test_table_output_is_readable() -> None:
    done = run("hash", str(DATA / "misc" / "small.jpg"))
    assert done.returncode == 0
    assert "(image)" in done.stdout
    assert "quality 0  (unusable: quality too low)" in done.stdout


def test_plugins_verb_lists_built_ins() -> None:
    done = run("plugins")
    assert done.returncode == 0
    listed = done.stdout.split("Bank formats")[0]
    rows = {line.split()[0] for line in listed.splitlines() if line.startswith("  ")}
    assert {"pdq", "phash", "md5", "tmk_pdqf"} <= rows


def test_a_decoding_error_is_shown_once_though_every_image_family_failed(tmp_path: Path) -> None:
    """The JSON keeps one error per family (its ``type`` says which); the text says it once."""
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((DATA / "dih" / "bridge-1-original.jpg").read_bytes()[:3000])
    text = run("hash", str(truncated))
    assert text.returncode == 1
    assert text.stdout.count("cannot decode image") == 1, text.stdout
    [row] = [json.loads(line) for line in run("hash", "--json", str(truncated)).stdout.splitlines()]
    assert {error["type"] for error in row["errors"]} == {"pdq", "phash"}
