"""Every error code the server promises, and a server that survives garbage."""

from __future__ import annotations

import contextlib
import logging
import random
import subprocess
import sys
import threading
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from server_support import content, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore_server.config import Limits

VALID_LENGTHS = {"pdq": 32, "phash": 8, "md5": 16}
"""Bytes of a well-formed value per fixed-size family (``tmk_pdqf`` values are .tmk features)."""


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
    """No query of a batch starts once its deadline has passed (the check before each query).

    Query ``STALL`` blocks until the client has seen DEADLINE_EXCEEDED and the server itself
    reports the call's deadline as passed; the batch then must stop before the next query. The
    test waits for the server to leave the stream (its stream slot closes), not for a clock.
    """
    stall, queries = 2, 50
    with running_server(tmp_path) as srv:
        matching, _ = srv.stubs()
        state = srv.server.state
        calls: list[object] = []
        seen: list[object] = []  # the server-side Call of the batch, captured at its cpu slot
        hashed_before_expiry: list[int] = []
        client_gave_up = threading.Event()
        server_done = threading.Event()
        real_hash, real_cpu_slot, real_stream_slot = (
            state.hash_content,
            state.cpu_slot,
            state.stream_slot,
        )

        @contextlib.contextmanager
        def cpu_slot(call, *args, **kwargs):
            seen.append(call)
            with real_cpu_slot(call, *args, **kwargs):
                yield

        @contextlib.contextmanager
        def stream_slot(*args, **kwargs):
            try:
                with real_stream_slot(*args, **kwargs):
                    yield
            finally:
                server_done.set()

        def deadline_passed(context) -> bool:
            remaining = context.time_remaining()
            return not context.is_active() or (remaining is not None and remaining <= 0)

        def stalling(*args, **kwargs):
            calls.append(1)
            if len(calls) == stall + 1:
                assert client_gave_up.wait(30), "the client never saw its deadline pass"
                context = seen[-1].context
                for _ in range(3000):  # the server learns of the deadline a moment later
                    if deadline_passed(context):
                        break
                    time.sleep(0.01)
                hashed_before_expiry.append(len(calls))
            return real_hash(*args, **kwargs)

        monkeypatch.setattr(state, "hash_content", stalling)
        monkeypatch.setattr(state, "cpu_slot", cpu_slot)
        monkeypatch.setattr(state, "stream_slot", stream_slot)
        query = pb.Query(query_id="q", content=b"not an image, hashed by md5 only")
        batch = pb.LookupBatchRequest(queries=[query] * queries)
        error = rpc_error(matching.LookupBatch, iter([batch]), timeout=1.0)
        assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        client_gave_up.set()
        assert server_done.wait(60), "the server never finished the batch"
        assert hashed_before_expiry == [stall + 1], "the stalling query was never reached"
        assert deadline_passed(seen[-1].context)
        assert len(calls) - hashed_before_expiry[0] == 0, (
            f"{len(calls) - hashed_before_expiry[0]} queries were hashed after the deadline"
        )


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
        # Every length around the valid ones: only a family's own length is well-formed (no
        # random bytes make a .tmk feature); everything else is refused, naming the field.
        values = [rng.randbytes(size) for size in (0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 4096)]
        values.append(b"TMK1" + rng.randbytes(200))
        for value in values:
            for family in ("pdq", "phash", "md5", "tmk_pdqf"):
                request = pb.LookupRequest(
                    signals=pb.SignalList(signals=[pb.Signal(type=family, value=value)])
                )
                if len(value) == VALID_LENGTHS.get(family):
                    assert not matching.Lookup(request, timeout=10).matches
                    continue
                what = f"{family} value of {len(value)} bytes"
                try:
                    matching.Lookup(request, timeout=10)
                except grpc.RpcError as error:
                    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (what, error.details())
                    assert list(field_violations(error)) == ["signals.signals[0].value"], what
                else:
                    pytest.fail(f"the server accepted a malformed {what}")
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


MD5_QUERY = pb.Query(
    query_id="q", signals=pb.SignalList(signals=[pb.Signal(type="md5", value=b"\0" * 16)])
)
CLIENT_GOES_AWAY = """
import sys, threading, grpc
from hashcore.api.v1 import hashcore_pb2 as pb, hashcore_pb2_grpc as pb_grpc
signal = pb.Signal(type="md5", value=bytes(16))
query = pb.Query(query_id="q", signals=pb.SignalList(signals=[signal]))
def requests():
    yield pb.LookupBatchRequest(queries=[query])
    threading.Event().wait()  # the stream stays open until this process is killed
stream = pb_grpc.MatchingStub(grpc.insecure_channel(sys.argv[1])).LookupBatch(requests())
next(stream)
print("answered", flush=True)
threading.Event().wait()
"""


def rpcs(srv, code: str) -> float:
    labels = {"method": "LookupBatch", "code": code}
    return srv.server.metrics.registry.get_sample_value("hashcore_rpcs_total", labels) or 0.0


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def batch_contexts(monkeypatch):
    """The contexts of LookupBatch calls, recorded as each answers a message."""
    from hashcore_server.matching import MatchingServicer

    contexts: list[grpc.ServicerContext] = []
    run_batch = MatchingServicer._run_batch

    def recording(self, queries, thresholds, scope, loosen, call):
        contexts.append(call.context)
        return run_batch(self, queries, thresholds, scope, loosen, call)

    monkeypatch.setattr(MatchingServicer, "_run_batch", recording)
    return contexts


def read_on_once_ended(monkeypatch, contexts) -> None:
    """LookupBatch asks gRPC for its next message only once the call has ended, so gRPC's
    request iterator raises (the server reading on just as the client vanished); left to
    chance, it may end the stream as if the client had finished sending."""
    from hashcore_server import calls

    checked_stream = calls.checked_stream

    def held(requests):
        stream = checked_stream(requests)
        yield next(stream)
        wait_for(lambda: not contexts[-1].is_active(), "the call to end")
        yield from stream

    monkeypatch.setattr(calls, "checked_stream", held)


def open_batch(srv) -> tuple[grpc.Future, threading.Event]:
    """A LookupBatch answered once and left open, the client holding its next message."""
    matching, _ = srv.stubs()
    release = threading.Event()

    def requests():
        yield pb.LookupBatchRequest(queries=[MD5_QUERY])
        release.wait(30)

    stream = matching.LookupBatch(requests(), timeout=60)
    assert [r.query_id for r in next(stream).results] == ["q"]
    return stream, release


def assert_cancelled_quietly(srv, caplog) -> None:
    wait_for(lambda: rpcs(srv, "CANCELLED") + rpcs(srv, "OK") + rpcs(srv, "INTERNAL"), "a count")
    assert (rpcs(srv, "CANCELLED"), rpcs(srv, "OK"), rpcs(srv, "INTERNAL")) == (1, 0, 0)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("CANCELLED" in r.getMessage() and not r.exc_info for r in caplog.records)


@pytest.fixture
def ending_server(tmp_path, monkeypatch, caplog, batch_contexts):
    """A server whose LookupBatch reads its next message only once the call has ended (the
    order gRPC otherwise leaves to timing), logging at INFO."""
    caplog.set_level(logging.INFO)
    read_on_once_ended(monkeypatch, batch_contexts)
    with running_server(tmp_path) as srv:
        yield srv


def test_a_client_cancelling_a_batch_stream_is_cancelled_not_internal(ending_server, caplog):
    stream, release = open_batch(ending_server)
    stream.cancel()
    assert_cancelled_quietly(ending_server, caplog)
    release.set()


def test_a_killed_client_mid_batch_is_cancelled_not_internal(ending_server, caplog):
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT_GOES_AWAY, ending_server.address], stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert client.stdout is not None and client.stdout.readline() == "answered\n"
    finally:
        client.kill()  # SIGKILL: the connection drops mid-stream
        client.communicate(timeout=30)
    assert_cancelled_quietly(ending_server, caplog)


def test_a_batch_stream_cut_at_the_end_of_the_shutdown_grace_is_cancelled(ending_server, caplog):
    _, release = open_batch(ending_server)
    ending_server.server.stop(0.2)
    assert_cancelled_quietly(ending_server, caplog)
    release.set()


def test_a_genuine_error_in_a_batch_stream_is_still_internal_and_logged(
    tmp_path, monkeypatch, caplog
):
    """Only gRPC's error for a call that has ended is a cancellation: the same error type
    raised while the caller is still there is a bug, with its traceback in the log."""
    from hashcore_server.matching import MatchingServicer

    def broken(*args, **kwargs):
        raise grpc.RpcError("an outgoing call failed")

    monkeypatch.setattr(MatchingServicer, "_run_batch", broken)
    with running_server(tmp_path) as srv:
        matching, _ = srv.stubs()
        request = pb.LookupBatchRequest(queries=[MD5_QUERY])
        error = rpc_error(matching.LookupBatch, iter([request]), timeout=10)
        assert error.code() is grpc.StatusCode.INTERNAL
        wait_for(lambda: rpcs(srv, "INTERNAL"), "INTERNAL to be counted")
        assert rpcs(srv, "CANCELLED") == 0
        assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


def test_a_hex_value_that_is_not_hex_says_so(tmp_path):
    """``zz`` has an even number of characters: "not an even number of hex digits" misled."""
    with running_server(tmp_path) as srv:
        matching, _ = srv.stubs()

        def hex_error(text: str) -> grpc.RpcError:
            signal = pb.Signal(type="pdq", hex=text)
            request = pb.LookupRequest(signals=pb.SignalList(signals=[signal]))
            return rpc_error(matching.Lookup, request, timeout=10)

        error = hex_error("zz")
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == "hex is not hexadecimal: use the digits 0-9 and a-f"
        assert list(field_violations(error)) == ["signals.signals[0].hex"]
        assert "odd number" in hex_error("abc").details()


def test_create_bank_names_its_own_field_for_a_bad_name(tmp_path):
    """The request's field is ``name``; the store's check said ``bank``."""
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        for name in ("bad name!", "*", "", "x" * 200):
            error = rpc_error(banks.CreateBank, pb.CreateBankRequest(name=name), timeout=10)
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert list(field_violations(error)) == ["name"], name


def test_add_signals_with_one_external_id_twice_says_the_request_repeats_it(tmp_path):
    """It said the bank already had the id, although the rolled-back batch never added it."""
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="shared"), timeout=10)

        def entry(external_id: str, byte: int) -> pb.NewEntry:
            signal = pb.Signal(type="md5", value=bytes([byte]) * 16)
            return pb.NewEntry(signals=[signal], external_id=external_id)

        request = pb.AddSignalsRequest(bank="shared", entries=[entry("x3", 1), entry("x4", 2),
                                                               entry("x3", 3)])  # fmt: skip
        error = rpc_error(banks.AddSignals, request, timeout=10)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "request names external id 'x3' twice" in error.details()
        assert "already has" not in error.details()
        assert list(field_violations(error)) == ["entries[2].external_id"]
        info = banks.GetBank(pb.GetBankRequest(name="shared"), timeout=10)
        assert info.entries == 0
        request.upsert = True  # an upsert may repeat an id (bank add --server: twin files)
        assert len(banks.AddSignals(request, timeout=10).entries) == 3
