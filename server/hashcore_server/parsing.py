"""Malformed protobuf is the caller's mistake, not a server bug.

gRPC turns a request its deserializer cannot parse into ``INTERNAL`` ("Exception deserializing
request!"), the code the API reserves for bugs. :class:`ParseGuard` wraps the deserializer of
every hashcore method so a parse failure yields a :class:`Malformed` placeholder instead; the
:func:`~hashcore_server.calls.rpc` wrappers turn it into ``INVALID_ARGUMENT`` through the one
error path, after authentication like any other request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc

from hashcore.errors import InvalidInput

SERVICE_PREFIX = "/hashcore.api.v1."


class Malformed:
    """Stands for a request message that could not be parsed."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def check(request: Any) -> None:
    """Raise :class:`InvalidInput` when ``request`` is a :class:`Malformed` placeholder."""
    if isinstance(request, Malformed):
        raise InvalidInput(f"malformed request message: {request.reason}", field="request")


def checked_stream(requests: Iterable[Any]) -> Iterator[Any]:
    """A request stream whose malformed messages raise :class:`InvalidInput`."""
    for request in requests:
        check(request)
        yield request


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    @functools.wraps(deserialize)
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:  # noqa: BLE001 - DecodeError and friends: the caller's bytes
            return Malformed(type(error).__name__)

    return parse


class ParseGuard(grpc.ServerInterceptor):  # type: ignore[misc]
    """Swap every hashcore method's request deserializer for a tolerant one (cached)."""

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        cached = self._handlers.get(method)
        if cached is not None:
            return cached
        handler = continuation(handler_call_details)
        if (
            handler is None
            or not method.startswith(SERVICE_PREFIX)
            or handler.request_deserializer is None
            or not hasattr(handler, "_replace")
        ):
            return handler
        guarded = handler._replace(request_deserializer=_tolerant(handler.request_deserializer))
        self._handlers[method] = guarded
        return guarded
