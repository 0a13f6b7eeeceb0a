"""The analyst's CLI (issue 13): triage of a folder, which store answered, hash-only lookups,
broken pipes, help text, tokens kept out of argv, and a typed package for plugin authors.

Each test here failed on the CLI before these fixes (run against the earlier revision)."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from media_data import media
from PIL import Image
from samples import write_video
from server_support import ADMIN_TOKEN, ORIGINAL, ROTATED, TOKENS, running_server

from hashcore.cli.main import build_parser, main
from hashcore.cli.progress import Progress
from hashcore.engine import Engine
from hashcore.remote import RemoteEngine
from hashcore.signals import Signal

REPO = Path(__file__).resolve().parents[1]
DIH = media("pdq/dih")
SMALL = media("pdq/misc/small.jpg")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def banked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """A store with one bank holding the bridge picture; the ``--store`` option naming it."""
    store = ["--store", str(tmp_path / "store")]
    assert run(capsys, "bank", "create", "known", *store)[0] == 0
    assert run(capsys, "bank", "add", "known", str(ORIGINAL), *store)[0] == 0
    return store


def pdq_of(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    code, out, _ = run(capsys, "hash", "--json", str(path))
    assert code == 0
    [value] = [
        s["value"] for s in json.loads(out)["signals"] if s["type"] == "pdq" and "variant" not in s
    ]
    return str(value)


# 1. A lookup never creates a store, and a missing one is an error, not "no match".


def test_lookup_without_a_store_is_an_error_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HASHCORE_STORE", raising=False)
    monkeypatch.delenv("HASHCORE_SERVER", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    code, out, err = run(capsys, "lookup", str(ORIGINAL))
    assert code == 2 and out == ""
    assert "no hashcore store at var/hashcore" in err
    code, _, err = run(capsys, "bank", "list", "--store", str(tmp_path / "elsewhere"))
    assert code == 2 and "no hashcore store" in err
    assert list(tmp_path.iterdir()) == []  # nothing created, not even ./var
    # Creating a bank is how a store comes to exist.
    assert run(capsys, "bank", "create", "b")[0] == 0
    assert (tmp_path / "var" / "hashcore" / "hashcore.sqlite3").is_file()


# 4. Triage: summary, the queue of new files, exit codes an automation can use.


def test_folder_lookup_ends_with_a_summary_and_exit_1_when_something_is_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], banked: list[str]
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    for source in (ORIGINAL, ROTATED, SMALL):
        (reports / source.name).write_bytes(source.read_bytes())
    (reports / "broken.jpg").write_bytes(ORIGINAL.read_bytes()[:3000])  # truncated

    code, out, _ = run(capsys, "lookup", str(reports), *banked)
    assert code == 2  # the broken file could not be looked up
    assert out.splitlines()[-1] == (
        f"4 files: 2 known, 1 new, 1 error (store {tmp_path / 'store'})"
    )
    assert f"{reports / 'broken.jpg'}: no match, with errors" in out  # its MD5 was searched

    # The queue lists every file no bank is known to know, the broken one too (it needs a
    # human), and says on stderr why it is there; an empty file was not looked up at all.
    (reports / "empty.jpg").write_bytes(b"")
    code, out, err = run(capsys, "lookup", "--new", str(reports), *banked)
    assert code == 2
    assert sorted(out.splitlines()) == [
        str(reports / n) for n in ("broken.jpg", "empty.jpg", SMALL.name)
    ]
    assert f"hashcore: {reports / 'broken.jpg'}: " in err
    assert f"hashcore: {reports / 'empty.jpg'}: empty file" in err
    assert "5 files: 2 known, 1 new, 2 errors" in err
    code, out, _ = run(capsys, "lookup", str(reports / "empty.jpg"), *banked)
    assert out.startswith(f"{reports / 'empty.jpg'}: not looked up")

    # A known file with errors is counted once, as known, and still exits 2.
    (reports / "empty.jpg").unlink()
    (reports / "broken.jpg").unlink()
    cut = tmp_path / "cut.mp4"  # a video cut to its first bytes: banked by its MD5 alone
    cut.write_bytes(write_video(tmp_path, "mp4").read_bytes()[:16])
    run(capsys, "bank", "add", "known", str(cut), *banked)
    code, out, _ = run(capsys, "lookup", str(cut), *banked)
    assert code == 2
    assert out.splitlines()[-1].startswith(
        "1 file: 1 known, 0 new, 0 errors; 1 known file had errors too"
    )
    code, out, err = run(capsys, "lookup", "--new", str(reports), *banked)
    assert code == 1
    assert out.splitlines() == [str(reports / SMALL.name)]  # the analyst's queue, nothing else
    assert "3 files: 2 known, 1 new, 0 errors" in err

    (reports / SMALL.name).unlink()
    code, out, _ = run(capsys, "lookup", str(reports), *banked)
    assert code == 0 and out.splitlines()[-1].startswith("2 files: 2 known, 0 new, 0 errors")

    code, out, _ = run(capsys, "lookup", "--json", "--summary", str(reports), *banked)
    *lines, last = [json.loads(line) for line in out.splitlines()]
    assert all(line["store"] == str(tmp_path / "store") for line in lines)
    assert last == {
        "summary": {
            "files": 2, "known": 2, "new": 0, "errors": 0, "known_with_errors": 0,
            "store": str(tmp_path / "store"),
        }
    }  # fmt: skip


def test_hash_only_lookup_of_hash_variants_answers_as_the_file_lookup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], banked: list[str]
) -> None:
    """``hash --json FILE | lookup --signals -``, the README's hash-only line, missed a
    rotated copy that ``lookup FILE`` finds: hash --json wrote no orientations or lookup-only
    crops. ``--variants`` writes them; without it, lookup --signals warns (once)."""
    code, direct, _ = run(capsys, "lookup", str(ROTATED), *banked)
    assert code == 0 and "(rot270)" in direct
    code, out, _ = run(capsys, "hash", "--json", "--variants", str(ROTATED))
    assert code == 0 and '"variant": "rot90"' in out
    lines = tmp_path / "variants.jsonl"
    lines.write_text(out)
    code, answer, err = run(capsys, "lookup", "--signals", str(lines), *banked)
    assert code == 0 and "warning" not in err
    assert answer.splitlines()[:2] == direct.splitlines()[:2]
    code, out, _ = run(capsys, "hash", "--json", str(ROTATED), str(ORIGINAL))
    lines.write_text(out)
    code, answer, err = run(capsys, "lookup", "--signals", str(lines), *banked)
    assert f"{ROTATED}: no match" in answer
    assert err.count("carry no lookup variants") == 1 and "--variants" in err


def test_hidden_files_left_out_of_a_folder_are_counted_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], banked: list[str]
) -> None:
    """A picture named ``.a.jpg`` in a folder was left out without a word: "0 files", exit 0.
    Hidden names are still left out of walks (``.git``, ``.DS_Store``), and now counted;
    named on the command line, they are looked up."""
    reports = tmp_path / "reports"
    (reports / ".cache").mkdir(parents=True)
    (reports / ".a.jpg").write_bytes(ORIGINAL.read_bytes())
    (reports / ".cache" / "b.jpg").write_bytes(ORIGINAL.read_bytes())
    code, out, err = run(capsys, "lookup", str(reports), *banked)
    assert code == 0 and out.startswith("0 files")
    assert (
        f"hashcore: 2 hidden file(s) or folder(s) left out (names starting with '.', e.g. "
        f"{reports / '.cache'}); name them to include them" in err
    )
    code, out, err = run(capsys, "lookup", str(reports / ".a.jpg"), *banked)
    assert code == 0 and "1 match" in out and "hidden" not in err


def test_a_lookup_in_a_disabled_bank_says_the_bank_is_disabled(
    capsys: pytest.CaptureFixture[str], banked: list[str]
) -> None:
    """``lookup --bank known`` of a disabled bank said "no match" as if the bank had looked."""
    assert run(capsys, "bank", "disable", "known", *banked)[0] == 0
    code, out, err = run(capsys, "lookup", "--bank", "known", str(ORIGINAL), *banked)
    assert code == 1 and "no match" in out
    assert "bank known is disabled: it matches nothing until `hashcore bank enable known`" in err
    assert run(capsys, "bank", "enable", "known", *banked)[0] == 0
    code, _, err = run(capsys, "lookup", "--bank", "known", str(ORIGINAL), *banked)
    assert code == 0 and "disabled" not in err


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_a_bad_pixel_cap_is_one_error_before_any_file(
    value: str,
    capsys: pytest.CaptureFixture[str],
    banked: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It was every file's 'pdq failed: ValueError(...)' (exit 1), or, at 0 or below, every
    picture refused as over the limit."""
    monkeypatch.setenv("HASHCORE_MAX_IMAGE_PIXELS", value)
    for verb in (["hash", str(ORIGINAL)], ["lookup", str(ORIGINAL), *banked]):
        code, out, err = run(capsys, *verb)
        assert (code, out) == (2, "")
        assert err == (
            f"hashcore: error: HASHCORE_MAX_IMAGE_PIXELS must be a whole number of pixels "
            f"above 0, got {value!r}\n"
        )


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_min_confidence_must_be_finite(
    value: str, capsys: pytest.CaptureFixture[str], banked: list[str]
) -> None:
    """``nan`` and ``inf`` parsed as floats and dropped every match: a known file said new."""
    with pytest.raises(SystemExit) as usage:
        main(["lookup", f"--min-confidence={value}", str(ORIGINAL), *banked])
    assert usage.value.code == 2
    assert f"must be a finite number, not {value!r}" in capsys.readouterr().err


# 5. Hashes alone: hex options, plain TYPE HEX lines, readable errors.


def test_hex_hash_options_and_plain_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], banked: list[str]
) -> None:
    pdq = pdq_of(capsys, ORIGINAL)
    code, out, _ = run(capsys, "lookup", "--pdq", pdq, *banked)
    assert code == 0 and "known  entry 1" in out and out.startswith("<hash options>: 1 match")
    assert pdq not in out  # query hashes are never echoed
    code, out, err = run(capsys, "lookup", "--pdq", "f" * 63, *banked)
    assert code == 2 and "pdq" in err and "Traceback" not in err
    code, _, err = run(capsys, "lookup", "--hash", "crc32=00", *banked)
    assert code == 2 and "unknown hash type 'crc32'" in err

    lines = tmp_path / "hashes.txt"
    lines.write_text(
        f"pdq {pdq}\n"
        f"pdq {pdq_of(capsys, SMALL)}\n"
        "pdq not-hex\n"
        "{not json\n"
        + json.dumps({"signals": [{"type": "pdq", "value": pdq}]})  # no path
        + "\n"
    )
    code, out, _ = run(capsys, "lookup", "--signals", str(lines), *banked)
    assert code == 2
    text = out.splitlines()
    assert text[0] == "<line 1>: 1 match"
    assert "<line 2>: no match" in text
    assert "<line 3>: not looked up" in text
    assert "<line 4>: not looked up" in text
    assert any("line 4: not valid JSON" in line for line in text)
    assert not any("JSONDecodeError" in line for line in text)
    assert "<line 5>: 1 match" in text
    assert text[-1].startswith("5 queries: 2 known, 1 new, 2 errors")


# 6. A closed pipe is not a crash.


@pytest.mark.parametrize("verb", [["hash", str(DIH)], ["bank", "export", "known"]])
def test_reader_closing_the_pipe_is_not_a_traceback(
    verb: list[str], banked: list[str], tmp_path: Path
) -> None:
    argv = [sys.executable, "-m", "hashcore.cli.main", *verb]
    if verb[0] == "bank":
        argv += banked
        # A bank long enough that the export outlives the pipe buffer of a one-line reader.
        with Engine(banked[1]) as engine, engine.batch() as writer:
            for number in range(5_000):
                md5 = Signal("md5", number.to_bytes(16, "big"))
                writer.add_entry("known", [md5], external_id=f"x{number}")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline()
        process.stdout.close()  # what `| head -1` does
        err = process.stderr.read().decode()
        assert process.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err


# 9. Help and names.


def test_global_store_option_and_help_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], banked: list[str]
) -> None:
    code, out, _ = run(capsys, "--store", banked[1], "bank", "list")
    assert code == 0 and out.startswith("known")
    helps = {verb: help_of(verb) for verb in (("hash",), ("lookup",), ("bank", "create"))}
    assert "``" not in helps[("hash",)] and ":class:" not in helps[("lookup",)]
    assert "--hash-only" in helps[("lookup",)]
    assert "--hash-only" not in helps[("bank", "create")]
    assert "partner feed" in help_of(("bank", "import")).split("positional arguments:")[1]
    assert all("``" not in (parser.description or "") for parser in verb_parsers(build_parser()))


def verb_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += [child, *verb_parsers(child)]
    return found


def help_of(verb: tuple[str, ...]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", *verb, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_hash_table_tells_videos_apart() -> None:
    from hashcore.cli.hash_cmd import long_value

    first, second = bytes(range(256)) * 4, bytes(range(256)) * 3 + bytes(256)
    assert long_value(first) != long_value(second)
    assert long_value(first).endswith("(1,024 bytes; --json prints the value)")


# 11. Tokens never need argv.


def test_token_file_profile_and_their_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HASHCORE_TOKEN", raising=False)
    monkeypatch.delenv("HASHCORE_SERVER", raising=False)
    monkeypatch.delenv("HASHCORE_STORE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    token_file = tmp_path / "token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    with running_server(tmp_path, tokens=TOKENS) as srv:
        token_file.chmod(0o644)
        code, _, err = run(
            capsys, "bank", "create", "b", "--server", srv.address, "--token-file", str(token_file)
        )
        assert code == 2 and "readable by other users" in err and "chmod 600" in err
        token_file.chmod(0o600)
        code, out, err = run(
            capsys, "bank", "create", "b", "--server", srv.address, "--token-file", str(token_file)
        )
        assert code == 0 and out == "created bank b\n" and ADMIN_TOKEN not in err

        profile = tmp_path / "config" / "hashcore" / "client.toml"
        profile.parent.mkdir(parents=True)
        profile.write_text(f'server = "{srv.address}"\ntoken = "{ADMIN_TOKEN}"\n')
        profile.chmod(0o640)
        code, _, err = run(capsys, "bank", "list")
        assert code == 2 and "client profile is readable by other users" in err
        profile.chmod(0o600)
        code, out, _ = run(capsys, "bank", "list")  # server and token from the profile
        assert code == 0 and out.startswith("b  (enabled; 0 entries")
        code, out, _ = run(capsys, "lookup", "--hash-only", str(ORIGINAL))
        assert code == 1 and out.splitlines()[-1].endswith(f"(server {srv.address})")

        code, _, err = run(capsys, "bank", "list", "--server", srv.address, "--token", ADMIN_TOKEN)
        assert code == 0 and "--token is visible to other users" in err
    # A named store wins over the profile's server.
    code, _, err = run(capsys, "bank", "list", "--store", str(tmp_path / "none"))
    assert code == 2 and "no hashcore store" in err


# 12. Plugin authors: a typed package and a docs example that builds as written.


def test_package_is_typed() -> None:
    assert (REPO / "hashcore" / "py.typed").is_file()
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["hashcore"]


def test_plugin_example_in_docs_builds_as_written(tmp_path: Path) -> None:
    """The module and pyproject.toml of docs/plugins.md's example, built into a wheel offline."""
    doc = (REPO / "docs" / "plugins.md").read_text()
    python = doc.split("```python\n", 1)[1].split("```", 1)[0]
    toml = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    assert python.startswith("# hashcore_crc32.py")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hashcore_crc32.py").write_text(python)
    (tmp_path / "src" / "pyproject.toml").write_text(toml)
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(tmp_path / "src")],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    [wheel] = (tmp_path / "dist").glob("hashcore_crc32-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
        assert "[hashcore]\ncrc32 = hashcore_crc32" in archive.read(entry_points).decode()
    assert "hashcore_crc32.py" in names


# 3. An export keeps how the sender matched and leaks no local paths.


def test_export_round_trip_keeps_bank_settings_and_drops_local_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sender, receiver = ["--store", str(tmp_path / "a")], ["--store", str(tmp_path / "b")]
    create = ["bank", "create", "b", "--threshold", "pdq=10", "--label", "x", "--label", "y"]
    assert run(capsys, *create, "--source", "hotline-a", *sender)[0] == 0
    assert run(capsys, "bank", "add", "b", str(ORIGINAL), *sender)[0] == 0
    assert run(capsys, "bank", "disable", "b", *sender)[0] == 0  # a backup of a paused bank
    export = tmp_path / "b.jsonl"
    assert run(capsys, "bank", "export", "b", "-o", str(export), *sender)[0] == 0
    assert str(ORIGINAL.parent) not in export.read_text()  # no local path leaves the machine
    code, _, err = run(
        capsys, "bank", "import", "b", str(export), "--format", "hashcore", "--create", *receiver
    )
    assert code == 0, err
    assert "bank b created disabled" in err
    [before] = json.loads(run(capsys, "bank", "list", "--json", *sender)[1])
    [after] = json.loads(run(capsys, "bank", "list", "--json", *receiver)[1])
    for setting in ("labels", "thresholds", "source", "priority", "entries", "signals", "enabled"):
        assert after[setting] == before[setting], setting
    assert after["thresholds"] == {"pdq": 10} and after["enabled"] is False
    assert run(capsys, "bank", "enable", "b", *receiver)[0] == 0
    assert run(capsys, "lookup", str(ROTATED), *receiver)[0] == 0

    with_sources = tmp_path / "with-sources.jsonl"
    args = ["bank", "export", "b", "--with-sources", "-o", str(with_sources), *sender]
    assert run(capsys, *args)[0] == 0
    assert json.loads(with_sources.read_text().splitlines()[1])["source"] == str(ORIGINAL)


# 7. Progress: a bar with a total and ETA on a terminal, a plain line in a log, and summaries.


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_in_a_log_is_a_periodic_plain_line() -> None:
    clock, log = FakeClock(), io.StringIO()
    progress = Progress(10, "hashing", stream=log, log_every=5.0, clock=clock)
    for _ in range(10):
        clock.now += 2.0
        progress.advance()
    progress.close()
    lines = log.getvalue().splitlines()
    assert lines == [
        "hashing: 3/10 (30%), 0.5/s, 6 s, about 14 s left",
        "hashing: 6/10 (60%), 0.5/s, 12 s, about 8 s left",
        "hashing: 9/10 (90%), 0.5/s, 18 s, about 2 s left",
        "hashing: 10/10 (100%), 0.5/s, 20 s, done",
    ]
    quiet = io.StringIO()
    short = Progress(None, "importing", stream=quiet, log_every=5.0, clock=FakeClock())
    short.advance(1000)
    short.close()
    assert quiet.getvalue() == ""  # a job shorter than one period says nothing


def test_progress_on_a_terminal_has_a_total_and_eta_and_keeps_results_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    screen = Terminal()
    progress = Progress(4, "looking up", stream=screen)
    for number in range(4):
        progress.advance()
        progress.write(f"file{number}.jpg: no match")
    progress.close()
    out, _ = capsys.readouterr()
    assert out.splitlines() == [f"file{n}.jpg: no match" for n in range(4)]  # stdout stays clean
    drawn = screen.getvalue()
    assert "looking up" in drawn and "4/4" in drawn and "<" in drawn  # tqdm's elapsed<left


def test_import_logs_progress_and_json_stays_pure(tmp_path: Path, banked: list[str]) -> None:
    feed = tmp_path / "feed.jsonl"
    lines = ['{"format":"hashcore-bank","version":1,"bank":{"name":"p"}}']
    lines += [
        json.dumps({"external_id": f"e{n}", "status": "active", "signals": [
            {"type": "md5", "hex": f"{n:032x}"}]})
        for n in range(3000)
    ]  # fmt: skip
    feed.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "HASHCORE_PROGRESS_SECONDS": "0.000001"}
    command = [sys.executable, "-m", "hashcore.cli.main", "bank", "import", "known", str(feed)]
    done = subprocess.run(
        [*command, "--format", "hashcore", "--json", "--batch-size", "500", *banked],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout)["added"] == 3000  # one JSON object, nothing else
    logged = [line for line in done.stderr.splitlines() if line.startswith("importing feed")]
    assert len(logged) >= 2 and logged[-1].startswith("importing feed.jsonl: 3,000,")


def test_bank_add_summarises_and_names_featureless_pictures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], banked: list[str]
) -> None:
    flat = tmp_path / "flat.png"
    Image.new("RGB", (64, 64), (90, 90, 90)).save(flat)
    code, out, err = run(capsys, "bank", "add", "known", str(flat), str(ORIGINAL), *banked)
    assert code == 0 and len(out.splitlines()) == 2
    assert f"{flat}: pdq quality 0 is too low to match on" in err
    assert err.splitlines()[-1] == (
        "bank known: 2 files, 1 added, 1 already there, 0 not added"
        " (1 too featureless for some families to match on)"
    )


# 4 (rest). Bank priority: matches of urgent banks first, kept by exports and the server.


def test_bank_priority_orders_matches_and_travels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", str(tmp_path / "s")]
    for name, priority in (
        ("alpha", ["--priority", "2"]),
        ("beta", ["--priority", "1"]),
        ("gamma", []),
    ):
        assert run(capsys, "bank", "create", name, *priority, *store)[0] == 0
        assert run(capsys, "bank", "add", name, str(ORIGINAL), *store)[0] == 0

    def order() -> list[str]:
        code, out, _ = run(capsys, "lookup", "--json", str(ROTATED), *store)
        assert code == 0
        return [match["bank"] for match in json.loads(out)["matches"]]

    assert order() == ["beta", "alpha", "gamma"]  # 1, 2, unset
    assert run(capsys, "bank", "priority", "gamma", "1", *store)[0] == 0
    assert order() == ["beta", "gamma", "alpha"]  # equal priorities: by name
    code, out, _ = run(capsys, "bank", "priority", "beta", "none", *store)
    assert code == 0 and out == "bank beta priority cleared\n"
    assert order() == ["gamma", "alpha", "beta"]
    code, _, err = run(capsys, "bank", "priority", "beta", "9", *store)
    assert code == 2 and "priority must be 1 (highest) to 5" in err
    for bad in ("9", "high"):  # create says it as the priority verb does, and creates nothing
        code, _, err = run(capsys, "bank", "create", "delta", "--priority", bad, *store)
        assert code == 2 and "hashcore: error: priority must be 1" in err
    listing = json.loads(run(capsys, "bank", "list", "--json", *store)[1])
    assert {bank["name"]: bank["priority"] for bank in listing} == {
        "alpha": 2, "beta": None, "gamma": 1
    }  # fmt: skip
    assert "alpha  (enabled, priority 2;" in run(capsys, "bank", "list", *store)[1]

    export = tmp_path / "alpha.jsonl"
    assert run(capsys, "bank", "export", "alpha", "-o", str(export), *store)[0] == 0
    other = ["--store", str(tmp_path / "other")]
    args = ["bank", "import", "alpha", str(export), "--format", "hashcore", "--create", *other]
    assert run(capsys, *args)[0] == 0
    [imported] = json.loads(run(capsys, "bank", "list", "--json", *other)[1])
    assert imported["priority"] == 2

    with running_server(tmp_path / "srv") as srv, RemoteEngine(srv.address) as remote:
        assert remote.create_bank("urgent", priority=1).priority == 1
        assert remote.get_bank("urgent").bank.priority == 1
        assert remote.create_bank("plain").priority is None
        server = ["--server", srv.address]
        code, out, _ = run(capsys, "bank", "priority", "plain", "3", *server)
        assert code == 0 and out == "bank plain priority set to 3\n"
        assert run(capsys, "bank", "priority", "urgent", "none", *server)[0] == 0
        priorities = {i.bank.name: i.bank.priority for i in remote.list_banks()}
        assert priorities == {"plain": 3, "urgent": None}
        code, _, err = run(capsys, "bank", "priority", "plain", "6", *server)
        assert code == 2 and "priority must be 1 (highest) to 5" in err


# A bank's own thresholds change after it is made: some families at a time, locally or remotely.


def test_bank_threshold_sets_and_resets_families_locally_and_on_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = ["--store", str(tmp_path / "s")]
    assert run(capsys, "bank", "create", "b", "--threshold", "pdq=10", *local)[0] == 0
    with running_server(tmp_path / "srv") as srv:
        server = ["--server", srv.address]
        assert run(capsys, "bank", "create", "b", "--threshold", "pdq=10", *server)[0] == 0
        for where in (local, server):
            code, out, _ = run(capsys, "bank", "threshold", "b", "phash=4", *where)
            assert code == 0 and out == "bank b thresholds: pdq=10, phash=4\n"  # pdq kept
            code, out, _ = run(capsys, "bank", "threshold", "b", "pdq=default", *where)
            assert code == 0 and out == "bank b thresholds: phash=4\n"
            [listed] = json.loads(run(capsys, "bank", "list", "--json", *where)[1])
            assert listed["thresholds"] == {"phash": 4}
            for bad, says in (
                ("pdq=257", "threshold for 'pdq' must be 0 to 256"),
                ("pdq=-1", "threshold for 'pdq' must be >= 0"),
                ("pdq=near", "bank threshold 'pdq=near': 'near' is not a number"),
                ("pdq", "bank threshold expects FAMILY=VALUE"),
                ("sha9=1", "unknown signal type 'sha9'"),
                ("md5=5", "'md5' matches exactly: its threshold can only be 0, got 5"),
            ):
                code, _, err = run(capsys, "bank", "threshold", "b", bad, *where)
                assert code == 2 and says in err, (where, bad, err)
            code, _, err = run(capsys, "bank", "threshold", "b", "pdq=10", "pdq=20", *where)
            assert code == 2 and "bank threshold names 'pdq' twice" in err  # was: last wins
            twice = ["--threshold", "pdq=3", "--threshold", "pdq=9"]
            code, _, err = run(capsys, "lookup", *twice, str(ORIGINAL), *where)
            assert code == 2 and "--threshold names 'pdq' twice" in err
            [unchanged] = json.loads(run(capsys, "bank", "list", "--json", *where)[1])
            assert unchanged["thresholds"] == {"phash": 4}
            code, out, _ = run(capsys, "bank", "threshold", "b", "phash=default", *where)
            assert out == "bank b thresholds: every family at its default\n"


def test_compact_reports_progress_in_a_log(banked: list[str]) -> None:
    env = {**os.environ, "HASHCORE_PROGRESS_SECONDS": "0.000001"}
    done = subprocess.run(
        [sys.executable, "-m", "hashcore.cli.main", "bank", "compact", *banked],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    steps = [line for line in done.stderr.splitlines() if line.startswith("compacting")]
    # md5, pdq, phash, tmk_pdqf, vpdq: each folded, then each snapshot written.
    assert len(steps) >= 10 and steps[-1].startswith(
        "compacting (indexes folded, snapshots written): 10"
    )
    assert "pdq: 4 values" in done.stdout
