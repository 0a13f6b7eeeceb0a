"""``hashcore bank follow`` against a real publishing server, into a real local store."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from server_support import ADMIN_TOKEN, Running, running_server
from sharing_support import (
    FOLLOWER_TOKEN,
    LOOKUP_TOKEN,
    PUBLISHER_TOKENS,
    SHARED,
    md5,
    token_file,
    wait_for,
)

from hashcore.cli.main import main
from hashcore.opinions.api import LocalOpinions
from hashcore.store import Store

LOCAL = "from-a"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def follow_args(a: Running, tmp_path: Path, *extra: str, token: str = FOLLOWER_TOKEN) -> list[str]:
    directory = tmp_path / "tokens"
    directory.mkdir(exist_ok=True)
    return [
        "bank", "follow", LOCAL, "--from", a.address, "--remote-bank", SHARED,
        "--token-file", str(token_file(directory, token)), "--store", str(tmp_path / "b"), *extra,
    ]  # fmt: skip


def lookup_md5(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> list[dict]:  # type: ignore[type-arg]
    value = md5(name).value.hex()
    _, out, _ = run(capsys, "lookup", "--json", "--md5", value, "--store", str(tmp_path / "b"))
    return list(json.loads(out)["matches"])


def local_state(tmp_path: Path) -> tuple[list[tuple[str, str]], str | None]:
    with Store(tmp_path / "b") as store:
        entries = sorted((e.external_id, e.status.value) for e in store.iter_entries(LOCAL))
        return entries, store.get_checkpoint(LOCAL, f"follow:{store_address(tmp_path)}")


def store_address(tmp_path: Path) -> str:
    return (tmp_path / "address").read_text()


@pytest.fixture
def a(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_server(tmp_path / "a", tokens=PUBLISHER_TOKENS) as server:
        assert server.engine is not None
        server.engine.create_bank(SHARED)
        server.engine.add_entry(SHARED, [md5("one")], external_id="A-1", labels=["csam"])
        server.engine.add_entry(SHARED, [md5("two")], external_id="A-2")
        (tmp_path / "address").write_text(f"{server.address}/{SHARED}")
        yield server


def test_follow_once_pulls_what_is_new_and_lookups_cite_the_partner(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, a: Running
) -> None:
    assert run(capsys, "bank", "create", LOCAL, "--store", str(tmp_path / "b"))[0] == 0
    code, out, err = run(capsys, *follow_args(a, tmp_path, "--once", "--name", "hotline-a"))
    assert code == 0, err
    assert out.startswith(f"{LOCAL}: 2 entries in 1 update(s) from hotline-a/{SHARED}")
    (match,) = lookup_md5(capsys, tmp_path, "one")
    assert (match["external_id"], match["labels"]) == ("A-1", ["csam"])
    assert match["origin"]["partner"] == "hotline-a" and match["origin"]["remote_bank"] == SHARED
    one = md5("one").value.hex()
    _, text, _ = run(capsys, "lookup", "--md5", one, "--store", str(tmp_path / "b"))
    assert f"from hotline-a/{SHARED}" in text
    # nothing new: nothing applied, nothing replayed
    code, out, _ = run(capsys, *follow_args(a, tmp_path, "--once"))
    assert code == 0 and f"{LOCAL}: 0 entries in 0 update(s)" in out
    assert a.engine is not None
    entry = a.engine.store.find_entry(SHARED, "A-2")
    a.engine.remove_entries(SHARED, [entry.id])
    code, out, _ = run(capsys, *follow_args(a, tmp_path, "--once"))
    assert code == 0 and f"{LOCAL}: 1 entry in 1 update(s)" in out
    assert lookup_md5(capsys, tmp_path, "two") == []
    # the analyst's verdict goes back with the next pull, once
    store = ["--store", str(tmp_path / "b")]
    verdict = ["opinion", "add", LOCAL, "A-1", "--kind", "confirmed", "--hash", f"md5:{one}"]
    assert run(capsys, *verdict, *store)[0] == 0
    code, out, _ = run(capsys, *follow_args(a, tmp_path, "--once"))
    assert code == 0 and "; 1 opinion(s) sent back;" in out
    code, out, _ = run(capsys, *follow_args(a, tmp_path, "--once"))
    assert code == 0 and "sent back" not in out
    assert [o.kind.value for o in LocalOpinions(a.engine.store).list_opinions(SHARED)] == [
        "confirmed"
    ]
    # A's owner sees who follows the bank and how far they read
    at_a = ["--store", str(a.engine.store.directory)]
    wait_for(lambda: bool(a.engine.get_bank(SHARED).followers), "A to record B's position")
    listing = json.loads(run(capsys, "bank", "list", "--json", *at_a)[1])
    (followers,) = [bank["followers"] for bank in listing if bank["name"] == SHARED]
    assert [f["partner"] for f in followers] == ["hotline-b"] and followers[0]["checkpoint"]
    assert (
        f"followed by hotline-b: at {followers[0]['checkpoint']}"
        in run(capsys, "bank", "list", *at_a)[1]
    )


def test_bad_input_gives_clear_errors_and_loses_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, a: Running
) -> None:
    b = str(tmp_path / "b")
    assert run(capsys, "bank", "create", "other", "--store", b)[0] == 0
    code, _, err = run(capsys, *follow_args(a, tmp_path, "--once"))
    assert code == 2 and f"no local bank named '{LOCAL}': create it first" in err
    assert run(capsys, "bank", "create", LOCAL, "--store", b)[0] == 0
    assert run(capsys, *follow_args(a, tmp_path, "--once"))[0] == 0
    before = local_state(tmp_path)
    assert before[0] == [("A-1", "active"), ("A-2", "active")] and before[1]

    args = follow_args(a, tmp_path, "--once", token=ADMIN_TOKEN)
    args[args.index(SHARED)] = "nope"
    code, _, err = run(capsys, *args)
    assert code == 2 and "no bank named 'nope'" in err

    code, _, err = run(capsys, *follow_args(a, tmp_path, "--once", token=LOOKUP_TOKEN))
    assert code == 2 and "may not use bank 'shared' as follow" in err

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    args = follow_args(a, tmp_path, "--once")
    args[args.index(a.address)] = closed
    code, _, err = run(capsys, *args)
    assert code == 2 and "unavailable" in err

    conn = sqlite3.connect(tmp_path / "b" / "hashcore.sqlite3")
    conn.execute("UPDATE checkpoints SET value = 'not-a-checkpoint'")
    conn.commit()
    conn.close()
    code, _, err = run(capsys, *follow_args(a, tmp_path, "--once"))
    assert code == 2 and "malformed checkpoint" in err
    entries, checkpoint = local_state(tmp_path)
    assert entries == before[0] and checkpoint == "not-a-checkpoint"  # nothing applied or lost


def test_follow_keeps_following_until_interrupted(tmp_path: Path, a: Running) -> None:
    assert main(["bank", "create", LOCAL, "--store", str(tmp_path / "b")]) == 0
    args = follow_args(a, tmp_path, "--heartbeat", "0.2")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "hashcore.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for(lambda: len(local_state(tmp_path)[0]) == 2, "the first entries")
        assert a.engine is not None
        a.engine.add_entry(SHARED, [md5("three")], external_id="A-3")
        wait_for(lambda: ("A-3", "active") in local_state(tmp_path)[0], "a pushed entry")
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"{LOCAL}: 3 entries in 2 update(s)" in out


def test_follow_refuses_a_plaintext_token_to_a_remote_host_instead_of_retrying(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    b = str(tmp_path / "b")
    assert main(["bank", "create", LOCAL, "--store", b]) == 0
    token = token_file(tmp_path, FOLLOWER_TOKEN)
    code, _, err = run(
        capsys, "bank", "follow", LOCAL, "--from", "192.0.2.1:50051", "--remote-bank", SHARED,
        "--token-file", str(token), "--store", b,
    )  # fmt: skip
    assert code == 2 and "refusing to send an API token in plaintext" in err
