"""What every RPC shares: authentication, a request id, error mapping, metrics, CPU slots.

The :func:`rpc` decorator is the only path into a servicer method, so no method can forget to
authenticate, and no exception can escape other than through :mod:`hashcore_server.errors`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc

from hashcore.cancel import stop_when
from hashcore.engine import Engine
from hashcore.errors import LimitExceeded, NotReady
from hashcore.hash_pool import HashPool
from hashcore.hashing import FileHashes, hash_file, hash_open_file, renamed
from hashcore.registry import SignalRegistry
from hashcore_server import spool
from hashcore_server.audit import AuditLog
from hashcore_server.auth import Authenticator, Principal
from hashcore_server.config import ServerConfig
from hashcore_server.errors import (
    DeadlineExceeded,
    abort,
    ended_code,
    log_ended,
    status_code_for,
)
from hashcore_server.events import EventHub
from hashcore_server.metrics import Metrics
from hashcore_server.parsing import check, checked_stream

log = logging.getLogger("hashcore.server")

T = TypeVar("T")


@dataclass(slots=True)
class Call:
    """One RPC in progress: who, which request id, and its context."""

    principal: Principal
    request_id: str
    method: str
    context: grpc.ServicerContext

    @property
    def peer(self) -> str:
        return str(self.context.peer() or "")

    def check_deadline(self) -> None:
        """Stop long work once the caller has gone or its deadline has passed."""
        if not self.context.is_active():
            raise DeadlineExceeded("the call was cancelled or its deadline passed")
        remaining = self.context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("deadline exceeded")

    def stopped(self) -> bool:
        """Whether the caller has gone or its deadline has passed (for ``hashcore.cancel``)."""
        if not self.context.is_active():
            return True
        remaining = self.context.time_remaining()
        return remaining is not None and remaining <= 0


class State:
    """Everything the servicers share; the engine arrives once its indexes are loaded."""

    def __init__(
        self,
        config: ServerConfig,
        registry: SignalRegistry,
        audit: AuditLog | None,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.registry = registry
        self.audit = audit
        self.metrics = metrics
        self.auth = Authenticator.from_config(config)
        self.events = EventHub()
        self.engine: Engine | None = None
        processes = config.limits.hashing_processes
        self.hash_pool = HashPool(registry, processes) if processes else None
        self._cpu = threading.BoundedSemaphore(config.limits.workers)
        self._streams = threading.BoundedSemaphore(config.limits.max_streams)
        self._streams_by_principal: dict[str, int] = {}
        self._streams_lock = threading.Lock()

    def close(self) -> None:
        """Stop the hashing processes (at server stop, once calls have finished)."""
        if self.hash_pool is not None:
            self.hash_pool.close()

    def require_engine(self) -> Engine:
        engine = self.engine
        if engine is None:
            raise NotReady("the server is still loading its indexes; retry shortly")
        return engine

    @contextlib.contextmanager
    def cpu_slot(self, call: Call) -> Iterator[None]:
        """Hold one of ``limits.workers`` CPU slots, waiting at most until the deadline."""
        remaining = call.context.time_remaining()
        timeout = None if remaining is None else max(remaining, 0.0)
        if not self._cpu.acquire(timeout=timeout):
            raise DeadlineExceeded("deadline exceeded while waiting for a worker")
        try:
            call.check_deadline()
            with stop_when(call.stopped):  # hashing stops soon after the deadline: slot freed
                yield
        finally:
            self._cpu.release()

    @contextlib.contextmanager
    def stream_slot(self, principal: str | None = None) -> Iterator[None]:
        """Long-lived streams each hold a server thread; refuse beyond ``limits.max_streams``,
        and beyond ``limits.max_streams_per_principal`` for one token, so that one partner's
        idle watches cannot lock the others out."""
        limits = self.config.limits
        quota = limits.streams_per_principal if principal and self.config.tokens else None
        if quota is not None:
            with self._streams_lock:
                held = self._streams_by_principal.get(principal or "", 0)
                if held >= quota:
                    raise LimitExceeded(
                        f"too many open streams for {principal!r} (limit {quota} per caller)"
                    )
                self._streams_by_principal[principal or ""] = held + 1
        try:
            if not self._streams.acquire(blocking=False):
                raise LimitExceeded(f"too many open streams (limit {limits.max_streams})")
            try:
                yield
            finally:
                self._streams.release()
        finally:
            if quota is not None:
                with self._streams_lock:
                    left = self._streams_by_principal[principal or ""] - 1
                    if left:
                        self._streams_by_principal[principal or ""] = left
                    else:
                        del self._streams_by_principal[principal or ""]

    def check_content(self, content: bytes, field: str) -> None:
        limit = self.config.limits.max_content_bytes
        if len(content) > limit:
            raise LimitExceeded(
                f"content is {len(content):,} bytes; the limit is {limit:,}", field=field
            )

    def hash_content(self, content: bytes, *, variants: bool) -> FileHashes:
        """Hash uploaded bytes, held in memory while they are hashed (:mod:`.spool`), or in a
        private temporary file under ``spool_dir`` when one is set.

        Messages call the file ``content``: its descriptor or temporary path means nothing to
        the caller."""
        spool_dir = self.config.spool_dir
        if spool_dir is None and spool.memory_files():
            with spool.in_memory(content) as descriptor:
                if self.hash_pool is not None:  # another core; the call's stop condition too
                    return self.hash_pool.hash(
                        Path(spool.NAME), variants=variants, descriptor=descriptor
                    )
                return hash_open_file(descriptor, spool.NAME, self.registry, variants=variants)
        with spool.on_disk(content, spool_dir) as path:
            if self.hash_pool is not None:
                hashes = self.hash_pool.hash(path, variants=variants)
            else:
                hashes = hash_file(path, self.registry, variants=variants)
        return renamed(hashes, path, spool.NAME)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


Handler = Callable[..., Any]


def rpc(method: Callable[..., T]) -> Callable[..., T]:
    """Wrap a unary-response servicer method: ``method(self, request, call)``."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        state: State = self.state
        request_id = new_request_id()
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            call = Call(state.auth.authenticate(context), request_id, name, context)
            check(request)
            return method(self, request, call)
        except Exception as error:  # noqa: BLE001 - every failure leaves through errors.py
            code = status_code_for(error, context)
            abort(context, error, request_id)
        finally:
            seconds = time.perf_counter() - started
            state.metrics.rpcs.labels(name, code.name).inc()
            state.metrics.latency.labels(name).observe(seconds)
            log.debug("%s %s: %s in %.1f ms", name, request_id, code.name, seconds * 1000)

    return wrapper


def rpc_stream(method: Callable[..., Iterator[T]]) -> Callable[..., Iterator[T]]:
    """Wrap a streaming-response servicer method (a generator): ``method(self, request, call)``."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        state: State = self.state
        request_id = new_request_id()
        code = grpc.StatusCode.OK
        try:
            call = Call(state.auth.authenticate(context), request_id, name, context)
            check(request)
            if not hasattr(request, "DESCRIPTOR"):  # a request stream (LookupBatch)
                request = checked_stream(request)
            with state.stream_slot(call.principal.name):
                yield from method(self, request, call)
            if not context.is_active():  # the request stream ended because the call did
                code = ended_code(context)
                log_ended(request_id, code)
        except GeneratorExit:  # gRPC dropped the stream between messages: the call ended
            code = ended_code(context)
            log_ended(request_id, code)
            raise
        except Exception as error:  # noqa: BLE001 - every failure leaves through errors.py
            code = status_code_for(error, context)
            abort(context, error, request_id)
        finally:
            state.metrics.rpcs.labels(name, code.name).inc()

    return wrapper
