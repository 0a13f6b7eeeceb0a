"""Opinions over gRPC, on a real server on 127.0.0.1: recording, listing, and a follower's
outbox sent back to its source (``hashcore.opinions.upstream``)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import grpc
import pytest
from server_support import ADMIN_TOKEN, ORIGINAL, auth, registry, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.hashing import hash_file
from hashcore.opinions import NewOpinion, OpinionKind
from hashcore.opinions.api import LocalOpinions, RemoteOpinions
from hashcore.opinions.upstream import mark_sent, pending, send_opinions
from hashcore.remote import RemoteEngine
from hashcore.remote.errors import RemoteError
from hashcore.signals import Signal, stored_variant
from hashcore_server.auth import ADMIN, FOLLOW, LOOKUP, Principal
from hashcore_server.config import ConfigError, TokenGrant, hash_token, load_config

FOLLOWER_TOKEN = "follower-secret-token"
LOOKER_TOKEN = "looker-secret-token"
TOKENS = (
    TokenGrant("ops", hash_token(ADMIN_TOKEN), {"*": "admin"}),
    TokenGrant("hotline-b", hash_token(FOLLOWER_TOKEN), {"shared": "follow"}),
    TokenGrant("looker", hash_token(LOOKER_TOKEN), {"shared": "lookup"}),
)


def picture_hashes() -> tuple[Signal, ...]:
    return tuple(
        Signal(s.type, s.value)
        for s in hash_file(ORIGINAL, registry()).signals
        if stored_variant(s.variant) is None
    )


@pytest.fixture
def source(tmp_path: Path):
    """Server A: bank ``shared`` holding the bridge picture as entry ``e1``."""
    with running_server(tmp_path / "a", tokens=TOKENS) as srv:
        assert srv.engine is not None
        srv.engine.create_bank("shared")
        srv.engine.add_file("shared", ORIGINAL, external_id="e1")
        yield srv


@pytest.fixture
def follower(tmp_path: Path):
    """Store B: the followed bank ``mirror`` keeps the source's external id ``e1``."""
    with Engine(tmp_path / "b", registry()) as engine:
        engine.create_bank("mirror")
        engine.add_file("mirror", ORIGINAL, external_id="e1")
        yield engine


def stored_at(srv) -> list[tuple[str, str | None, str]]:
    found = LocalOpinions(srv.engine.store).list_opinions("shared")
    return [(o.author, o.origin, o.kind.value) for o in found]


def test_the_outbox_reaches_the_source_once(source, follower) -> None:
    book = LocalOpinions(follower.store)
    fp = book.record_opinion(
        NewOpinion("mirror", "e1", OpinionKind.FALSE_POSITIVE, "ana", "not it", picture_hashes())
    )
    book.record_opinion(  # received from elsewhere: not ours to forward
        NewOpinion("mirror", "e1", OpinionKind.CONFIRMED, "x", origin="hotline-c")
    )
    assert follower.lookup_file(ORIGINAL).matches == []  # excepted at B, where it was formed
    items = pending(follower.store, "mirror")
    assert [o.id for o in items] == [fp.id]
    channel = source.channel()
    sent = send_opinions(channel, FOLLOWER_TOKEN, "shared", items)
    assert (sent.stored, sent.duplicates, sent.rejected) == (1, 0, [])
    again = send_opinions(channel, FOLLOWER_TOKEN, "shared", items)  # a crash before mark_sent
    assert (again.stored, again.duplicates) == (0, 1)
    assert stored_at(source) == [("ana", "hotline-b", "false_positive")]
    [at_source] = LocalOpinions(source.engine.store).list_opinions("shared")
    assert at_source.hashes == fp.hashes and at_source.note == "not it"
    assert at_source.uid == fp.uid and at_source.created_at == fp.created_at
    # The source decides what to do with its data: a received opinion excepts nothing there.
    assert [m.external_id for m in source.engine.lookup_file(ORIGINAL).matches] == ["e1"]
    assert mark_sent(follower.store, [o.id for o in items], f"{source.address}/shared") == 1
    assert pending(follower.store, "mirror") == []
    [marked] = [o for o in book.list_opinions("mirror") if o.id == fp.id]
    assert marked.sent_to == f"{source.address}/shared" and marked.sent_at is not None


def test_a_token_without_follow_is_refused_and_nothing_is_stored(source, follower) -> None:
    LocalOpinions(follower.store).record_opinion(
        NewOpinion("mirror", "e1", OpinionKind.DISPUTED, "ana")
    )
    items = pending(follower.store, "mirror")
    for token, code in ((LOOKER_TOKEN, "PERMISSION_DENIED"), ("not-a-token", "UNAUTHENTICATED")):
        with pytest.raises(RemoteError) as refused:
            send_opinions(source.channel(), token, "shared", items)
        assert refused.value.code == code
    with pytest.raises(RemoteError, match="may not use bank 'other'"):
        send_opinions(source.channel(), FOLLOWER_TOKEN, "other", items)
    assert stored_at(source) == []
    assert pending(follower.store, "mirror") == items  # still to send


def test_an_unknown_entry_is_rejected_alone(source, follower) -> None:
    follower.add_entry("mirror", [Signal("md5", bytes(16))], external_id="gone-at-source")
    book = LocalOpinions(follower.store)
    book.record_opinion(NewOpinion("mirror", "gone-at-source", OpinionKind.CONFIRMED, "ana"))
    book.record_opinion(NewOpinion("mirror", "e1", OpinionKind.CONFIRMED, "ana"))
    with RemoteEngine(source.address, token=FOLLOWER_TOKEN) as remote:
        sent = send_opinions(remote, None, "shared", pending(follower.store, "mirror"))
    assert sent.stored == 1
    [(opinion, reason)] = sent.rejected
    assert opinion.external_id == "gone-at-source" and "no entry" in reason
    assert stored_at(source) == [("ana", "hotline-b", "confirmed")]


def test_record_and_list_over_grpc(source) -> None:
    with RemoteEngine(source.address, token=ADMIN_TOKEN) as admin:
        own = RemoteOpinions(admin).record_opinion(
            NewOpinion("shared", "e1", OpinionKind.FALSE_POSITIVE, "", hashes=picture_hashes())
        )
        assert own.author == "ops" and own.origin is None  # admin: the server's own opinion
        assert source.engine.lookup_file(ORIGINAL).matches == []  # excepted at once
        matching, _ = source.stubs()
        answer = matching.Lookup(
            pb.LookupRequest(content=ORIGINAL.read_bytes()), metadata=auth(ADMIN_TOKEN), timeout=60
        )
        assert list(answer.matches) == []  # a gRPC lookup too
        assert [(a.bank, a.external_id) for a in answer.set_aside] == [("shared", "e1")]
        remote = admin.lookup_file(ORIGINAL)  # and the client reads it back
        assert [(a.bank, a.external_id) for a in remote.set_aside] == [("shared", "e1")]
    with RemoteEngine(source.address, token=LOOKER_TOKEN) as looker:
        theirs = RemoteOpinions(looker).record_opinion(
            NewOpinion("shared", "e1", OpinionKind.CONFIRMED, "lena")
        )
        assert (theirs.author, theirs.origin) == ("lena", "looker")
        assert [o.author for o in RemoteOpinions(looker).list_opinions("shared")] == ["lena"]
        # no oracle of which external ids a bank holds: an unknown entry has no opinions
        assert RemoteOpinions(looker).list_opinions("shared", "no-such-entry") == []
        with pytest.raises(RemoteError, match="may not use bank 'nope'"):
            RemoteOpinions(looker).list_opinions("nope")
    with RemoteEngine(source.address, token=ADMIN_TOKEN) as admin:
        assert [o.author for o in RemoteOpinions(admin).list_opinions("shared")] == ["ops", "lena"]
    stub = pb_grpc.OpinionsStub(source.channel())
    with pytest.raises(grpc.RpcError) as refused:
        stub.RecordOpinion(
            pb.RecordOpinionRequest(opinion=pb.OpinionItem(bank="shared", external_id="e1",
                                                           kind="confirmed")),
            metadata=auth(FOLLOWER_TOKEN + "x"), timeout=10,
        )  # fmt: skip
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as bad:
        stub.RecordOpinion(
            pb.RecordOpinionRequest(opinion=pb.OpinionItem(bank="shared", external_id="e1",
                                                           kind="maybe")),
            metadata=auth(ADMIN_TOKEN), timeout=10,
        )  # fmt: skip
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("when", [math.nan, math.inf, -math.inf, 1e300, -5.0, "tomorrow+1"])
def test_a_partner_cannot_record_an_opinion_at_a_time_no_clock_shows(
    source, capsys: pytest.CaptureFixture[str], when: float | str
) -> None:
    """A lookup partner's ``created_at`` of NaN was an INTERNAL error, infinities and 1e300
    were stored: the admin's ``opinion list`` then died on the time, and a far-future opinion
    stays its author's latest for ever. Refused, with the field named; nothing stored."""
    created_at = time.time() + 2 * 86_400 if when == "tomorrow+1" else float(when)
    stub = pb_grpc.OpinionsStub(source.channel())
    item = pb.OpinionItem(bank="shared", external_id="e1", kind="confirmed", created_at=created_at)
    with pytest.raises(grpc.RpcError) as refused:
        stub.RecordOpinion(pb.RecordOpinionRequest(opinion=item), metadata=auth(LOOKER_TOKEN),
                           timeout=10)  # fmt: skip
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "created_at must be a unix time" in refused.value.details()
    answer = stub.SubmitOpinions(pb.SubmitOpinionsRequest(opinions=[item]),
                                 metadata=auth(ADMIN_TOKEN), timeout=10)  # fmt: skip
    assert answer.stored == 0 and [r.index for r in answer.rejected] == [0]
    assert "created_at must be a unix time" in answer.rejected[0].reason
    assert stored_at(source) == []
    assert main(["opinion", "list", "shared", "--server", source.address,
                 "--token", ADMIN_TOKEN]) == 0  # fmt: skip


def test_the_cli_against_a_server(source, capsys: pytest.CaptureFixture[str]) -> None:
    target = ["--server", source.address, "--token", ADMIN_TOKEN]
    code = main(["opinion", "add", "shared", "e1", "--kind", "disputed", "--note", "blurry",
                 *target])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("opinion 1: disputed on shared/e1 by ops"), err
    assert main(["opinion", "list", "shared", "--json", *target]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["kind"], listed["note"], listed["origin"]) == ("disputed", "blurry", None)
    code = main(["opinion", "remove", "shared", "e1", "--author", "carol", *target])
    assert code == 2 and capsys.readouterr().err.strip().splitlines()[-1] == (
        "hashcore: error: no opinion by carol on shared/e1 to withdraw"
    )
    assert main(["opinion", "remove", "shared", "e1", *target]) == 0  # ops's own disputed
    assert "withdrawn on shared/e1 by ops" in capsys.readouterr().out
    assert main(["opinion", "remove", "shared", "e1", *target]) == 2
    assert "no opinion by ops on shared/e1 to withdraw" in capsys.readouterr().err
    assert [o.kind.value for o in LocalOpinions(source.engine.store).list_opinions()] == [
        "disputed", "withdrawn",
    ]  # fmt: skip
    assert main(["opinion", "feedback", "shared", "--format", "ncmec", "--url",
                 "http://127.0.0.1:9", "--server", source.address]) == 2  # fmt: skip
    assert "not through a server" in capsys.readouterr().err


def test_feedback_offers_no_server_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feedback reads and marks the store's own outbox, so its help offers no server, token
    or TLS options, and a server named in the environment does not divert it."""
    with pytest.raises(SystemExit):
        main(["opinion", "feedback", "--help"])
    usage = capsys.readouterr().out
    assert "--store" in usage and "never through a server" in usage
    for option in ("--server", "--token-file", "--ca-cert", "--client-cert", "--insecure"):
        assert option not in usage
    with Engine(tmp_path / "s", registry()) as engine:
        engine.create_bank("b")
    monkeypatch.setenv("HASHCORE_SERVER", "127.0.0.1:9")
    code = main(["opinion", "feedback", "b", "--format", "ncmec", "--url", "http://127.0.0.1:9",
                 "--store", str(tmp_path / "s"), "--json"])  # fmt: skip
    assert code == 0 and json.loads(capsys.readouterr().out)["sent"] == 0


def test_the_follow_role() -> None:
    principal = Principal("b", {"shared": FOLLOW, "open": LOOKUP})
    assert principal.can("shared", FOLLOW) and not principal.can("shared", LOOKUP)
    assert principal.can("open", LOOKUP) and not principal.can("open", FOLLOW)
    assert not principal.can("shared", ADMIN)
    assert principal.lookup_scope([], ["shared", "open"]) == ["open"]
    admin = Principal("a", {"*": ADMIN})
    assert admin.can("any", FOLLOW) and admin.can("any", LOOKUP)
    everything = Principal("f", {"*": FOLLOW})  # follows every bank, looks up none
    assert not everything.sees_all and everything.lookup_scope([], ["shared"]) == []
    mixed = Principal("m", {"*": LOOKUP, "shared": FOLLOW})
    assert mixed.can("shared", LOOKUP) and mixed.can("shared", FOLLOW)


def test_the_config_takes_the_follow_role(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text('[[tokens]]\nname = "b"\ntoken = "t"\ngrants = { shared = "follow" }\n')
    config = load_config(path, env={})
    assert config.tokens[0].grants == {"shared": "follow"}
    path.write_text('[[tokens]]\nname = "b"\ntoken = "t"\ngrants = { shared = "reader" }\n')
    with pytest.raises(ConfigError, match="must be one of"):
        load_config(path, env={})
