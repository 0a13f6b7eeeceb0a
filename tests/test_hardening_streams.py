"""Issue 11, finding 7: one partner's idle streams cannot take every stream slot."""

from __future__ import annotations

import grpc
import pytest
from server_support import ALICE_TOKEN, BOB_TOKEN, TOKENS, auth, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore_server.config import ConfigError, Limits, ServerConfig

QUERY = pb.LookupBatchRequest(
    queries=[
        pb.Query(
            query_id="q",
            signals=pb.SignalList(signals=[pb.Signal(type="pdq", value=b"\x00" * 32)]),
        )
    ]
)


def open_watch(matching, token: str):
    """A WatchMatches stream; True once the server holds it open, else its refusal."""
    call = matching.WatchMatches(pb.WatchMatchesRequest(), metadata=auth(token), timeout=60)
    live = any(key == "x-request-id" for key, _ in call.initial_metadata())
    return call, live


def test_one_partner_cannot_exhaust_the_stream_pool(tmp_path):
    limits = Limits(max_streams=4)  # two per token by default
    with running_server(tmp_path, tokens=TOKENS, limits=limits) as srv:
        matching, _ = srv.stubs()
        watches = [open_watch(matching, ALICE_TOKEN) for _ in range(4)]
        try:
            assert [live for _, live in watches] == [True, True, False, False]
            for call, _ in watches[2:]:
                assert call.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "'alice'" in call.details() and "per caller" in call.details()
            # Partner B still gets a stream while A holds its share.
            answers = list(
                matching.LookupBatch(iter([QUERY]), metadata=auth(BOB_TOKEN), timeout=30)
            )
            assert [r.query_id for r in answers[0].results] == ["q"]
            # A's slots come back when its streams end.
            watches[0][0].cancel()
            for _ in range(50):
                call, live = open_watch(matching, ALICE_TOKEN)
                if live:
                    watches.append((call, live))
                    break
                call.cancel()
            else:
                pytest.fail("a cancelled stream's slot was never released")
        finally:
            for call, _ in watches:
                call.cancel()


def test_global_limit_still_applies_across_partners(tmp_path):
    limits = Limits(max_streams=2, max_streams_per_principal=2)
    with running_server(tmp_path, tokens=TOKENS, limits=limits) as srv:
        matching, _ = srv.stubs()
        watches = [open_watch(matching, token) for token in (ALICE_TOKEN, BOB_TOKEN, BOB_TOKEN)]
        try:
            assert [live for _, live in watches] == [True, True, False]
            assert watches[2][0].code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            for call, _ in watches:
                call.cancel()


def test_stream_quota_config():
    assert Limits().streams_per_principal == 16
    assert Limits(max_streams=1).streams_per_principal == 1
    assert Limits(max_streams_per_principal=3).streams_per_principal == 3
    with pytest.raises(ConfigError, match="max_streams_per_principal"):
        ServerConfig(limits=Limits(max_streams_per_principal=0)).validate()
