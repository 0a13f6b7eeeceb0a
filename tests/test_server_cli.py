"""The CLI's remote mode: same verbs, same output, with ``--server``."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest
from media_data import media
from server_support import (
    ADMIN_TOKEN,
    ALICE_TOKEN,
    BOB_TOKEN,
    DIH,
    ORIGINAL,
    ROTATED,
    TOKENS,
    running_server,
)

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.cli.main import main
from hashcore.errors import InvalidInput, NotFound
from hashcore.model import BankSettings
from hashcore.remote import RemoteEngine, ServerUnavailable
from hashcore.remote.errors import NotRemote
from hashcore_server.banks import EXPORT_PAGE_BYTES, export_pages
from hashcore_server.config import Limits

RANDOM_ID = re.compile(r"[0-9a-f]{32}")
ANSWERED_BY = re.compile(r'\((?:store|server) [^)]*\)|"(?:store|server)": "[^"]*"')
"""Where the answer came from, which lookup output names and which differs by design."""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def session(capsys, *target: str) -> list[tuple[int, str]]:
    """The same sequence of verbs against a store or a server; their exit codes and stdout."""
    steps = [
        ("bank", "create", "known", "--label", "csam", *target),
        ("bank", "add", "known", str(ORIGINAL), "--label", "a", *target),
        ("bank", "list", "--json", *target),
        ("lookup", str(ROTATED), *target),
        ("lookup", "--json", str(ROTATED), *target),
        ("lookup", str(DIH / "bridge-5-flipx.jpg"), "--bank", "known", *target),
        ("bank", "disable", "known", *target),
        ("lookup", str(ROTATED), *target),
        ("bank", "enable", "known", *target),
        ("bank", "remove", "known", "1", *target),
        ("bank", "compact", *target),
    ]
    results = []
    for step in steps:
        code, out, _ = run(capsys, *step)
        out = ANSWERED_BY.sub("<where>", RANDOM_ID.sub("<id>", out))  # external ids are random
        results.append((code, out))
    return results


def test_remote_verbs_print_what_local_verbs_print(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HASHCORE_SERVER", raising=False)
    local = session(capsys, "--store", str(tmp_path / "local"))
    with running_server(tmp_path, tokens=TOKENS) as srv:
        remote = session(capsys, "--server", srv.address, "--token", ADMIN_TOKEN)
        code, _, _ = run(
            capsys,
            "lookup",
            "--server",
            srv.address,
            "--token",
            ADMIN_TOKEN,
            "--hash-only",
            str(ORIGINAL),
        )
    assert remote == local
    assert local[3][0] == 0 and "known" in local[3][1]
    assert code == 1  # entry 1 was removed


def test_a_folder_the_server_hashes_reads_as_a_local_lookup(tmp_path, capsys, monkeypatch):
    """An empty or broken file among good ones: through a server that hashes them, each is
    that file's error (named by its path, not "content") and the run goes on to the summary,
    as a local lookup does; it used to stop the whole run at the first empty file."""
    monkeypatch.delenv("HASHCORE_SERVER", raising=False)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "a-empty.jpg").write_bytes(b"")
    (reports / "b-cut.jpg").write_bytes(ORIGINAL.read_bytes()[:3000])
    (reports / "c-rotated.jpg").write_bytes(ROTATED.read_bytes())
    (reports / "d-notes.txt").write_text("minutes\n")

    def lookups(*target: str) -> list[tuple[int, str, str]]:
        run(capsys, "bank", "create", "known", *target)
        run(capsys, "bank", "add", "known", str(ORIGINAL), *target)
        answers = []
        for extra in ((), ("--new",), ("--json",)):
            code, out, err = run(capsys, "lookup", *extra, str(reports), *target)
            answers.append((code, ANSWERED_BY.sub("<where>", out), ANSWERED_BY.sub("<where>", err)))
        return answers

    local = lookups("--store", str(tmp_path / "local"))
    monkeypatch.setenv("HASHCORE_TOKEN", ADMIN_TOKEN)  # --token would add its warning
    with running_server(tmp_path, tokens=TOKENS) as srv:
        remote = lookups("--server", srv.address)
    assert remote == local
    code, out, _ = local[0]
    assert code == 2 and "4 files: 1 known, 1 new, 2 errors" in out
    assert f"{reports / 'a-empty.jpg'}: not looked up" in out
    assert "content" not in local[1][2]


def test_hash_only_lookup_never_sends_content(tmp_path, capsys, monkeypatch):
    with running_server(tmp_path) as srv:
        with RemoteEngine(srv.address) as remote:
            remote.create_bank("known")
            remote.add_file("known", ORIGINAL)
        sent = []
        real = srv.server.state.hash_content
        monkeypatch.setattr(
            srv.server.state, "hash_content", lambda *a, **k: sent.append(1) or real(*a, **k)
        )
        code, out, _ = run(capsys, "lookup", "--server", srv.address, "--hash-only", str(ROTATED))
        assert code == 0 and "known" in out and not sent
        code, out, _ = run(capsys, "lookup", "--server", srv.address, str(ROTATED))
        assert code == 0 and sent


def test_remote_add_file_is_keyed_by_md5_sent_as_content_or_as_hashes(tmp_path):
    """Adding the same file again, either way, is the one entry a local store would have."""
    with (
        running_server(tmp_path) as srv,
        RemoteEngine(srv.address) as content,
        RemoteEngine(srv.address, hash_only=True) as hashes,
    ):
        content.create_bank("b")
        first = content.add_file("b", ORIGINAL)
        assert hashes.add_file("b", ORIGINAL).id == first.id
        assert hashes.add_file("b", ORIGINAL, labels=["seen"]).labels == ("seen",)
        assert content.get_bank("b").entries == 1 and first.external_id.startswith("md5:")


def test_bank_export_over_a_server_is_the_servers_own_export(tmp_path, capsys):
    """Every entry (a removed one too), the bank's settings and the opinions on its entries,
    line for line what `bank export` on the server's machine writes; a failed export, here or
    there, leaves the file it was to replace as it was."""
    with running_server(tmp_path) as srv:
        server = ["--server", srv.address]
        create = ["bank", "create", "b", "--priority", "2", "--label", "x"]
        assert run(capsys, *create, *server)[0] == 0
        assert run(capsys, "bank", "add", "b", str(ORIGINAL), str(ROTATED), *server)[0] == 0
        assert run(capsys, "bank", "remove", "b", "2", *server)[0] == 0
        args = ["opinion", "add", "b", "1", "--kind", "confirmed", *server]
        external_id = RemoteEngine(srv.address).get_entry("b", 1).external_id
        args[3] = external_id
        assert run(capsys, *args)[0] == 0
        remote_file = tmp_path / "remote.jsonl"
        code, _, err = run(capsys, "bank", "export", "b", "-o", str(remote_file), *server)
        assert code == 0 and "entries: 2" in err and "opinions: 1" in err
        remote_file.write_text("an earlier export\n")
        code, _, err = run(capsys, "bank", "export", "nope", "-o", str(remote_file), *server)
        assert code == 2 and "no bank named 'nope'" in err
        assert remote_file.read_text() == "an earlier export\n"
        assert run(capsys, "bank", "export", "b", "-o", str(remote_file), *server)[0] == 0
    local_file = tmp_path / "local.jsonl"
    store = ["--store", str(srv.store)]
    assert run(capsys, "bank", "export", "b", "-o", str(local_file), *store)[0] == 0

    def lines(path: Path) -> list[str]:
        return [
            re.sub(r'"exported_at":[0-9.]+,', "", line) for line in path.read_text().splitlines()
        ]

    assert lines(remote_file) == lines(local_file)
    assert '"status":"deleted"' in local_file.read_text() and '"opinions"' in lines(local_file)[1]
    code, _, err = run(capsys, "bank", "export", "b", "-o", str(tmp_path / "no" / "x"), *store)
    assert code == 2 and "cannot write" in err and "No such file or directory" in err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_an_export_refused_to_a_lookup_partner_writes_not_a_line(tmp_path, capsys, monkeypatch):
    """A lookup-only token may see the bank but not read its hashes out: the refusal comes
    before the header line (the bank's settings) reaches stdout."""
    monkeypatch.setenv("HASHCORE_TOKEN", ALICE_TOKEN)  # lookup on "shared"
    with running_server(tmp_path, tokens=TOKENS) as srv:
        assert srv.engine is not None
        srv.engine.create_bank_with("shared", BankSettings(thresholds={"pdq": 20}))
        srv.engine.add_file("shared", ORIGINAL)
        code, out, err = run(capsys, "bank", "export", "shared", "--server", srv.address)
    assert (code, out) == (2, "")
    assert "may not" in err or "PERMISSION" in err.upper()


def test_a_large_bank_exports_over_a_server_in_pages_as_it_does_locally(tmp_path, capsys):
    """2,345 entries, more than two pages' worth: every one arrives, in order, and the file is
    the server's own export of the bank."""
    rng = random.Random(5)
    feed = tmp_path / "many.jsonl"
    header = {"format": "hashcore-bank", "version": 1, "bank": {"name": "many"}}
    records = [
        {
            "external_id": f"e{n}",
            "status": "active",
            "labels": [],
            "created_at": 1.0,
            "updated_at": 1.0,
            "signals": [{"type": "pdq", "hex": rng.randbytes(32).hex(), "quality": 100}],
        }
        for n in range(2345)
    ]
    feed.write_text("\n".join(json.dumps(line) for line in [header, *records]) + "\n")
    remote_file, local_file = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    with running_server(tmp_path) as srv:
        server = ["--server", srv.address]
        args = ["bank", "import", "many", str(feed), "--format", "hashcore", "--create"]
        assert run(capsys, *args, *server)[0] == 0
        assert run(capsys, "bank", "export", "many", "-o", str(remote_file), *server)[0] == 0
    assert (
        run(capsys, "bank", "export", "many", "-o", str(local_file), "--store", str(srv.store))[0]
        == 0
    )
    exported = [json.loads(line) for line in remote_file.read_text().splitlines()]
    assert [entry["external_id"] for entry in exported[1:]] == [r["external_id"] for r in records]
    assert exported[1:] == [json.loads(line) for line in local_file.read_text().splitlines()[1:]]


def test_export_pages_hold_a_thousand_entries_or_about_a_megabyte():
    small = [pb.Entry(id=n, external_id=f"e{n}") for n in range(2500)]
    assert [len(page) for page in export_pages(small)] == [1000, 1000, 500]
    feature = pb.Signal(type="tmk_pdqf", value=bytes(100_000))  # a video's TMK feature
    large = [pb.Entry(id=n, signals=[feature]) for n in range(25)]
    pages = list(export_pages(large))
    assert [entry.id for page in pages for entry in page] == list(range(25))
    assert all(sum(e.ByteSize() for e in page) < EXPORT_PAGE_BYTES + 100_100 for page in pages)
    assert len(pages) == 3 and list(export_pages([])) == []


def test_bank_fetch_through_a_server_is_refused_before_any_request(capsys, monkeypatch):
    """Nothing listens at either address: the refusal comes first, naming what to do."""
    fetch = ["bank", "fetch", "b", "--format", "stopncii", "--url", "http://127.0.0.1:9/"]
    code, _, err = run(capsys, *fetch, "--server", "127.0.0.1:1")
    assert code == 2 and "run it on the server's machine with --store DIR" in err
    monkeypatch.setenv("HASHCORE_SERVER", "127.0.0.1:1")
    code, _, err = run(capsys, *fetch)
    assert code == 2 and "bank fetch runs where the store it fills is" in err


def test_unreachable_server_and_refused_token_exit_2(tmp_path, capsys):
    code, _, err = run(capsys, "bank", "list", "--server", "127.0.0.1:1", "--server-timeout", "3")
    assert code == 2 and "unavailable" in err and "Traceback" not in err
    with running_server(tmp_path, tokens=TOKENS) as srv:
        code, _, err = run(capsys, "bank", "list", "--server", srv.address, "--token", "wrong")
        assert code == 2 and "refused the token" in err and "wrong" not in err
        code, _, err = run(
            capsys, "bank", "create", "x", "--server", srv.address, "--token", BOB_TOKEN
        )
        assert code == 2 and "may not" in err


def test_remote_engine_round_trip(tmp_path):
    with running_server(tmp_path) as srv, RemoteEngine(srv.address) as remote:
        bank = remote.create_bank("b", labels=["x"], thresholds={"pdq": 20})
        assert bank.name == "b" and dict(bank.thresholds) == {"pdq": 20}
        entry = remote.add_file("b", ORIGINAL, labels=["l"], external_id="ext")
        assert remote.get_entry("b", entry.id).external_id == "ext"
        result = remote.lookup_file(ROTATED)
        assert [m.external_id for m in result.matches] == ["ext"]
        pdq = [s for s in entry.signals if s.type == "pdq"]
        [answer] = remote.lookup_many([pdq])
        assert [m.entry_id for m in answer.matches] == [entry.id]
        with pytest.raises(InvalidInput) as refused:
            remote.lookup_many([pdq, []])
        assert refused.value.field == "queries[1].signals.signals"
        with pytest.raises(InvalidInput) as refused:  # the second message's first query
            remote.lookup_many([pdq, pdq, []], batch_size=2)
        assert refused.value.field == "queries[2].signals.signals"
        assert remote.get_bank("b").entries == 1
        assert remote.index_status()["pdq"].values >= 1
        feed = media("partner-samples/stopncii_fetch.json")
        summary = remote.import_file("stopncii", feed, format="stopncii")
        assert summary.added > 0
        assert any(line.startswith(f"added {summary.added},") for line in summary.lines())
        assert remote.get_bank("stopncii").entries == summary.added
        assert [entry.external_id for entry in remote.iter_entries("b")] == ["ext"]
        with pytest.raises(NotFound):
            list(remote.iter_entries("nope"))
        with pytest.raises(NotRemote, match="not available with --server"):
            remote.batch()
        with pytest.raises(ServerUnavailable):
            RemoteEngine("127.0.0.1:1", timeout=2).list_banks()


def test_bank_import_with_server_prints_the_local_summary(tmp_path, capsys):
    feed = Path(__file__).parent / "data" / "partner-samples" / "stopncii_fetch.json"
    verb = ("bank", "import", "ncii", "--create", "--format", "stopncii", str(feed))
    local = run(capsys, *verb, "--store", str(tmp_path / "local"))
    with running_server(tmp_path, tokens=TOKENS) as srv:
        remote = run(capsys, *verb, "--server", srv.address, "--token", ADMIN_TOKEN)
        assert srv.engine is not None and srv.engine.get_bank("ncii").entries == 1
    assert local[0] == 0 and remote[:2] == local[:2]
    assert "added 1" in local[1]
    missing = run(
        capsys,
        "bank",
        "import",
        "nobank",
        "--format",
        "stopncii",
        str(feed),
        "--store",
        str(tmp_path / "local"),
    )
    assert missing[0] == 2 and "no bank named 'nobank'" in missing[2]


def test_bank_import_with_server_of_a_refused_file_creates_no_bank(tmp_path, capsys):
    """An empty file is refused whole: ``--create`` through a server leaves no empty bank,
    and the summary names the problem as a local import does."""
    feed = tmp_path / "empty.jsonl"
    feed.write_text("")
    verb = ("bank", "import", "copy", "--create", "--format", "hashcore", str(feed))
    local = run(capsys, *verb, "--store", str(tmp_path / "local"))
    with running_server(tmp_path, tokens=TOKENS) as srv:
        remote = run(capsys, *verb, "--server", srv.address, "--token", ADMIN_TOKEN)
        assert srv.engine is not None and srv.engine.list_banks() == []
    assert remote[:2] == local[:2] and local[0] == 1
    assert "problem: line 1: not a hashcore-bank file (empty)" in local[1]


def test_bank_import_with_server_of_a_file_over_one_message_is_refused_first(tmp_path, capsys):
    """A feed travels to the server in one message: a file over it is refused before any call
    or bank creation, naming the limit and the way round it, not gRPC's raw message."""
    feed = tmp_path / "huge.jsonl"
    with feed.open("wb") as sparse:  # 70 MiB of nothing, without writing it
        sparse.truncate(70 << 20)
    verb = ("bank", "import", "copy", "--create", "--format", "hashcore", str(feed))
    with running_server(tmp_path, tokens=TOKENS) as srv:
        code, out, err = run(capsys, *verb, "--server", srv.address, "--token", ADMIN_TOKEN)
        assert srv.engine is not None and srv.engine.list_banks() == []
    assert (code, out) == (2, "")
    assert f"{feed} is 70 MiB: an import through a server sends the file in one message" in err
    assert "bank import --store DIR" in err and "Sent message larger" not in err


def test_bank_import_with_server_over_its_content_limit_names_the_file(tmp_path, capsys):
    feed = Path(__file__).parent / "data" / "partner-samples" / "stopncii_fetch.json"
    verb = ("bank", "import", "ncii", "--create", "--format", "stopncii", str(feed))
    with running_server(tmp_path, tokens=TOKENS, limits=Limits(max_content_bytes=100)) as srv:
        code, _, err = run(capsys, *verb, "--server", srv.address, "--token", ADMIN_TOKEN)
    assert code == 2
    assert f"{feed}: content is {feed.stat().st_size:,} bytes; the limit is 100" in err


def test_verbs_a_server_lacks_raise_not_remote_before_any_call() -> None:
    """Every EngineAPI verb is a RemoteEngine method; those without an RPC refuse clearly."""
    with RemoteEngine("127.0.0.1:1", timeout=2) as remote:  # nothing listens: nothing is sent
        for verb, call in [("batch", lambda: remote.batch())]:
            with pytest.raises(NotRemote, match=rf"{verb}\(\) is not available with --server"):
                call()
        remote.catch_up()  # the server's writes catch up on commit: nothing to ask


@pytest.mark.parametrize(
    ("global_flags", "serve_flags", "expected"),
    [
        ([], [], "var/hashcore"),  # the store every other verb uses when none is named
        (["--store", "banks"], [], "banks"),  # the global flag, as for every other verb
        (["--store", "banks"], ["--store", "mine"], "mine"),  # the verb's own wins
    ],
)
def test_serve_finds_the_store_the_other_verbs_use(
    global_flags: list[str], serve_flags: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hashcore bank create`` then ``hashcore serve`` in one folder serve that bank: the
    server named its default store differently and ignored ``hashcore --store DIR serve``."""
    from hashcore.cli.common import store_dir
    from hashcore.cli.main import build_parser
    from hashcore.cli.serve_cmd import server_config

    for name in [n for n in os.environ if n.startswith("HASHCORE_")]:
        monkeypatch.delenv(name)
    served = server_config(build_parser("serve").parse_args([*global_flags, "serve", *serve_flags]))
    assert served.store == Path(expected)
    if not serve_flags:
        banked = store_dir(build_parser("bank").parse_args([*global_flags, "bank", "list"]))
        assert served.store == banked


def test_a_server_timeout_of_zero_or_less_is_a_usage_error(tmp_path, capsys):
    """0 and -1 were taken, and every call then failed with "timed out"."""
    with running_server(tmp_path) as srv:
        for value in ("0", "-1", "nan", "soon"):
            with pytest.raises(SystemExit) as exited:
                main(["bank", "list", "--server", srv.address, "--server-timeout", value])
            assert exited.value.code == 2
            err = capsys.readouterr().err
            assert "--server-timeout" in err and "timed out" not in err, value
        code, _, _ = run(capsys, "bank", "list", "--server", srv.address, "--server-timeout", "5")
        assert code == 0


def test_a_refused_token_points_at_the_token_file_not_at_token(tmp_path, capsys):
    """--token is visible in ps: the docs steer away from it, so the hint must too."""
    token = tmp_path / "wrong.token"
    token.write_text("wrong\n")
    token.chmod(0o600)
    with running_server(tmp_path, tokens=TOKENS) as srv:
        code, _, err = run(
            capsys, "bank", "list", "--server", srv.address, "--token-file", str(token)
        )
    assert code == 2 and "refused the token" in err
    assert "--token-file" in err and "$HASHCORE_TOKEN" in err and "client profile" in err
    assert "--token " not in err and "--token or" not in err
