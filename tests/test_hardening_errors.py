"""Issue 11, finding 10: malformed protobuf, long echoed input, bank names, doubled prefixes."""

from __future__ import annotations

import grpc
import pytest
from server_support import ORIGINAL, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.engine import Engine
from hashcore.errors import InvalidInput
from hashcore_server.errors import MAX_MESSAGE_BYTES, clip_message

GARBAGE = b"\xff\xff\xff\xff\x0f"
"""Not a protobuf message: field 0x1fffffff... with a truncated varint."""


def raw_error(channel: grpc.Channel, method: str, *, stream_in: bool, stream_out: bool):
    if stream_in:
        call = channel.stream_stream(method)
        responses = call(iter([GARBAGE]), timeout=10)
    elif stream_out:
        responses = channel.unary_stream(method)(GARBAGE, timeout=10)
    else:
        responses = None
    with pytest.raises(grpc.RpcError) as info:
        if responses is None:
            channel.unary_unary(method)(GARBAGE, timeout=10)
        else:
            list(responses)
    return info.value


@pytest.mark.parametrize(
    ("method", "stream_in", "stream_out"),
    [
        ("/hashcore.api.v1.Matching/Hash", False, False),
        ("/hashcore.api.v1.Matching/Lookup", False, False),
        ("/hashcore.api.v1.Matching/LookupBatch", True, True),
        ("/hashcore.api.v1.Matching/WatchMatches", False, True),
        ("/hashcore.api.v1.Banks/CreateBank", False, False),
        ("/hashcore.api.v1.Banks/ImportUpdates", False, False),
    ],
)
def test_malformed_protobuf_is_invalid_argument_not_internal(
    tmp_path, method, stream_in, stream_out
):
    with running_server(tmp_path) as srv:
        channel = srv.channel()
        error = raw_error(channel, method, stream_in=stream_in, stream_out=stream_out)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert "malformed request" in error.details()
        matching, _ = srv.stubs(channel)  # the server keeps serving
        assert matching.Hash(pb.HashRequest(content=ORIGINAL.read_bytes()), timeout=30).signals


def test_long_client_input_comes_back_as_the_status_not_stream_removed(tmp_path):
    huge = "\u00e9" * 20_000  # 40 KB of UTF-8, 120 KB percent-encoded in a trailer
    with running_server(tmp_path) as srv:
        matching, banks = srv.stubs()
        with pytest.raises(grpc.RpcError) as info:
            banks.GetBank(pb.GetBankRequest(name=huge), timeout=10)
        assert info.value.code() is grpc.StatusCode.NOT_FOUND
        assert "20,000 characters" in info.value.details()
        assert len(info.value.details().encode()) <= MAX_MESSAGE_BYTES
        with pytest.raises(grpc.RpcError) as info:
            banks.CreateBank(pb.CreateBankRequest(name=huge), timeout=10)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        query = pb.LookupRequest(
            signals=pb.SignalList(signals=[pb.Signal(type="x" * 50_000, value=b"1")])
        )
        with pytest.raises(grpc.RpcError) as info:
            matching.Lookup(query, timeout=10)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert len(info.value.details().encode()) <= MAX_MESSAGE_BYTES
        batch = pb.LookupBatchRequest(queries=[pb.Query(query_id="q", signals=query.signals)])
        (answer,) = next(iter(matching.LookupBatch(iter([batch]), timeout=10))).results
        assert answer.error.code == "INVALID_ARGUMENT"
        assert len(answer.error.message.encode()) <= MAX_MESSAGE_BYTES


def test_clip_message_keeps_short_messages_and_cuts_long_ones():
    assert clip_message("no bank named 'b'") == "no bank named 'b'"
    clipped = clip_message("no bank named '" + "x" * 500 + "'")
    assert len(clipped) < 120 and "500 characters" in clipped
    assert len(clip_message("y" * 10_000).encode()) <= MAX_MESSAGE_BYTES
    assert len(clip_message("\u00e9" * 10_000).encode()) <= MAX_MESSAGE_BYTES


@pytest.mark.parametrize(
    "name", ["*", "a*", "two words", " lead", "tab\tbank", "-x", "x" * 129, ""]
)
def test_bank_names_are_validated(tmp_path, registry, name):
    with Engine(tmp_path / "store", registry) as engine:
        with pytest.raises(InvalidInput):
            engine.create_bank(name)
        assert engine.list_banks() == []


def test_wildcard_bank_name_is_refused_over_grpc(tmp_path):
    with running_server(tmp_path) as srv:
        _, banks = srv.stubs()
        with pytest.raises(grpc.RpcError) as info:
            banks.CreateBank(pb.CreateBankRequest(name="*"), timeout=10)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        for ok in ("partner-a", "ncmec.2024", "a_b:c@d+e", "X" * 128):
            assert banks.CreateBank(pb.CreateBankRequest(name=ok), timeout=10).name == ok


def test_pillow_errors_are_not_prefixed_twice(tmp_path):
    data = ORIGINAL.read_bytes()
    with running_server(tmp_path) as srv:
        matching, _ = srv.stubs()
        response = matching.Hash(pb.HashRequest(content=data[: len(data) // 3]), timeout=30)
    messages = [error.message for error in response.errors]
    assert messages, "a truncated JPEG should fail to decode"
    for message in messages:
        assert message.startswith("content: cannot decode image"), message
        assert "content: content:" not in message
