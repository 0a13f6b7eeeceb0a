"""The error hierarchy every layer raises.

Kept tiny on purpose: each class corresponds to one way a caller must react, and the gRPC layer
maps them to status codes in exactly one place (``server/errors.py``). ``field`` names the
offending request field or input so clients can point at it.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class HashcoreError(Exception):
    """Base of every error hashcore raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(HashcoreError):
    """The caller sent something unusable: a malformed hash, an unknown family, bad content."""


class ContentError(InvalidInput):
    """A file cannot be hashed: corrupt, truncated, empty, too large, too small, unsupported."""


class NotFound(HashcoreError):
    """A named bank, entry or plugin does not exist."""


class AlreadyExists(HashcoreError):
    """Creating something whose name is taken."""


class LimitExceeded(HashcoreError):
    """A request is over a configured limit (size, batch length)."""


class NotReady(HashcoreError):
    """The engine is still loading its indexes; retry shortly."""


class PluginError(HashcoreError):
    """A plugin is broken: a duplicate name, a missing attribute, a misspelt hook."""


class StoreError(HashcoreError):
    """The store's database or disk refused (read-only, full, unopenable): not the caller's
    input, not a bug; the message says what was and was not written."""


class StoreReadOnly(StoreError):
    """A write to a store opened read-only (the files or their directory are not writable)."""


class StoreFull(StoreError, LimitExceeded):
    """The disk (or the database's size limit) is full: the transaction was rolled back."""


class Cancelled(HashcoreError):
    """Work stopped because its caller's deadline passed or it went away (``hashcore.cancel``)."""


def keep_first(kept: list[T], item: T, limit: int) -> None:
    """Quote a problem only while fewer than ``limit`` are quoted: reports count every problem
    but keep a few examples, so a feed of a million bad records stays small in memory."""
    if len(kept) < limit:
        kept.append(item)
