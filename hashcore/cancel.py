"""Stopping long hashing once nobody waits for it.

A server call sets a stop condition (its deadline passed, its client went away) with
:func:`stop_when` around the hashing it does; long loops (the TMK frame loop) and the steps
between families call :func:`check`, which raises :class:`~hashcore.errors.Cancelled` once the
condition holds, so the worker is freed soon after instead of hashing a 20-minute video for
nobody. Without a condition (the CLI) :func:`check` costs one context-variable lookup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from hashcore.errors import Cancelled

T = TypeVar("T")

_should_stop: ContextVar[Callable[[], bool] | None] = ContextVar(
    "hashcore_should_stop", default=None
)

CHECK_EVERY = 8
"""Items of a :func:`cancellable` stream between checks (8 video frames: about 5 ms of work)."""


@contextlib.contextmanager
def stop_when(should_stop: Callable[[], bool]) -> Iterator[None]:
    """Within the block, :func:`check` raises once ``should_stop()`` is true."""
    token = _should_stop.set(should_stop)
    try:
        yield
    finally:
        _should_stop.reset(token)


def check() -> None:
    """Raise :class:`Cancelled` when the current stop condition holds."""
    should_stop = _should_stop.get()
    if should_stop is not None and should_stop():
        raise Cancelled("hashing stopped: the call was cancelled or its deadline passed")


def cancellable(items: Iterable[T], every: int = CHECK_EVERY) -> Iterator[T]:
    """``items``, with :func:`check` called before the first and then every ``every`` items."""
    for number, item in enumerate(items):
        if number % every == 0:
            check()
        yield item
