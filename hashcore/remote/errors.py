"""gRPC failures as :class:`~hashcore.errors.HashcoreError`: one hierarchy for local and remote.

Domain codes map back to the domain errors the server mapped from (with the field the server's
``google.rpc.BadRequest`` names); the rest become :class:`RemoteError`, whose message says what
to do, so the CLI prints one line and exits 2.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.errors import (
    AlreadyExists,
    HashcoreError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    NotReady,
)

TOKEN_ENV = "HASHCORE_TOKEN"  # noqa: S105 - a variable name, not a secret


class RemoteError(HashcoreError):
    """The server refused the call (token, permission, deadline, internal error)."""

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


class NotRemote(RemoteError, AttributeError):
    """An ``EngineAPI`` verb a server does not offer (``batch``, ``iter_entries``...).

    The CLI prints its message and exits 2 instead of showing a traceback. It stays an
    AttributeError for callers that probed the old client with ``hasattr``.
    """


class ServerUnavailable(RemoteError):
    """The server cannot be reached, or is still loading its indexes."""


_DOMAIN_ERRORS: dict[grpc.StatusCode, type[HashcoreError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceeded,
}


def translate(error: grpc.RpcError, address: str) -> HashcoreError:
    """The HashcoreError a failed call stands for; field violations carried over."""
    code: grpc.StatusCode = error.code()
    details = str(error.details() or code.name)
    field = _bad_request_field(error)
    if code in _DOMAIN_ERRORS:
        return _DOMAIN_ERRORS[code](details, field=field)
    if code is grpc.StatusCode.UNAVAILABLE:
        return ServerUnavailable(
            f"hashcore server at {address} is unavailable: {details}", code=code.name
        )
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return RemoteError(
            f"hashcore server at {address} refused the token: {details}"
            f" (give it with --token-file FILE, ${TOKEN_ENV} or the client profile"
            " ~/.config/hashcore/client.toml)",
            code=code.name,
        )
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return RemoteError(f"hashcore server at {address}: timed out", code=code.name)
    return RemoteError(f"hashcore server at {address}: {details}", code=code.name)


def _bad_request_field(error: grpc.RpcError) -> str | None:
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        return None
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            for violation in bad_request.field_violations:
                return str(violation.field)
    return None


def query_error(error: pb.QueryError) -> HashcoreError:
    """The error one query of a batch answered with."""
    kinds: dict[str, type[HashcoreError]] = {
        code.name: kind for code, kind in _DOMAIN_ERRORS.items()
    }
    kind = kinds.get(error.code)
    if kind is not None:
        return kind(error.message, field=error.field or None)
    if error.code == grpc.StatusCode.UNAVAILABLE.name:
        return NotReady(error.message)
    return RemoteError(error.message, code=error.code, field=error.field or None)
