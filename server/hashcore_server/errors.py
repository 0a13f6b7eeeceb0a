"""The one place where errors become gRPC status codes.

Domain errors (:mod:`hashcore.errors`) map to codes, with ``google.rpc.BadRequest`` field
violations when the error names a field, so a client can point at the bad part of its request.
Anything unexpected becomes ``INTERNAL`` carrying only a request id: the traceback is logged on
the server under that id and never sent, since it could reveal paths or data.
"""

from __future__ import annotations

import logging
import re
from typing import NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from hashcore.errors import (
    AlreadyExists,
    Cancelled,
    HashcoreError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    NotReady,
    StoreError,
)

log = logging.getLogger("hashcore.server")


class Unauthenticated(HashcoreError):
    """No token, or one we do not know."""


class PermissionDenied(HashcoreError):
    """A valid token asking for a bank (or an action) outside its grant."""


class DeadlineExceeded(HashcoreError):
    """The caller's deadline passed (or it cancelled) while we were working."""


_CODES: tuple[tuple[type[HashcoreError], grpc.StatusCode], ...] = (
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),  # includes ContentError
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NotReady, grpc.StatusCode.UNAVAILABLE),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Cancelled, grpc.StatusCode.DEADLINE_EXCEEDED),
    (StoreError, grpc.StatusCode.FAILED_PRECONDITION),  # StoreFull is RESOURCE_EXHAUSTED above
)


MAX_MESSAGE_BYTES = 1000
"""Status messages are cut to this many UTF-8 bytes: they travel in trailing metadata (twice,
with the rich status), and a message echoing a huge client value would push the trailers past
gRPC's metadata limit, so the client saw "Stream removed" instead of the status."""
MAX_ECHO_CHARS = 80
"""A quoted value (a bank name, a family...) echoed back in a message is cut to this length."""
_QUOTED = re.compile(rf"'[^'\n]{{{MAX_ECHO_CHARS},}}'|\"[^\"\n]{{{MAX_ECHO_CHARS},}}\"")


def clip_message(message: str) -> str:
    """``message`` with long quoted values shortened and the whole cut to a safe size."""

    def shorten(match: re.Match[str]) -> str:
        text = match.group(0)
        quote, inner = text[0], text[1:-1]
        return f"{quote}{inner[: MAX_ECHO_CHARS - 20]}...{quote} ({len(inner):,} characters)"

    message = _QUOTED.sub(shorten, message)
    encoded = message.encode("utf-8", "replace")
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return message
    kept = encoded[: MAX_MESSAGE_BYTES - 40].decode("utf-8", "ignore")
    return f"{kept}... (message cut at {len(kept):,} characters)"


def status_code_for(
    error: BaseException, context: grpc.ServicerContext | None = None
) -> grpc.StatusCode:
    """The status code for an error; ``INTERNAL`` for anything not raised on purpose.

    With the call's ``context``, a :class:`grpc.RpcError` once the call has ended is the caller
    going away, not a bug: gRPC's request iterator raises it when the client is killed or
    cancels, and when a shutdown's grace period cancels the stream."""
    gone = _gone(error, context)
    if gone is not None:
        return gone
    for error_type, code in _CODES:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def _gone(error: BaseException, context: grpc.ServicerContext | None) -> grpc.StatusCode | None:
    """How the call ended when ``error`` is gRPC's own for a call that is over, else None."""
    if context is None or not isinstance(error, grpc.RpcError) or context.is_active():
        return None
    return ended_code(context)


def ended_code(context: grpc.ServicerContext) -> grpc.StatusCode:
    """``CANCELLED`` for a call that ended before its handler (the caller went away, or the
    server's shutdown grace ran out), ``DEADLINE_EXCEEDED`` if its deadline had passed."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def log_ended(request_id: str, code: grpc.StatusCode) -> None:
    """An ended call is no fault of ours: INFO, no traceback."""
    log.info("request %s: %s (the caller went away or the server stopped)", request_id, code.name)


def public_message(error: BaseException, request_id: str) -> str:
    """What the client may read: the domain message, or only a request id for a bug."""
    if isinstance(error, HashcoreError) and status_code_for(error) is not grpc.StatusCode.INTERNAL:
        return clip_message(error.message)
    return f"internal error (request id {request_id}); the server log has the details"


def to_status(error: BaseException, request_id: str) -> grpc.Status:
    """A rich status for ``error``: code, public message and BadRequest details if any."""
    code = status_code_for(error)
    message = public_message(error, request_id)
    details = []
    field = getattr(error, "field", None)
    if isinstance(field, str):
        field = clip_message(field)
    if code is grpc.StatusCode.INVALID_ARGUMENT and field:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        details.append(detail)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    return rpc_status.to_status(status)


def abort(context: grpc.ServicerContext, error: BaseException, request_id: str) -> NoReturn:
    """Log as fits the error, then end the call with its status (raises)."""
    code = status_code_for(error, context)
    if code is grpc.StatusCode.INTERNAL:
        log.error("request %s failed", request_id, exc_info=error)
    elif _gone(error, context) is not None:  # no one is left to read a status
        log_ended(request_id, code)
        context.abort(code, "the call ended before its answer")
    else:
        log.info("request %s: %s", request_id, code.name)
    context.abort_with_status(to_status(error, request_id))
    raise AssertionError("abort_with_status returned")  # pragma: no cover
