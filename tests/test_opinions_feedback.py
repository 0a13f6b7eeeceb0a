"""Feedback to partner APIs (``hashcore opinion feedback``), against a local HTTP server on
127.0.0.1 that records every request it receives: no other network."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.formats.http import redact_url
from hashcore.model import BankSettings
from hashcore.opinions import NewOpinion, OpinionKind
from hashcore.opinions.api import LocalOpinions
from hashcore.opinions.outbox import pending
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal

PDQ = bytes(range(32))
MD5 = bytes(range(16))


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """Answers every request with ``status`` and keeps what it received."""

    status: int = 200
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def partner() -> Iterator[Recorder]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorder.received.append(
                Received(self.command, self.path, dict(self.headers), self.rfile.read(length))
            )
            self.send_response(recorder.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_PUT = do_POST = _record

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(tmp_path: Path, registry: SignalRegistry) -> Iterator[Engine]:
    """One bank per partner, an entry each keyed the way that partner's feed keys it."""
    with Engine(tmp_path / "store", registry) as engine:
        for bank in ("ncmec", "stopncii", "te"):
            engine.create_bank(bank)
        engine.add_entry(
            "ncmec", [Signal("md5", MD5), Signal("pdq", PDQ, quality=100)], external_id="5-1001"
        )
        engine.add_entry("stopncii", [Signal("pdq", PDQ, quality=100)],
                         external_id=f"ImagePDQ:{PDQ.hex()}")  # fmt: skip
        engine.add_entry("te", [Signal("pdq", PDQ, quality=100)], external_id="4242")
        yield engine


def opine(
    engine: Engine, bank: str, external_id: str, kind: OpinionKind, author: str = "ana", **kw: Any
) -> None:
    LocalOpinions(engine.store).record_opinion(
        NewOpinion(bank, external_id, kind, author, hashes=(Signal("pdq", PDQ),), **kw)
    )


def feedback(
    capsys: pytest.CaptureFixture[str], engine: Engine, bank: str, fmt: str, url: str
) -> tuple[int, dict[str, int], str]:
    code = main(["opinion", "feedback", bank, "--format", fmt, "--url", url, "--credentials",
                 "env:PARTNER_SECRET", "--retries", "0", "--json", "--store",
                 str(engine.store_dir)])  # fmt: skip
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def test_ncmec_feedback_per_fingerprint_type(
    store: Engine, partner: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("PARTNER_SECRET", "user:pass")
    opine(store, "ncmec", "5-1001", OpinionKind.FALSE_POSITIVE)
    opine(store, "ncmec", "5-1001", OpinionKind.CONFIRMED, origin="hotline-c")  # not ours
    code, counts, err = feedback(capsys, store, "ncmec", "ncmec", f"{partner.url}/npo")
    assert code == 0, err
    assert counts == {"sent": 1, "requests": 2, "not_expressible": 0, "superseded": 0,
                      "nothing_to_withdraw": 0}  # fmt: skip
    assert [(r.method, r.path) for r in partner.received] == [
        ("PUT", "/npo/v2/entries/5/1001/MD5/feedback"),
        ("PUT", "/npo/v2/entries/5/1001/PDQ/feedback"),
    ]
    request = partner.received[0]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"user:pass").decode()
    assert request.headers["Content-Type"] == "application/xml"
    assert b"<negative/>" in request.body and b"feedbackSubmission" in request.body
    assert PDQ.hex().encode() not in request.body  # NCMEC knows its entry: no hashes sent
    assert feedback(capsys, store, "ncmec", "ncmec", f"{partner.url}/npo")[1]["sent"] == 0
    assert len(partner.received) == 2  # each opinion goes once


def test_stopncii_feedback_and_what_it_cannot_say(
    store: Engine, partner: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("PARTNER_SECRET", "subscription:function")
    opine(store, "stopncii", f"ImagePDQ:{PDQ.hex()}", OpinionKind.FALSE_POSITIVE)
    opine(store, "stopncii", f"ImagePDQ:{PDQ.hex()}", OpinionKind.DISPUTED, "ben")
    code, counts, _ = feedback(capsys, store, "stopncii", "stopncii", f"{partner.url}/api")
    assert code == 0 and (counts["sent"], counts["requests"], counts["not_expressible"]) == (
        1, 1, 1,
    )  # fmt: skip
    [request] = partner.received
    assert (request.method, request.path) == ("POST", "/api/SubmitFeedback")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "hashFeedbacks": [
            {"signalType": "ImagePDQ", "hashValue": PDQ.hex(), "feedbackValue": "Overturned",
             "tags": []}
        ]
    }  # fmt: skip
    assert pending(store.store, "stopncii") == []


def test_threatexchange_feedback_is_our_descriptor(
    store: Engine, partner: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("PARTNER_SECRET", "app|token")
    opine(store, "te", "4242", OpinionKind.FALSE_POSITIVE)
    code, counts, _ = feedback(capsys, store, "te", "threatexchange", f"{partner.url}/v18.0/777")
    assert code == 0 and counts["requests"] == 1
    [request] = partner.received
    assert (request.method, request.path) == ("POST", "/v18.0/threat_descriptors")
    assert request.headers["Authorization"] == "OAuth app|token"
    form = dict(urllib.parse.parse_qsl(request.body.decode()))
    assert form["status"] == "NON_MALICIOUS" and form["type"] == "HASH_PDQ"
    assert form["indicator"] == PDQ.hex() and form["privacy_members"] == "777"


def test_a_refused_request_leaves_the_opinion_pending(
    store: Engine, partner: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("PARTNER_SECRET", "user:pass")
    opine(store, "ncmec", "5-1001", OpinionKind.CONFIRMED)
    partner.status = 403
    code, _, err = feedback(capsys, store, "ncmec", "ncmec", f"{partner.url}/npo")
    assert code == 2 and "credentials rejected" in err and "pass" not in err
    assert len(pending(store.store, "ncmec")) == 1
    partner.status = 200
    assert feedback(capsys, store, "ncmec", "ncmec", f"{partner.url}/npo")[1]["sent"] == 1
    assert b"<affirmative/>" in partner.received[-1].body


def test_a_format_without_feedback_is_named(
    store: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = feedback(capsys, store, "te", "pytx-csv", "http://127.0.0.1:9")
    assert code == 2 and "sends no feedback" in err and "stopncii" in err


def test_a_partner_error_names_the_port_never_the_credentials(
    store: Engine, partner: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """Two services on one host differ by port: the error keeps it, and drops a URL's
    ``user:password@`` and query as before."""
    monkeypatch.setenv("PARTNER_SECRET", "user:pass")
    opine(store, "ncmec", "5-1001", OpinionKind.CONFIRMED)
    partner.status = 403
    code, _, err = feedback(capsys, store, "ncmec", "ncmec", f"{partner.url}/npo")
    assert code == 2
    assert f"{partner.url}/npo/v2/entries/5/1001/MD5/feedback: HTTP 403" in err
    assert redact_url("https://ana:s3cret@Host.example:8443/npo?token=t") == (
        "https://Host.example:8443/npo"
    )


def sent_to(engine: Engine, bank: str) -> list[tuple[str, str | None]]:
    return [(o.kind.value, o.sent_to) for o in LocalOpinions(engine.store).list_opinions(bank)]


def test_only_each_authors_standing_opinion_goes_out(
    store: Engine, partner: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """Two false positives and a withdrawal before any feedback run: NCMEC has no withdrawal
    form, and the analyst took it all back, so nothing is sent."""
    monkeypatch.setenv("PARTNER_SECRET", "user:pass")
    opine(store, "ncmec", "5-1001", OpinionKind.FALSE_POSITIVE)
    LocalOpinions(store.store).record_opinion(
        NewOpinion(
            "ncmec", "5-1001", OpinionKind.FALSE_POSITIVE, "ana", hashes=(Signal("md5", MD5),)
        )
    )
    opine(store, "ncmec", "5-1001", OpinionKind.WITHDRAWN)
    code, counts, err = feedback(capsys, store, "ncmec", "ncmec", f"{partner.url}/npo")
    assert code == 0, err
    assert counts == {"sent": 0, "requests": 0, "not_expressible": 0, "superseded": 2,
                      "nothing_to_withdraw": 1}  # fmt: skip
    assert partner.received == []
    assert sent_to(store, "ncmec") == [
        ("false_positive", "feedback:ncmec (not sent: superseded)"),
        ("false_positive", "feedback:ncmec (not sent: superseded)"),
        ("withdrawn", "feedback:ncmec (not sent: nothing to withdraw)"),
    ]
    # A later confirmation goes alone; withdrawn after it was sent, NCMEC cannot say it.
    opine(store, "ncmec", "5-1001", OpinionKind.FALSE_POSITIVE)
    opine(store, "ncmec", "5-1001", OpinionKind.CONFIRMED)
    code, counts, _ = feedback(capsys, store, "ncmec", "ncmec", f"{partner.url}/npo")
    assert (counts["sent"], counts["requests"], counts["superseded"]) == (1, 2, 1)
    assert all(b"<affirmative/>" in r.body for r in partner.received)
    opine(store, "ncmec", "5-1001", OpinionKind.WITHDRAWN)
    code, counts, _ = feedback(capsys, store, "ncmec", "ncmec", f"{partner.url}/npo")
    assert (counts["sent"], counts["not_expressible"], len(partner.received)) == (0, 1, 2)


def test_stopncii_hears_a_withdrawal_only_of_what_it_received(
    store: Engine, partner: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("PARTNER_SECRET", "subscription:function")
    key = f"ImagePDQ:{PDQ.hex()}"

    def values() -> list[str]:
        return [json.loads(r.body)["hashFeedbacks"][0]["feedbackValue"] for r in partner.received]

    opine(store, "stopncii", key, OpinionKind.FALSE_POSITIVE)
    opine(store, "stopncii", key, OpinionKind.WITHDRAWN)  # before it went out: nothing to say
    opine(store, "stopncii", key, OpinionKind.CONFIRMED, "ben")
    code, counts, err = feedback(capsys, store, "stopncii", "stopncii", f"{partner.url}/api")
    assert code == 0, err
    assert (counts["sent"], counts["superseded"], counts["nothing_to_withdraw"]) == (1, 1, 1)
    assert values() == ["Upheld"]  # ben's; ana's withdrawn false positive never went
    opine(store, "stopncii", key, OpinionKind.WITHDRAWN, "ben")  # takes back what was sent
    code, counts, _ = feedback(capsys, store, "stopncii", "stopncii", f"{partner.url}/api")
    assert (counts["sent"], counts["requests"]) == (1, 1) and values() == ["Upheld", "None"]
    assert feedback(capsys, store, "stopncii", "stopncii", f"{partner.url}/api")[1]["sent"] == 0
    assert pending(store.store, "stopncii") == []


def test_a_wrong_format_or_url_is_refused_before_anything_is_marked(
    store: Engine, partner: Recorder, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """Feedback in the wrong partner's form would come out unsayable, and marked done it could
    never be sent again: refused, with nothing sent or marked."""
    monkeypatch.setenv("PARTNER_SECRET", "user:pass")
    store.create_bank_with("fed", BankSettings(source="ncmec"))  # what bank import --create does
    store.add_entry("fed", [Signal("md5", MD5)], external_id="5-2002", source="ncmec")
    store.add_entry("ncmec", [Signal("md5", MD5)], external_id="5-3003", source="ncmec")
    opine(store, "fed", "5-2002", OpinionKind.FALSE_POSITIVE)
    code, _, err = feedback(capsys, store, "fed", "stopncii", f"{partner.url}/api")
    assert code == 2 and "bank 'fed' is fed by ncmec: its feedback goes with --format ncmec" in err
    opine(store, "ncmec", "5-3003", OpinionKind.CONFIRMED)  # a bank without a recorded source
    code, _, err = feedback(capsys, store, "ncmec", "threatexchange", f"{partner.url}/v18.0/7")
    assert code == 2 and "entry ncmec/5-3003 came from ncmec" in err
    code, _, err = feedback(capsys, store, "ncmec", "stopncii", f"{partner.url}/api")
    assert code == 2 and "entry ncmec/5-3003 came from ncmec" in err
    opine(store, "te", "4242", OpinionKind.FALSE_POSITIVE)
    code, _, err = feedback(capsys, store, "te", "threatexchange", f"{partner.url}/v18.0")
    assert code == 2 and "does not end with a numeric privacy group id" in err
    code, _, err = feedback(capsys, store, "te", "stopncii", f"{partner.url}/api")
    assert code == 2 and "entry '4242' is not keyed like a StopNCII record" in err
    assert partner.received == [] and len(pending(store.store, "fed")) == 1
    assert len(pending(store.store, "te")) == 1 and len(pending(store.store, "ncmec")) == 1
    code, counts, _ = feedback(capsys, store, "fed", "ncmec", f"{partner.url}/npo")
    assert code == 0 and (counts["sent"], counts["requests"]) == (1, 1)
    assert feedback(capsys, store, "te", "threatexchange", f"{partner.url}/v18.0/7")[1]["sent"] == 1
