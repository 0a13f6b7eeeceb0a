"""Fuzzing every RPC of a real server on 127.0.0.1 with random protobuf requests.

Every field of every request message gets random strings, bytes, numbers, maps and nested
messages (with a bias towards meaningful values, so requests get past the first check). The
status must be one the API documents (docs/server.md) and never ``INTERNAL`` or ``UNKNOWN``
(which mean a bug), and the server must keep serving.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import ORIGINAL, Running, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore_server.config import Limits

DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.FAILED_PRECONDITION,
}
WORDS = [
    "",
    "b",
    "fuzz",
    "*",
    "md5",
    "pdq",
    "phash",
    "tmk_pdqf",
    "hashcore",
    "ncmec",
    "csv",
    "stopncii",
    "active",
    "deleted",
    "trimmed",
    "orig",
    "allow_mass_delete",
    "input",
]
FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
INT_RANGES = {
    d.FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    d.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
CONTENT = ORIGINAL.read_bytes()


def scalar(field: d.FieldDescriptor) -> st.SearchStrategy[object]:
    kind = field.type
    if kind == d.FieldDescriptor.TYPE_STRING:
        return st.sampled_from(WORDS) | st.text(max_size=64)
    if kind == d.FieldDescriptor.TYPE_BYTES:
        return st.sampled_from([b"", b"\0" * 8, b"\0" * 16, b"\0" * 32, CONTENT[:4096]]) | (
            st.binary(max_size=300)
        )
    if kind == d.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (d.FieldDescriptor.TYPE_DOUBLE, d.FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=32 if kind == d.FieldDescriptor.TYPE_FLOAT else 64)
    if kind == d.FieldDescriptor.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return st.sampled_from(known) | st.integers(-5, 50)
    low, high = INT_RANGES[kind]
    return st.integers(0, 5) | st.integers(low, high)


def message(descriptor: d.Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, object]]:
    """Random keyword arguments for ``descriptor``'s message class (one oneof member at most)."""
    fields = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key = scalar(field.message_type.fields_by_name["key"])
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                continue
            fields[field.name] = st.dictionaries(key, scalar(value_field), max_size=3)
            continue
        if field.message_type is not None:
            if depth >= 3 or field.message_type.full_name.startswith("google."):
                continue
            inner = message(field.message_type, depth + 1).map(
                lambda kw, t=field.message_type: _build(t, kw)
            )
            value: st.SearchStrategy[object] = inner
        else:
            value = scalar(field)
        if _repeated(field):
            value = st.lists(value, max_size=3)
        fields[field.name] = value
    return st.fixed_dictionaries({}, optional=fields)


def _repeated(field: d.FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return bool(field.label == d.FieldDescriptor.LABEL_REPEATED)


def _build(descriptor: d.Descriptor, kwargs: dict[str, object]) -> Message:
    cls = _class(descriptor)
    built = cls()
    for name, value in kwargs.items():
        field = descriptor.fields_by_name[name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(built, name).update(value)
        elif _repeated(field):
            getattr(built, name).extend(value)
        elif field.message_type is not None:
            getattr(built, name).CopyFrom(value)
        else:
            setattr(built, name, value)
    return built


def _class(descriptor: d.Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


LIVE_STREAMS = ("WatchMatches", "FollowBank")
"""Streams that stay open until the deadline when the request is good."""
METHODS = [
    (service.name, method)
    for service in pb.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Running]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with running_server(tmp, limits=Limits(max_streams=64)) as srv:
        _, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="b"), timeout=10)
        banks.AddContent(pb.AddContentRequest(bank="b", content=CONTENT), timeout=60)
        yield srv


def invoke(srv: Running, service: str, method: d.MethodDescriptor, requests: list[Message]):
    channel = srv.channel()
    path = f"/{method.containing_service.full_name}/{method.name}"
    serialize = type(requests[0]).SerializeToString
    output = _class(method.output_type).FromString
    timeout = 0.1 if method.name in LIVE_STREAMS else 20
    try:
        if method.client_streaming:
            call = channel.stream_stream(path, serialize, output)
            list(call(iter(requests), timeout=timeout))
        elif method.server_streaming:
            list(channel.unary_stream(path, serialize, output)(requests[0], timeout=timeout))
        else:
            channel.unary_unary(path, serialize, output)(requests[0], timeout=timeout)
    except grpc.RpcError as error:
        return error.code(), error.details()
    finally:
        channel.close()
        srv.channels.remove(channel)
    return grpc.StatusCode.OK, ""


def still_serving(srv: Running) -> None:
    matching, _ = srv.stubs()
    assert matching.Hash(pb.HashRequest(content=CONTENT[:2048]), timeout=30).signals


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[m.name for _, m in METHODS])
def test_random_requests_get_documented_codes(server, service, method):
    strategy = st.lists(message(method.input_type), min_size=1, max_size=2)

    @FUZZ
    @given(requests=strategy)
    def run(requests):
        built = [_build(method.input_type, kwargs) for kwargs in requests]
        code, details = invoke(server, service, method, built)
        assert code in DOCUMENTED, (code, details, built)
        if method.name in LIVE_STREAMS:
            assert code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.OK) or details

    run()
    still_serving(server)


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[m.name for _, m in METHODS])
def test_random_bytes_as_requests(server, service, method):
    @settings(FUZZ, max_examples=20)
    @given(raw=st.binary(max_size=200))
    def run(raw):
        channel = server.channel()
        path = f"/{method.containing_service.full_name}/{method.name}"
        try:
            if method.client_streaming:
                list(channel.stream_stream(path)(iter([raw]), timeout=5))
            elif method.server_streaming:
                list(channel.unary_stream(path)(raw, timeout=0.5))
            else:
                channel.unary_unary(path)(raw, timeout=20)
        except grpc.RpcError as error:
            assert error.code() in DOCUMENTED, (error.code(), error.details(), raw)
        finally:
            channel.close()
            server.channels.remove(channel)

    run()
    still_serving(server)
