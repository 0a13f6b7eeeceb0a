"""Every error code the server promises, and a server that survives garbage."""

from __future__ import annotations

import os
import random
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from server_support import content, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore_server.config import Limits


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__iter__") and not hasattr(result, "ListFields"):
            list(result)
    return info.value


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    fields = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        fields.update({v.field: v.description for v in bad.field_violations})
    return fields


def pdq_query(value: bytes) -> pb.LookupRequest:
    return pb.LookupRequest(signals=pb.SignalList(signals=[pb.Signal(type="pdq", value=value)]))


def test_invalid_argument_names_the_field(tmp_path):
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        error = rpc_error(matching.Lookup, pdq_query(b"\x01\x02\x03"), timeout=10)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "32 bytes" in error.details()
        assert list(field_violations(error)) == ["signals.signals[0].value"]
        unknown = pb.LookupRequest(
            signals=pb.SignalList(signals=[pb.Signal(type="nope", value=b"x")])
        )
        error = rpc_error(matching.Lookup, unknown, timeout=10)
        assert list(field_violations(error)) == ["signals.signals[0].type"]
        error = rpc_error(matching.Lookup, pb.LookupRequest(), timeout=10)
        assert list(field_violations(error)) == ["query"]
        bad_threshold = pdq_query(b"\0" * 32)
        bad_threshold.thresholds["pdq"] = -1
        error = rpc_error(matching.Lookup, bad_threshold, timeout=10)
        assert list(field_violations(error)) == ["thresholds[pdq]"]
        error = rpc_error(banks.CreateBank, pb.CreateBankRequest(name=""), timeout=10)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_content_errors_are_invalid_argument(tmp_path):
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        error = rpc_error(matching.Lookup, pb.LookupRequest(content=b""), timeout=10)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "content" in field_violations(error)
        # Truncated JPEG: MD5 still works, so the lookup runs and reports the PDQ failure.
        truncated = content()[:2000]
        reply = matching.Lookup(pb.LookupRequest(content=truncated), timeout=30)
        assert reply.errors and all("/tmp" not in e for e in reply.errors)


def test_not_found_and_already_exists(tmp_path):
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        error = rpc_error(banks.GetBank, pb.GetBankRequest(name="ghost"), timeout=10)
        assert error.code() is grpc.StatusCode.NOT_FOUND
        query = pdq_query(b"\0" * 32)
        query.banks.append("ghost")
        assert rpc_error(matching.Lookup, query, timeout=10).code() is grpc.StatusCode.NOT_FOUND
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        error = rpc_error(banks.CreateBank, pb.CreateBankRequest(name="b"), timeout=10)
        assert error.code() is grpc.StatusCode.ALREADY_EXISTS
        error = rpc_error(banks.GetEntry, pb.GetEntryRequest(bank="b", entry_id=99), timeout=10)
        assert error.code() is grpc.StatusCode.NOT_FOUND


def test_resource_exhausted_for_oversized_content_batch_and_message(tmp_path):
    limits = Limits(max_message_bytes=200_000, max_content_bytes=100_000, max_batch_queries=10)
    with running_server(tmp_path, limits=limits) as srv:
        matching, _ = srv.stubs()
        error = rpc_error(matching.Hash, pb.HashRequest(content=b"x" * 150_000), timeout=10)
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "content" in error.details()
        error = rpc_error(matching.Hash, pb.HashRequest(content=b"x" * 300_000), timeout=10)
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # over the message limit
        query = pb.Query(query_id="q", signals=pdq_query(b"\0" * 32).signals)
        batch = pb.LookupBatchRequest(queries=[query] * 11)
        error = rpc_error(matching.LookupBatch, iter([batch]), timeout=10)
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        # ...and the server is still serving.
        ok = pb.LookupBatchRequest(queries=[query] * 10)
        assert len(next(iter(matching.LookupBatch(iter([ok]), timeout=10))).results) == 10


def test_unavailable_while_loading(tmp_path):
    with running_server(tmp_path, with_engine=False) as srv:
        matching, banks = srv.stubs()
        error = rpc_error(matching.Lookup, pdq_query(b"\0" * 32), timeout=10)
        assert error.code() is grpc.StatusCode.UNAVAILABLE
        assert rpc_error(banks.ListBanks, pb.ListBanksRequest(), timeout=10).code() is (
            grpc.StatusCode.UNAVAILABLE
        )


def test_internal_error_carries_only_a_request_id(tmp_path, monkeypatch, caplog):
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()

        def broken():
            raise RuntimeError("secret path /var/lib/hashcore/x")

        monkeypatch.setattr(srv.engine, "list_banks", broken)
        error = rpc_error(banks.ListBanks, pb.ListBanksRequest(), timeout=10)
        assert error.code() is grpc.StatusCode.INTERNAL
        assert "secret" not in error.details() and "Traceback" not in error.details()
        request_id = error.details().split("request id ")[1].split(")")[0]
        assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)
        monkeypatch.undo()
        assert banks.ListBanks(pb.ListBanksRequest(), timeout=10).banks == []


def test_deadline_stops_a_long_batch(tmp_path, monkeypatch):
    with running_server(tmp_path) as srv:
        matching, _ = srv.stubs()
        calls = []
        real = srv.server.state.hash_content

        def slow(*args, **kwargs):
            calls.append(1)
            time.sleep(0.02)
            return real(*args, **kwargs)

        monkeypatch.setattr(srv.server.state, "hash_content", slow)
        query = pb.Query(query_id="q", content=b"not an image, hashed by md5 only")
        batch = pb.LookupBatchRequest(queries=[query] * 500)
        error = rpc_error(matching.LookupBatch, iter([batch]), timeout=0.3)
        assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        time.sleep(0.5)  # the server checks the deadline before every query
        assert len(calls) < 100


def test_server_survives_garbage(tmp_path):
    rng = random.Random(7)
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        for size in (1, 17, 1000, 100_000):
            junk = rng.randbytes(size)
            hashed = matching.Hash(pb.HashRequest(content=junk), timeout=30)
            assert hashed.kind == "file" and [s.type for s in hashed.signals] == ["md5"]
            matching.Lookup(pb.LookupRequest(content=junk), timeout=30)
        for value in (b"", b"\x00", os.urandom(31), os.urandom(33), os.urandom(4096)):
            for family in ("pdq", "phash", "md5", "tmk_pdqf"):
                request = pb.LookupRequest(
                    signals=pb.SignalList(signals=[pb.Signal(type=family, value=value)])
                )
                try:
                    matching.Lookup(request, timeout=10)
                except grpc.RpcError as error:
                    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
        # Raw bytes that are not a protobuf message at all.
        raw = srv.channel().unary_unary("/hashcore.api.v1.Matching/Lookup")
        with pytest.raises(grpc.RpcError) as info:
            raw(rng.randbytes(64), timeout=10)
        assert info.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
        error = rpc_error(
            banks.AddSignals,
            pb.AddSignalsRequest(bank="b", entries=[pb.NewEntry(signals=[pb.Signal(type="pdq")])]),
            timeout=10,
        )
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert matching.Hash(pb.HashRequest(content=content()), timeout=30).signals
