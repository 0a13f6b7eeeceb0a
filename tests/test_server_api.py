"""Every RPC through a real server, real store and real generated stubs."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from media_data import media
from server_support import FLIPPED, ORIGINAL, ROTATED, content, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore_server.config import Limits


def test_hash_returns_every_family_as_bytes(tmp_path):
    with running_server(tmp_path) as srv:
        matching, _ = srv.stubs()
        reply = matching.Hash(pb.HashRequest(content=content()), timeout=30)
        assert reply.kind == "image"
        by_type = {s.type: s for s in reply.signals}
        assert {"pdq", "phash", "md5"} <= set(by_type)
        assert len(by_type["pdq"].value) == 32 and by_type["pdq"].HasField("quality")
        assert by_type["md5"].value.hex() == hashlib.md5(content()).hexdigest()
        variants = matching.Hash(pb.HashRequest(content=content(), variants=True), timeout=30)
        assert len([s for s in variants.signals if s.type == "pdq"]) == 8 + 7  # dihedral, crops


def test_add_content_then_rotated_content_matches(tmp_path):
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="known", labels=["csam"]), timeout=10)
        entry = banks.AddContent(
            pb.AddContentRequest(bank="known", content=content(), labels=["a"], external_id="x1"),
            timeout=30,
        )
        assert entry.external_id == "x1" and entry.bank == "known"
        assert "content" not in entry.source and "/tmp" not in entry.source
        reply = matching.Lookup(pb.LookupRequest(content=content(ROTATED)), timeout=30)
        assert [m.external_id for m in reply.matches] == ["x1"]
        pdq = [h for h in reply.matches[0].signals if h.type == "pdq"]
        assert pdq and pdq[0].variant and pdq[0].distance <= 31


def test_lookup_hash_only_with_thresholds_and_bank_filter(tmp_path):
    # Anonymous callers on loopback are admins; this server lets admins loosen pdq all the way.
    with running_server(tmp_path, admin_threshold_bounds={"pdq": 256}) as srv:
        matching, banks = srv.stubs()
        for name in ("one", "two"):
            banks.CreateBank(pb.CreateBankRequest(name=name), timeout=10)
        hashed = matching.Hash(pb.HashRequest(content=content(ORIGINAL)), timeout=30)
        pdq = [s for s in hashed.signals if s.type == "pdq"]
        banks.AddSignals(
            pb.AddSignalsRequest(bank="one", entries=[pb.NewEntry(signals=pdq, external_id="e")]),
            timeout=10,
        )
        flipped = matching.Hash(pb.HashRequest(content=content(FLIPPED)), timeout=30)
        query = pb.SignalList(signals=[s for s in flipped.signals if s.type == "pdq"])
        # The plain hash of a flipped copy is far away: no match at the default threshold...
        assert not matching.Lookup(pb.LookupRequest(signals=query), timeout=10).matches
        # ...but a loose per-request threshold finds it, and the bank filter still applies.
        loose = pb.LookupRequest(signals=query, thresholds={"pdq": 256})
        assert [m.bank for m in matching.Lookup(loose, timeout=10).matches] == ["one"]
        loose.banks.append("two")
        assert not matching.Lookup(loose, timeout=10).matches


def test_lookup_batch_answers_by_query_id(tmp_path):
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        known = bytes(range(32))
        banks.AddSignals(
            pb.AddSignalsRequest(
                bank="b",
                entries=[
                    pb.NewEntry(signals=[pb.Signal(type="pdq", value=known)], external_id="k")
                ],
            ),
            timeout=10,
        )
        rng = random.Random(1)
        queries = [
            pb.Query(
                query_id=f"q{i}",
                signals=pb.SignalList(signals=[pb.Signal(type="pdq", value=rng.randbytes(32))]),
            )
            for i in range(300)
        ]
        queries[7] = pb.Query(
            query_id="hit", signals=pb.SignalList(signals=[pb.Signal(type="pdq", value=known)])
        )
        queries[9] = pb.Query(
            query_id="bad", signals=pb.SignalList(signals=[pb.Signal(type="pdq", value=b"xx")])
        )
        requests = [
            pb.LookupBatchRequest(queries=queries),
            pb.LookupBatchRequest(queries=queries[:5]),
        ]
        replies = list(matching.LookupBatch(iter(requests), timeout=30))
        assert [len(r.results) for r in replies] == [300, 5]
        answers = {a.query_id: a for a in replies[0].results}
        assert [m.external_id for m in answers["hit"].result.matches] == ["k"]
        assert answers["bad"].error.code == "INVALID_ARGUMENT"
        assert answers["bad"].error.field == "queries[9].signals.signals[0].value"
        assert not answers["q0"].result.matches


def test_bank_admin_rpcs(tmp_path):
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        created = banks.CreateBank(
            pb.CreateBankRequest(name="b", labels=["l"], source="analysts", thresholds={"pdq": 20}),
            timeout=10,
        )
        assert created.enabled and dict(created.thresholds) == {"pdq": 20}
        added = banks.AddSignals(
            pb.AddSignalsRequest(
                bank="b",
                entries=[
                    pb.NewEntry(
                        signals=[pb.Signal(type="pdq", value=bytes([i]) * 32)], external_id=f"e{i}"
                    )
                    for i in range(3)
                ],
            ),
            timeout=10,
        )
        ids = [e.id for e in added.entries]
        info = banks.GetBank(pb.GetBankRequest(name="b"), timeout=10)
        assert info.entries == 3 and info.signals_per_family["pdq"] == 3
        assert [b.bank.name for b in banks.ListBanks(pb.ListBanksRequest(), timeout=10).banks] == [
            "b"
        ]
        entry = banks.GetEntry(pb.GetEntryRequest(bank="b", entry_id=ids[0]), timeout=10)
        assert entry.signals[0].value == bytes([0]) * 32
        withdrawn = banks.SetEntryStatus(
            pb.SetEntryStatusRequest(bank="b", entry_id=ids[0], status="withdrawn"), timeout=10
        )
        assert withdrawn.status == "withdrawn"
        removed = banks.RemoveEntries(
            pb.RemoveEntriesRequest(bank="b", entry_ids=[ids[1]]), timeout=10
        )
        assert removed.removed == 1
        assert banks.GetBank(pb.GetBankRequest(name="b"), timeout=10).entries == 1
        banks.Compact(pb.CompactRequest(), timeout=60)
        query = pb.LookupRequest(
            signals=pb.SignalList(signals=[pb.Signal(type="pdq", value=bytes([2]) * 32)])
        )
        assert len(matching.Lookup(query, timeout=10).matches) == 1
        disabled = banks.SetBankEnabled(
            pb.SetBankEnabledRequest(name="b", enabled=False), timeout=10
        )
        assert not disabled.enabled
        assert not matching.Lookup(query, timeout=10).matches


def test_watch_matches_sees_a_lookup_that_matched(tmp_path):
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b", labels=["ncii"]), timeout=10)
        banks.AddContent(
            pb.AddContentRequest(bank="b", content=content(), labels=["x"]), timeout=30
        )
        stream = matching.WatchMatches(pb.WatchMatchesRequest(), timeout=30)
        stream.initial_metadata()  # the subscription is live
        events = []
        reader = threading.Thread(target=lambda: events.append(next(stream)))
        reader.start()
        matching.Lookup(pb.LookupRequest(content=content(ROTATED)), timeout=30)
        reader.join(10)
        stream.cancel()
        assert len(events) == 1
        event = events[0]
        assert event.bank == "b" and "pdq" in event.families and list(event.labels) == ["x"]
        assert event.caller == "anonymous" and event.request_id and event.time.seconds > 0


def test_no_match_event_is_built_while_nobody_watches(tmp_path, monkeypatch):
    """Events are for ``WatchMatches`` subscribers: with none, a matching lookup builds none
    (each cost ~20 us a match); the test above shows a watcher still gets them."""
    built = []
    real = pb.MatchEvent
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()  # before the patch: stubs and services read its serializer
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        banks.AddContent(pb.AddContentRequest(bank="b", content=content()), timeout=30)
        monkeypatch.setattr(pb, "MatchEvent", lambda **kw: built.append(kw) or real(**kw))
        reply = matching.Lookup(pb.LookupRequest(content=content(ROTATED)), timeout=30)
        assert [m.bank for m in reply.matches] == ["b"]
        assert built == []


def test_every_match_is_audited_without_content(tmp_path):
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        banks.AddContent(pb.AddContentRequest(bank="b", content=content()), timeout=30)
        matching.Lookup(pb.LookupRequest(content=content(ROTATED)), timeout=30)
        miss = pb.SignalList(signals=[pb.Signal(type="pdq", value=b"\x55" * 32)])
        matching.Lookup(pb.LookupRequest(signals=miss), timeout=30)
        db = sqlite3.connect(srv.store / "audit.sqlite")
        try:
            rows = db.execute(
                "SELECT caller, method, bank, families, hashes, request_id FROM audit"
            ).fetchall()
            assert len(rows) == 1  # the miss left no trace
            caller, method, bank, families, hashes, request_id = rows[0]
            assert (caller, method, bank) == ("anonymous", "Lookup", "b")
            assert len(request_id) == 16
            assert "pdq" in json.loads(families)
            recorded = json.loads(hashes)
            assert any(key.startswith("pdq") for key in recorded)
            assert all(len(v) <= 71 for v in recorded.values())  # hashes, never content
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute("DELETE FROM audit")
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute("UPDATE audit SET caller = 'x'")
        finally:
            db.close()


def test_health_and_reflection(tmp_path):
    with running_server(tmp_path) as srv:
        channel = srv.channel()
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "hashcore.api.v1.Matching", "hashcore.api.v1.Banks"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for r in replies for s in r.list_services_response.service}
        assert {
            "hashcore.api.v1.Matching",
            "hashcore.api.v1.Banks",
            "grpc.health.v1.Health",
        } <= names


def test_unknown_method_is_unimplemented(tmp_path):
    with running_server(tmp_path) as srv:
        call = srv.channel().unary_unary("/hashcore.api.v1.Matching/Nope")
        with pytest.raises(grpc.RpcError) as info:
            call(b"", timeout=5)
        assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_import_updates_applies_a_partner_feed(tmp_path):
    feed = media("partner-samples/stopncii_fetch.json")
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        reply = banks.ImportUpdates(
            pb.ImportUpdatesRequest(bank="stopncii", data=feed.read_bytes(), format="stopncii"),
            timeout=60,
        )
        assert reply.added > 0
        info = banks.GetBank(pb.GetBankRequest(name="stopncii"), timeout=10)
        assert info.entries > 0
        again = banks.ImportUpdates(
            pb.ImportUpdatesRequest(bank="stopncii", data=feed.read_bytes(), format="stopncii"),
            timeout=60,
        )
        assert again.added == 0
        with pytest.raises(grpc.RpcError) as error:
            banks.ImportUpdates(
                pb.ImportUpdatesRequest(bank="x", data=b"{}", format="nope"), timeout=10
            )
        assert error.value.code() is grpc.StatusCode.NOT_FOUND


def test_content_is_spooled_where_configured_and_removed(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    seen = []
    # Hashed in the call's thread, where the spy sees the spooled file (the same spool serves
    # the hashing processes: hash_content writes it before either hashes).
    with running_server(tmp_path, spool_dir=spool, limits=Limits(hash_processes=0)) as srv:
        real = srv.server.state.registry.applicable

        def spy(kind):
            seen.extend(p.name for p in spool.iterdir())
            return real(kind)

        srv.server.state.registry.applicable = spy
        try:
            matching, _ = srv.stubs()
            matching.Hash(pb.HashRequest(content=content()), timeout=30)
        finally:
            del srv.server.state.registry.applicable
    assert seen and seen[0].startswith("hashcore-")
    assert list(spool.iterdir()) == []
