"""Reading a large feed file in a second process while this one writes the store.

Parsing a partner file is Python work (expat callbacks, record objects: about 40% of a 1M-record
NCMEC import), and so is the in-memory half of applying it; two threads would take turns on one
GIL. So a child process reads the file and sends its items in chunks, and it may run up to
:data:`AHEAD` chunks ahead: while this process commits a transaction, the child parses the next
one. Records cross as columns (:class:`~hashcore.formats.columns.UpdateColumns`): pickling the
record objects themselves costs more than parsing them, and an import hands the columns to the
store as they are. The items, their order and any error are exactly those of reading in-process.

The child never outlives this process, however it ends (``kill -9`` included): on Linux the
kernel kills it when its parent dies (``PR_SET_PDEATHSIG``), and everywhere a watchdog thread in
the child exits as soon as it is re-parented, which also frees a ``put`` blocked on a queue
nobody will read. The resource tracker ``multiprocessing`` starts beside it exits once both are
gone.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hashcore import errors
from hashcore.formats.base import get_format
from hashcore.formats.columns import RUN, UpdateColumns
from hashcore.formats.records import Item
from hashcore.registry import SignalRegistry, load_registry

BACKGROUND_MIN_BYTES = 8 << 20
"""Files smaller than this are read in-process: starting the child costs about half a second."""
CHUNK = RUN
"""Items (records of runs counted one by one) per message from the child."""
AHEAD = 32
"""Messages the child may send before this process takes them: 64,000 items, three import
transactions, so it is never idle while a transaction commits; memory stays bounded."""
POLL_SECONDS = 1.0
"""How often a wait for the child checks that it is still alive."""
WATCH_SECONDS = 0.5
"""How often the child checks that its parent is still alive."""
STOP_SECONDS = 5.0
"""How long a terminated child may take to exit before it is killed."""
PR_SET_PDEATHSIG = 1
SWITCH_SECONDS = 0.0002
"""The child's GIL switch interval: its feeder thread gets the GIL soon after the parent asks."""


def read_feed(
    format_name: str,
    path: Path,
    registry: SignalRegistry,
    options: Mapping[str, object] | None = None,
    *,
    min_bytes: int = BACKGROUND_MIN_BYTES,
) -> Iterator[Item | UpdateColumns]:
    """The items of the feed file ``path`` in ``format_name``, runs of updates as
    :class:`UpdateColumns` (what ``import_updates`` writes fastest; ``flattened`` gives them
    one by one); read by a child process when the file has at least ``min_bytes``. The format
    is checked here first, so an unknown one or bad options fail before any process starts.

    The child is started with ``spawn``, which imports the caller's main module again: a script
    calling this must keep its work under ``if __name__ == "__main__":`` (the ``hashcore``
    command does).
    """
    fmt = get_format(format_name, registry, options)
    if path.stat().st_size < min_bytes:
        with path.open("rb") as stream:
            yield from fmt.read_columns(stream)
        return
    yield from _read_in_child(format_name, path, dict(options or {}))


def _read_in_child(
    format_name: str, path: Path, options: dict[str, object]
) -> Iterator[Item | UpdateColumns]:
    context = multiprocessing.get_context("spawn")  # fork is unsafe beside gRPC or numba threads
    messages: multiprocessing.Queue[tuple[str, Any]] = context.Queue(AHEAD)
    child = context.Process(
        target=_child_main,
        args=(format_name, str(path), options, messages, os.getpid()),
        name="hashcore-feed-reader",
        daemon=True,
    )
    child.start()
    try:
        while True:
            try:
                kind, payload = messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not child.is_alive():
                    raise errors.HashcoreError(
                        f"the process reading {path.name} stopped (exit code {child.exitcode})"
                    ) from None
                continue
            if kind == "items":
                yield from payload
            elif kind == "end":
                return
            else:
                raise _error(payload)
    finally:  # also when the caller stops early (--strict, a failed transaction)
        if child.is_alive():
            child.terminate()
        child.join(STOP_SECONDS)
        if child.is_alive():  # stuck (a flush into a full pipe): it must not outlive us
            child.kill()
            child.join()
        messages.close()


def _child_main(
    format_name: str,
    path: str,
    options: dict[str, object],
    messages: multiprocessing.Queue[tuple[str, Any]],
    parent: int,
) -> None:
    """The child: read the file, send chunks of packed items, then ``end`` or the error (after
    the items read before it, as reading in-process would have yielded them)."""
    die_with_parent(parent)
    # The queue's feeder thread writes each message into the pipe while the parser holds the
    # GIL; at the default 5 ms switch interval the parent waited ~20 s of a 1M import for it.
    sys.setswitchinterval(SWITCH_SECONDS)

    def send(message: tuple[str, Any]) -> None:
        while True:  # a put that waits for room notices when the parent has gone
            try:
                messages.put(message, timeout=POLL_SECONDS)
                return
            except queue.Full:
                if os.getppid() != parent:
                    os._exit(1)

    chunk: list[Item | UpdateColumns] = []
    size = 0
    try:
        fmt = get_format(format_name, load_registry(), options)
        with open(path, "rb") as stream:
            for item in fmt.read_columns(stream):
                chunk.append(item)
                size += len(item) if type(item) is UpdateColumns else 1
                if size >= CHUNK:
                    send(("items", chunk))
                    chunk, size = [], 0
        send(("items", chunk))
        send(("end", None))
    except BaseException as error:  # noqa: BLE001 - handed to the parent, which raises it
        send(("items", chunk))
        send(("error", _describe(error)))


def die_with_parent(parent: int) -> None:
    """Make this (child) process exit when ``parent`` dies: the kernel's parent-death signal
    on Linux, and a watchdog thread that exits once the process is re-parented."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the watchdog still works
            pass
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), name="hashcore-parent-watch", daemon=True
    ).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _describe(error: BaseException) -> tuple[str, str, str | None]:
    """An error as plain data: exception classes do not all survive pickling."""
    if isinstance(error, errors.HashcoreError):
        return type(error).__name__, error.message, error.field
    return type(error).__name__, str(error), None


def _error(described: tuple[str, str, str | None]) -> errors.HashcoreError:
    name, message, field = described
    kind = getattr(errors, name, None)
    if isinstance(kind, type) and issubclass(kind, errors.HashcoreError):
        return kind(message, field=field)
    if name in ("FileNotFoundError", "IsADirectoryError", "PermissionError"):
        return errors.InvalidInput(f"cannot read the feed: {message}", field="path")
    return errors.HashcoreError(f"reading the feed failed: {name}: {message}")
