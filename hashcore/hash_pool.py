"""Hashing on every core: worker processes that each hash one file at a time.

The CLI's ``--jobs`` (``hash``, ``bank add``, ``lookup`` of files) and the server's content
calls share this pool. Each worker holds one file at a time over its own pipe, so a worker that
dies (killed, out of memory, a crashing decoder) is charged to exactly that file, and a caller's
stop condition (:mod:`hashcore.cancel`) reaches the file being hashed as a message on that pipe.
A worker dies with the process that started it (``PR_SET_PDEATHSIG``), so a ``kill -9`` of the
CLI or the server leaves no worker hashing for nobody.
Workers are forked from this process when it has no other thread (the CLI), else from a server
process that has imported the plugins (``forkserver``, safe beside gRPC's threads): either way a
worker costs milliseconds, not the second of imports a fresh interpreter would take.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import recv_handle, send_handle
from pathlib import Path
from typing import Any, TypeVar

from hashcore.cancel import check as check_cancelled
from hashcore.cancel import stop_when
from hashcore.errors import Cancelled, HashcoreError
from hashcore.hashing import FileHashes, HashFailure, hash_file, hash_open_file, warm_up
from hashcore.heap import keep_freed_memory
from hashcore.registry import SignalRegistry

T = TypeVar("T")
R = TypeVar("R")

POLL_SECONDS = 0.05
"""How often a caller waiting for its file checks its stop condition."""

WINDOW_PER_JOB = 2
"""Files in flight per job in :func:`ordered_map`: enough to keep every worker busy while the
oldest result waits to be printed, and the bound on what a folder of any size holds in memory."""


STOP = "stop"
"""Sent to a worker hashing a file whose caller's stop condition holds."""

PR_SET_PDEATHSIG = 1


class WorkersDied(HashcoreError):
    """Worker processes keep dying: stop instead of killing one per remaining file."""


READY = "ready"
"""What a worker sends once started (and warmed up, in a warm pool), before its first file."""


def default_jobs() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def ordered_map(func: Callable[[T], R], items: Iterable[T], jobs: int) -> Iterator[R]:
    """``map(func, items)`` on ``jobs`` threads, results in input order, at most
    ``WINDOW_PER_JOB * jobs`` items in flight (``items`` is read lazily). ``jobs`` <= 1 runs
    in this thread. An exception from ``func`` is raised at its item's turn."""
    if jobs <= 1:
        yield from map(func, items)
        return
    window: deque[Future[R]] = deque()
    with ThreadPoolExecutor(jobs, thread_name_prefix="hashcore-job") as threads:
        try:
            for item in items:
                window.append(threads.submit(func, item))
                if len(window) >= WINDOW_PER_JOB * jobs:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:  # a consumer that stops early leaves nothing running
                future.cancel()


def hash_files(
    paths: Iterable[Path], registry: SignalRegistry, *, jobs: int, variants: bool = False
) -> Iterator[FileHashes]:
    """:func:`~hashcore.hashing.hash_file` of every path, in input order, on ``jobs`` worker
    processes (``jobs`` <= 1, or a single path: in this process).

    Nothing is warmed up: a command's lazy imports are paid by the first file that needs them,
    if any (pHash's DCT loader, ~2 ms, only for a featureless picture)."""
    keep_freed_memory()  # here, and in workers by inheritance: files reuse their buffers
    if isinstance(paths, Sized):  # never more workers than files: --jobs 64 of 3 forked 64
        jobs = min(jobs, len(paths))
    pending = iter(paths)
    first = list(itertools.islice(pending, 2))
    if jobs <= 1 or len(first) < 2:  # one file: starting workers would cost more than it
        for path in itertools.chain(first, pending):
            yield hash_file(path, registry, variants=variants)
        return
    with HashPool(registry, jobs, warm=False) as pool:
        yield from ordered_map(
            lambda path: pool.hash(path, variants=variants), itertools.chain(first, pending), jobs
        )


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection


class HashPool:
    """Up to ``size`` worker processes, started on first use; :meth:`hash` is thread-safe and
    blocks until a worker is free.

    With ``warm`` (a server's pool) the owner and each worker run every family's
    :meth:`~hashcore.signals.SignalType.warm_up` before the first file, so no request waits
    for a lazy import; without (a command's) each is paid by the first file that needs it.
    """

    def __init__(self, registry: SignalRegistry, size: int, *, warm: bool = True) -> None:
        if size < 1:
            raise ValueError("a hash pool needs at least one worker")
        self.registry = registry
        self.size = size
        self.warm = warm
        self._context = _forkserver(registry, warm)
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._deaths_in_a_row = 0
        self._closed = False
        # A lone thread can fork: the workers start at once with everything already imported.
        # Beside other threads (gRPC's), a fork could copy a lock another thread holds, so the
        # workers (and any replacement) come from the forkserver, each when first needed.
        forking = threading.active_count() == 1
        if forking and warm:  # loaded once here, inherited by every fork (not by each)
            with contextlib.suppress(HashcoreError):
                warm_up(registry)
        for _ in range(size):
            self._idle.put(self._start(multiprocessing.get_context("fork")) if forking else None)

    def __enter__(self) -> HashPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def hash(
        self, path: Path, *, variants: bool = False, descriptor: int | None = None
    ) -> FileHashes:
        """``hash_file(path)`` in a worker. A worker that dies gives ``path`` a whole-file
        failure (and is replaced); :class:`WorkersDied` once deaths outnumber the workers
        twice over with no file hashed in between. Raises :class:`Cancelled` when the calling
        thread's stop condition holds, after the worker has stopped too.

        With ``descriptor`` (an open file with no path, such as uploaded content in memory)
        the worker is sent its own copy of the descriptor over the pipe and hashes that file
        (:func:`~hashcore.hashing.hash_open_file`); ``path`` then only names it."""
        if self._closed:
            raise RuntimeError("the hash pool is closed")
        worker = self._take() or self._start(self._context)
        try:
            worker.conn.send((str(path), variants, descriptor is not None))
            if descriptor is not None:
                send_handle(worker.conn, descriptor, worker.process.pid)
            reply = self._wait(worker)
        except (EOFError, OSError):
            reply = None
        if reply is None:
            self._idle.put(None)
            return self._died(worker, Path(path))
        self._idle.put(worker)
        with self._lock:
            self._deaths_in_a_row = 0
        status, value = reply
        if status == "cancelled":
            raise Cancelled(value)
        if status == "failed":  # hash_file itself raised: a bug, charged to this file only
            return FileHashes(Path(path), None, errors=[HashFailure(None, f"{path}: {value}")])
        hashes: FileHashes = value
        hashes.path = Path(path)  # the caller's path object, as the in-process path gives
        return hashes

    def start_all(self) -> None:
        """Start every worker not yet running, now (each warms up before its first file): a
        server does this before it reports ready, so no request waits for a worker."""
        idle = []
        while True:
            try:
                idle.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for worker in idle:
            if worker is None and not self._closed:
                with contextlib.suppress(RuntimeError):  # closed meanwhile: start no more
                    worker = self._start(self._context)
            self._idle.put(worker)

    def close(self) -> None:
        """Stop every worker (each finishes nothing further) and wait for it to exit."""
        with self._lock:
            self._closed = True
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            with contextlib.suppress(OSError):  # already gone
                worker.conn.send(None)
        for worker in workers:
            _stop(worker, asked=True)

    def _take(self) -> _Worker | None:
        """An idle worker (None: a free slot to start one in), waiting while every worker is
        busy; a stop condition that holds meanwhile raises :class:`Cancelled`."""
        while True:
            try:
                return self._idle.get(timeout=POLL_SECONDS)
            except queue.Empty:
                check_cancelled()

    def _start(self, context: Any) -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self.registry, dict(os.environ), self.warm),
            name="hashcore-hash-worker",
            daemon=True,
        )
        process.start()
        theirs.close()  # only the worker holds this end now
        if ours in wait([ours, process.sentinel]):  # warmed up (else dead: hash() says so)
            with contextlib.suppress(EOFError, OSError):
                ours.recv()
        worker = _Worker(process, ours)
        with self._lock:
            closed = self._closed
            if not closed:
                self._workers.add(worker)
        if closed:  # close() ran while this one started: it must not outlive the pool
            _stop(worker)
            raise RuntimeError("the hash pool is closed")
        return worker

    def _wait(self, worker: _Worker) -> tuple[str, Any] | None:
        """The worker's reply, or None when it died first; forwards a stop to the worker."""
        stopping = False
        while True:
            ready = wait([worker.conn, worker.process.sentinel], POLL_SECONDS)
            if worker.conn in ready:
                reply: tuple[str, Any] = worker.conn.recv()
                return reply
            if ready:  # the sentinel alone: gone without replying
                return None
            if not stopping:
                try:
                    check_cancelled()
                except Cancelled:
                    stopping = True  # once: the worker stops at its next check and replies
                    worker.conn.send(STOP)

    def _died(self, worker: _Worker, path: Path) -> FileHashes:
        worker.process.join(5)
        worker.conn.close()
        with self._lock:
            self._workers.discard(worker)
            self._deaths_in_a_row += 1
            deaths = self._deaths_in_a_row
        how = _exit_reason(worker.process.exitcode)
        if deaths > 2 * self.size:
            raise WorkersDied(
                f"stopped: {deaths} hashing worker processes died in a row, the last one "
                f"({how}) while hashing {path}"
            )
        message = f"{path}: the worker process hashing it died ({how}); not hashed"
        return FileHashes(path, None, errors=[HashFailure(None, message)])


def _serve(
    conn: Connection, registry: SignalRegistry, environment: dict[str, str], warm: bool
) -> None:
    """A worker: hash each ``(path, variants, by_descriptor)`` received until told to stop
    (None or EOF); with ``by_descriptor`` the file is the descriptor sent right after the task,
    and ``path`` its name in messages.

    While it hashes, the parent sends nothing but :data:`STOP`, so anything waiting on the pipe
    is the stop condition; a STOP that came too late is read, and skipped, as the next task.
    ``environment`` is the caller's, as it is now: a forkserver keeps the one it started with,
    and settings such as ``HASHCORE_MAX_DECODE_MB`` are read while hashing."""
    _die_with_parent()
    keep_freed_memory()  # a forkserver's worker has not inherited it
    os.environ.clear()
    os.environ.update(environment)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if warm:
        with contextlib.suppress(HashcoreError):  # a family's setting error: each file says it
            warm_up(registry)
    try:
        conn.send(READY)
    except OSError:
        return
    with stop_when(conn.poll):
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            if task == STOP:
                continue
            path, variants, by_descriptor = task
            reply: tuple[str, Any]
            try:
                if by_descriptor:
                    reply = ("ok", _hash_received(conn, path, registry, variants))
                else:
                    reply = ("ok", hash_file(path, registry, variants=variants))
            except Cancelled as error:
                reply = ("cancelled", error.message)
            except Exception as error:  # noqa: BLE001 - reported for this file, worker lives on
                reply = ("failed", f"hashing failed: {error!r}")
            try:
                conn.send(reply)
            except OSError:  # the parent has gone
                return


def _hash_received(
    conn: Connection, name: str, registry: SignalRegistry, variants: bool
) -> FileHashes:
    """Hash the file whose descriptor the parent sends next, then close this copy of it."""
    descriptor = recv_handle(conn)
    try:
        return hash_open_file(descriptor, name, registry, variants=variants)
    finally:
        os.close(descriptor)


def _stop(worker: _Worker, asked: bool = False) -> None:
    """Wait for a worker told to stop (``asked``), or tell it now; kill it after 5 s."""
    if not asked:
        with contextlib.suppress(OSError):
            worker.conn.send(None)
    worker.process.join(5)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    worker.conn.close()


def _die_with_parent() -> None:
    """Have the kernel SIGKILL this worker when the process that started it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


_preloaded: set[str] = set()
_preload_lock = threading.Lock()


def _warm_modules(registry: SignalRegistry, warm: bool) -> set[str]:
    """The registry's plugin modules loaded here (after a warm-up, with ``warm``: a compiled
    kernel a plugin imports lazily included), for the forkserver to preload: its workers then
    start with them instead of each loading them."""
    if warm:
        with contextlib.suppress(HashcoreError):
            warm_up(registry)
    packages = {type(t).__module__.partition(".")[0] for t in registry}
    return {name for name in list(sys.modules) if name.partition(".")[0] in packages}


def _forkserver(registry: SignalRegistry, warm: bool) -> ForkServerContext:
    """The forkserver context, its server preloading the hashing code and the registry's
    plugins (set before the server first starts; later pools reuse it)."""
    context = multiprocessing.get_context("forkserver")
    modules = {"hashcore.hashing", *_warm_modules(registry, warm)}
    with _preload_lock:
        if not modules <= _preloaded:
            _preloaded.update(modules)
            context.set_forkserver_preload(sorted(_preloaded))
    return context
