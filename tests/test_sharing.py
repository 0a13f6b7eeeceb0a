"""Live bank sharing end to end: two real servers with real stores and tokens on 127.0.0.1.

A publishes bank ``shared`` to B's token (role ``follow``); B follows it through a
``[[follow]]`` table. Adds, label updates, withdrawals and deletions at A reach B's lookups in
order; B restarted resumes from its checkpoint with nothing replayed or lost; a token without
the grant gets nothing; a false positive recorded at B stops B matching that content and
reaches A through B's follow connection.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_support import ADMIN_TOKEN, Running, auth, running_server
from sharing_support import (
    FOLLOWER_TOKEN,
    LOOKUP_TOKEN,
    PUBLISHER_TOKENS,
    SHARED,
    lookup,
    md5,
    token_file,
    wait_for,
)

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.engine import Engine
from hashcore.model import EntryStatus
from hashcore.opinions.api import LocalOpinions
from hashcore.opinions.model import NewOpinion, OpinionKind
from hashcore.sharing import Follower, FollowRefused, FollowSource
from hashcore_server.config import TokenGrant, hash_token, load_config

LOCAL = "from-a"


@contextlib.contextmanager
def publisher(tmp_path: Path, *entries: str) -> Iterator[tuple[Running, Engine]]:
    """Server A with bank ``shared`` holding an entry ``A-<name>`` per name of ``entries``."""
    with running_server(tmp_path / "a", tokens=PUBLISHER_TOKENS) as a:
        assert a.engine is not None
        a.engine.create_bank(SHARED)
        for name in entries:
            a.engine.add_entry(SHARED, [md5(name)], external_id=f"A-{name}")
        yield a, a.engine


def start_b(tmp_path: Path, a: Running) -> contextlib.AbstractContextManager[Running]:
    """Server B, following A's bank through a ``[[follow]]`` table of a real config file."""
    token_file(tmp_path, FOLLOWER_TOKEN)
    config = tmp_path / "b.toml"
    config.write_text(
        f"""
[[follow]]
local_bank = "{LOCAL}"
from = "{a.address}"
remote_bank = "{SHARED}"
token_file = "partner.token"
name = "hotline-a"
"""
    )
    return running_server(tmp_path / "b", follow=load_config(config, env={}).follow)


def matched(b: Running, name: str) -> bool:
    return bool(lookup(b, name))


def test_changes_at_a_reach_b_lookups_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    with publisher(tmp_path, "two") as (a, engine):
        first = engine.add_entry(SHARED, [md5("one")], external_id="A-1", labels=["csam"])
        (tmp_path / "b").mkdir()
        with start_b(tmp_path, a) as b:
            assert b.engine is not None
            b.engine.create_bank(LOCAL)
            wait_for(lambda: matched(b, "one") and matched(b, "two"), "B to get A's entries")
            (match,) = lookup(b, "one")
            assert match.external_id == "A-1" and list(match.labels) == ["csam"]
            assert match.origin.partner == "hotline-a" and match.origin.remote_bank == SHARED
            assert match.origin.checkpoint and match.origin.received_at.seconds > 0

            # a label update, then a withdrawal, then a deletion, then a new entry
            with engine.batch() as writer:
                writer.upsert_entry(SHARED, "A-1", [md5("one")], labels=["csam", "known"])
            wait_for(lambda: list(lookup(b, "one")[0].labels) == ["csam", "known"], "labels")
            engine.set_entry_status(SHARED, first.id, EntryStatus.WITHDRAWN)
            wait_for(lambda: not matched(b, "one"), "the withdrawal to stop B matching")
            two = engine.store.find_entry(SHARED, "A-two")
            engine.remove_entries(SHARED, [two.id])
            wait_for(lambda: not matched(b, "two"), "the deletion to stop B matching")
            assert b.engine.store.find_entry(LOCAL, "A-two").status is EntryStatus.DELETED
            engine.add_entry(SHARED, [md5("three")], external_id="A-3")
            wait_for(lambda: matched(b, "three"), "a new entry")

            # B's analyst finds "three" a false positive: B stops matching it, A hears of it
            LocalOpinions(b.engine.store).record_opinion(
                NewOpinion(LOCAL, "A-3", OpinionKind.FALSE_POSITIVE, "analyst-b", note="a meme",
                           hashes=(md5("three"),))
            )  # fmt: skip
            assert not matched(b, "three")
            at_a = LocalOpinions(engine.store)
            wait_for(lambda: bool(at_a.list_opinions(SHARED, "A-3")), "A to get B's opinion", 30)
            (heard,) = at_a.list_opinions(SHARED, "A-3")
            assert (heard.kind, heard.author, heard.origin, heard.note) == (
                OpinionKind.FALSE_POSITIVE, "analyst-b", "hotline-b", "a meme"
            )  # fmt: skip
            assert [s.value for s in heard.hashes] == [md5("three").value]
            assert engine.lookup_signals([md5("three")]).matches  # A's data is A's to judge
            (sent,) = LocalOpinions(b.engine.store).list_opinions(LOCAL, "A-3")
            assert sent.sent_to == f"follow:{a.address}/{SHARED}"
            (follower,) = b.server.followers.followers
            assert follower.total.entries == 6  # 2 + label + withdrawal + deletion + new
            health = health_pb2_grpc.HealthStub(b.channel())
            check = health_pb2.HealthCheckRequest(service="hashcore.follow/" + LOCAL)
            serving = health_pb2.HealthCheckResponse.SERVING
            wait_for(lambda: health.Check(check, timeout=5).status == serving, "health")
            # the publisher records how far B has read (admins of the bank see it)
            _, banks = a.stubs()
            wait_for(
                lambda: bool(
                    banks.GetBank(
                        pb.GetBankRequest(name=SHARED), metadata=auth(ADMIN_TOKEN)
                    ).followers
                ),
                "A to record B's position",
            )

        # B is down: A changes; B starts again and gets exactly what it missed
        engine.add_entry(SHARED, [md5("four")], external_id="A-4")
        with start_b(tmp_path, a) as b:
            wait_for(lambda: matched(b, "four"), "B to resume after its restart")
            assert not any(matched(b, name) for name in ("one", "two"))
            assert b.engine is not None and b.engine.store.find_entry(LOCAL, "A-3").status is (
                EntryStatus.ACTIVE
            )
            assert not matched(b, "three")  # B's false positive still excepts it
            (follower,) = b.server.followers.followers
            wait_for(lambda: follower.total.entries >= 1, "the resumed stream")
            assert follower.total.entries == 1  # nothing replayed
        # A recorded how far B read (written every few seconds and when the stream ends)
        wait_for(
            lambda: (
                [(f.partner, f.checkpoint) for f in engine.get_bank(SHARED).followers]
                == [("hotline-b", follower.total.checkpoint)]
            ),
            "A to record B's last position",
        )


def test_a_token_without_the_follow_grant_gets_nothing(tmp_path: Path) -> None:
    with publisher(tmp_path, "secret") as (a, _):
        sharing = pb_grpc.SharingStub(a.channel())
        received: list[pb.FollowBankResponse] = []
        request = pb.FollowBankRequest(bank=SHARED, until_caught_up=True)
        with pytest.raises(grpc.RpcError) as denied:
            received.extend(sharing.FollowBank(request, metadata=auth(LOOKUP_TOKEN), timeout=10))
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert received == []
        bad = pb.FollowBankRequest(bank=SHARED, heartbeat_seconds=float("nan"))
        with pytest.raises(grpc.RpcError) as invalid:
            list(sharing.FollowBank(bad, metadata=auth(FOLLOWER_TOKEN), timeout=10))
        assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        # and the follow grant does not give lookups
        matching, _ = a.stubs()
        with pytest.raises(grpc.RpcError) as refused:
            matching.Lookup(
                pb.LookupRequest(
                    signals=pb.SignalList(signals=[pb.Signal(type="md5", value=md5("x").value)]),
                    banks=[SHARED],
                ),
                metadata=auth(FOLLOWER_TOKEN),
                timeout=10,
            )
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        # the follower library reports the refusal at once, its bank untouched
        with running_server(tmp_path / "b") as b:
            assert b.engine is not None
            b.engine.create_bank(LOCAL)
            source = FollowSource(a.address, SHARED, LOOKUP_TOKEN)
            with pytest.raises(FollowRefused, match="follow"):
                Follower(b.engine, LOCAL, source).pull()
            assert b.engine.get_bank(LOCAL).entries == 0


def test_follow_stream_pushes_heartbeats_and_new_changes(tmp_path: Path) -> None:
    with publisher(tmp_path, "one") as (a, engine):
        sharing = pb_grpc.SharingStub(a.channel())
        stream = sharing.FollowBank(
            pb.FollowBankRequest(bank=SHARED, heartbeat_seconds=0.1),
            metadata=auth(FOLLOWER_TOKEN),
        )
        first = next(stream)
        assert [s.external_id for s in first.entries] == ["A-one"] and first.caught_up
        heartbeat = next(stream)
        assert not heartbeat.entries and heartbeat.checkpoint == first.checkpoint
        threading.Timer(0.2, lambda: engine.add_entry(SHARED, [md5("two")])).start()
        while not (update := next(stream)).entries:
            pass
        assert update.entries[0].entry.signals[0].value == md5("two").value
        assert update.checkpoint != first.checkpoint
        # a row removed at the source (outside hashcore) goes out as a removal
        conn = sqlite3.connect(a.store / "hashcore.sqlite3")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM entries WHERE external_id = 'A-one'")
        conn.commit()
        conn.close()
        while not (removal := next(stream)).entries:
            pass
        assert [(s.external_id, s.removed) for s in removal.entries] == [("A-one", True)]
        stream.cancel()
        # a follower that gives back the first checkpoint gets only what came after it
        again = sharing.FollowBank(
            pb.FollowBankRequest(bank=SHARED, after=first.checkpoint, until_caught_up=True),
            metadata=auth(FOLLOWER_TOKEN),
            timeout=10,
        )
        sent = [(s.removed, s.external_id) for u in again for s in u.entries]
        assert sent == [(False, update.entries[0].external_id), (True, "A-one")]


def test_only_the_banks_admins_see_its_followers_in_list_banks_as_in_get_bank(
    tmp_path: Path,
) -> None:
    bank_admin = "shared-admin-token"
    tokens = (
        *PUBLISHER_TOKENS,
        TokenGrant("shared-admin", hash_token(bank_admin), {SHARED: "admin"}),
    )
    with running_server(tmp_path, tokens=tokens) as a:
        assert a.engine is not None
        a.engine.create_bank(SHARED)
        with a.engine.store.transaction() as writer:
            writer.record_follower(SHARED, "hotline-b", f"{a.engine.store.store_id}:0")
        _, banks = a.stubs()

        def followers(token: str) -> tuple[list[str], list[str]]:
            listed = banks.ListBanks(pb.ListBanksRequest(), metadata=auth(token), timeout=10)
            (info,) = [b for b in listed.banks if b.bank.name == SHARED]
            got = banks.GetBank(pb.GetBankRequest(name=SHARED), metadata=auth(token), timeout=10)
            return [f.partner for f in info.followers], [f.partner for f in got.followers]

        assert followers(LOOKUP_TOKEN) == ([], [])
        assert followers(FOLLOWER_TOKEN) == ([], [])
        assert followers(bank_admin) == (["hotline-b"], ["hotline-b"])
        assert followers(ADMIN_TOKEN) == (["hotline-b"], ["hotline-b"])


def test_the_publisher_records_the_last_page_of_a_catch_up_without_a_new_change(
    tmp_path: Path,
) -> None:
    """A follower reconnecting behind a backlog read it in pages, all sent within the write
    throttle: A kept showing the position it reconnected from until a live change came."""
    with publisher(tmp_path, "first") as (a, engine):
        sharing = pb_grpc.SharingStub(a.channel())
        request = pb.FollowBankRequest(bank=SHARED, until_caught_up=True)
        *_, start = sharing.FollowBank(request, metadata=auth(FOLLOWER_TOKEN), timeout=10)
        with engine.batch() as writer:  # the backlog: three pages of log rows
            for number in range(1200):
                writer.add_entry(SHARED, [md5(f"backlog-{number}")], external_id=f"B-{number}")
        stream = sharing.FollowBank(
            pb.FollowBankRequest(bank=SHARED, after=start.checkpoint),
            metadata=auth(FOLLOWER_TOKEN),
            timeout=60,
        )
        updates = []
        while not updates or not updates[-1].caught_up:
            updates.append(next(stream))
        assert sum(len(u.entries) for u in updates) == 1200 and len(updates) >= 3
        last = updates[-1].checkpoint

        def recorded() -> list[tuple[str, str]]:
            return [(f.partner, f.checkpoint) for f in engine.get_bank(SHARED).followers]

        wait_for(lambda: recorded() == [("hotline-b", last)], "A to record the last page", 10)
        stream.cancel()
