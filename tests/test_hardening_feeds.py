"""Issue 11, finding 8: nested JSON lines, trickling partner servers, feeds that empty a bank."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from server_support import running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.errors import NotReady
from hashcore.formats import HttpClient, get_format
from hashcore.formats.importer import MassDeleteRefused, import_updates
from hashcore.model import EntryStatus

HEADER = json.dumps({"format": "hashcore-bank", "version": 1, "bank": {"name": "b"}})


def md5(n: int) -> str:
    return hashlib.md5(str(n).encode()).hexdigest()


def entry(n: int, status: str = "active") -> str:
    return json.dumps(
        {"external_id": f"e{n}", "status": status, "signals": [{"type": "md5", "hex": md5(n)}]}
    )


def feed(*lines: str) -> bytes:
    return "\n".join((HEADER, *lines)).encode() + b"\n"


NESTED = "[" * 100_000 + "]" * 100_000
NESTED_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


def read(registry, data: bytes, fmt: str = "hashcore", **options: object):
    return get_format(fmt, registry, options).read(io.BytesIO(data))


@pytest.mark.parametrize("bad", [NESTED, NESTED_OBJECT])
def test_deeply_nested_line_is_a_problem_and_later_records_import(tmp_path, registry, bad):
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("b")
        summary = import_updates(engine, "b", read(registry, feed(entry(1), bad, entry(2))))
        assert summary.added == 2
        assert [p.reason for p in summary.problems] == ["JSON nested too deeply"]
        assert summary.problems[0].position == "line 3"


def test_csv_jsonl_nested_line_is_a_problem(registry):
    data = (NESTED + "\n" + json.dumps({"type": "md5", "value": md5(1)}) + "\n").encode()
    items = list(read(registry, data, "csv", input="jsonl"))
    assert [type(i).__name__ for i in items] == ["Problem", "BankUpdate"]


def test_nested_line_over_grpc_is_not_internal(tmp_path):
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        request = pb.ImportUpdatesRequest(
            bank="b", format="hashcore", data=feed(entry(1), NESTED, entry(2))
        )
        response = banks.ImportUpdates(request, timeout=60)
        assert response.added == 2 and response.problem_count == 1


# A partner that answers at once, then trickles its body a byte at a time.

TRICKLE_BYTES = 20
TRICKLE_PAUSE = 0.3


@pytest.fixture
def trickling_server() -> Iterator[tuple[str, list[int]]]:
    sent: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(TRICKLE_BYTES))
            self.end_headers()
            self.wfile.flush()
            for _ in range(TRICKLE_BYTES):
                time.sleep(TRICKLE_PAUSE)
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                sent.append(1)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/feed", sent
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_timeout_bounds_the_whole_request(trickling_server):
    url, sent = trickling_server
    client = HttpClient(timeout=1.0, retries=0, backoff=0.0)
    with pytest.raises(NotReady, match=r"no complete response within 1 s"):
        client.get(url)
    # Every single byte came well within the per-read timeout; only a total deadline stops it.
    assert len(sent) < TRICKLE_BYTES


def test_fetch_timeout_still_allows_a_prompt_response(trickling_server):
    url, _ = trickling_server
    fast = HttpClient(timeout=30.0, retries=0)
    assert fast.get(url) == b" " * TRICKLE_BYTES


def test_fetch_timeout_covers_a_server_that_never_answers():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection (backlog) but never sends a byte
    try:
        port = listener.getsockname()[1]
        with pytest.raises(NotReady, match="within"):
            HttpClient(timeout=0.5, retries=0).get(f"http://127.0.0.1:{port}/")
    finally:
        listener.close()


# The mass-delete guard.

BANK_SIZE = 20


def filled(engine: Engine, registry) -> None:
    engine.create_bank("b")
    lines = [entry(n) for n in range(BANK_SIZE)]
    assert import_updates(engine, "b", read(registry, feed(*lines))).added == BANK_SIZE


def active(engine: Engine) -> int:
    return engine.get_bank("b").entries


def withdraw(count: int) -> bytes:
    return feed(*(entry(n, "withdrawn") for n in range(count)))


def test_feed_withdrawing_a_whole_bank_is_refused(tmp_path, registry):
    with Engine(tmp_path / "store", registry) as engine:
        filled(engine, registry)
        with pytest.raises(MassDeleteRefused, match="--allow-mass-delete") as info:
            import_updates(engine, "b", read(registry, withdraw(BANK_SIZE)))
        assert "nothing was imported" in info.value.message
        assert active(engine) == BANK_SIZE
        # Half is allowed; past half needs consent.
        half = import_updates(engine, "b", read(registry, withdraw(BANK_SIZE // 2)))
        assert half.deleted == BANK_SIZE // 2
        assert active(engine) == BANK_SIZE // 2
        summary = import_updates(
            engine, "b", read(registry, withdraw(BANK_SIZE)), max_delete_fraction=None
        )
        assert summary.deleted == BANK_SIZE // 2 and active(engine) == 0


def test_guard_rolls_back_the_crossing_batch_and_says_what_was_committed(tmp_path, registry):
    with Engine(tmp_path / "store", registry) as engine:
        filled(engine, registry)
        with pytest.raises(MassDeleteRefused, match=r"8 updates in 2 earlier batch") as info:
            import_updates(engine, "b", read(registry, withdraw(BANK_SIZE)), batch_size=4)
        assert info.value.field == "allow_mass_delete"
        assert active(engine) == BANK_SIZE - 8
        statuses = {engine.store.find_entry("b", f"e{n}").status for n in range(8, BANK_SIZE)}
        assert statuses == {EntryStatus.ACTIVE}


def test_cli_import_refuses_mass_delete_unless_allowed(tmp_path, registry, capsys):
    store = tmp_path / "store"
    with Engine(store, registry) as engine:
        filled(engine, registry)
    path = tmp_path / "withdraw.jsonl"
    path.write_bytes(withdraw(BANK_SIZE))
    argv = ["bank", "import", "b", str(path), "--format", "hashcore", "--store", str(store)]
    assert main(argv) == 2
    assert "--allow-mass-delete" in capsys.readouterr().err
    assert main([*argv, "--allow-mass-delete"]) == 0
    with Engine(store, registry) as engine:
        assert active(engine) == 0


def test_grpc_import_refuses_mass_delete_unless_allowed(tmp_path, registry):
    with running_server(tmp_path) as srv:
        assert srv.engine is not None
        filled(srv.engine, registry)
        _, banks = srv.stubs()
        request = pb.ImportUpdatesRequest(bank="b", format="hashcore", data=withdraw(BANK_SIZE))
        with pytest.raises(grpc.RpcError) as info:
            banks.ImportUpdates(request, timeout=60)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "mass-delete" in info.value.details()
        assert active(srv.engine) == BANK_SIZE
        request.options["allow_mass_delete"] = "true"
        assert banks.ImportUpdates(request, timeout=60).deleted == BANK_SIZE


def test_remote_cli_import_passes_allow_mass_delete(tmp_path, registry, capsys):
    with running_server(tmp_path) as srv:
        assert srv.engine is not None
        filled(srv.engine, registry)
        path = tmp_path / "withdraw.jsonl"
        path.write_bytes(withdraw(BANK_SIZE))
        argv = ["bank", "import", "b", str(path), "--format", "hashcore", "--server", srv.address]
        assert main(argv) == 2
        assert "mass-delete" in capsys.readouterr().err
        assert main([*argv, "--allow-mass-delete"]) == 0
        assert active(srv.engine) == 0


def test_small_banks_are_not_guarded(tmp_path, registry):
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("b")
        import_updates(engine, "b", read(registry, feed(entry(1))))
        assert import_updates(engine, "b", read(registry, withdraw(2))).deleted == 1


def test_mapping_file_nested_too_deeply_is_invalid_input(tmp_path: Path):
    from hashcore.errors import InvalidInput
    from hashcore.formats.csvmap import load_mapping

    path = tmp_path / "mapping.json"
    path.write_text(NESTED)
    with pytest.raises(InvalidInput, match="nested"):
        load_mapping(path)
