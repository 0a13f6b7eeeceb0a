"""The canonical record every bank format yields, whatever the partner's shape.

A format turns a feed into an ordered stream of :data:`Item`: updates keyed by a stable external
id, problems (malformed or unknown records, with where they were), skips (things we understood
but cannot use, such as a family without a plugin) and checkpoints. The importer applies the
stream; nothing in a format touches the store, so the same stream feeds the CLI and gRPC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hashcore.errors import InvalidInput
from hashcore.model import BankSettings, EntryStatus
from hashcore.opinions.model import NewOpinion
from hashcore.signals import Signal


class Op(StrEnum):
    """What applying an update does to the entry with its external id."""

    UPSERT = "upsert"
    DELETE = "delete"


class Opinion(StrEnum):
    """The partner's opinion of the hash: a positive match, a lead to look at, or a false hit."""

    POSITIVE = "positive"
    SEED = "seed"
    NEGATIVE = "negative"


@dataclass(frozen=True, slots=True)
class BankUpdate:
    """A full snapshot of one partner record: it replaces whatever we hold for ``external_id``.

    ``status`` is the single source of truth (``op`` derives from it), so an update can never be
    an "upsert" of a withdrawn hash: every non-active status stops matching. Deletions keep a
    tombstone, so an older copy of the record arriving later does not bring it back.
    ``updated_at`` is the partner's time (unix seconds), ``None`` when the feed has none; the
    engine keeps the newer of two versions.
    """

    external_id: str
    signals: tuple[Signal, ...] = ()
    labels: tuple[str, ...] = ()
    source: str | None = None
    status: EntryStatus = EntryStatus.ACTIVE
    updated_at: float | None = None
    created_at: float | None = None
    opinion: Opinion | None = None
    content_kind: str | None = None
    position: str = ""
    """Where the record was read (``line 12``, ``page 3 image #4``), for error reports only."""
    opinions: tuple[NewOpinion, ...] = ()
    """Opinions on the entry carried by the record (hashcore's own export): recorded with it,
    on the bank it is imported into (their ``bank`` is left empty here)."""

    @property
    def op(self) -> Op:
        return Op.UPSERT if self.status is EntryStatus.ACTIVE else Op.DELETE


@dataclass(frozen=True, slots=True)
class Problem:
    """A record (or a whole document) that could not be read: malformed, wrong length, unknown.

    ``reason`` never contains hash values or credentials: it goes to logs and terminals.
    """

    position: str
    reason: str

    def __str__(self) -> str:
        return f"{self.position}: {self.reason}" if self.position else self.reason


@dataclass(frozen=True, slots=True)
class Skip:
    """Something understood but not importable (e.g. ``unsupported family sha1``); counted."""

    reason: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where to resume a feed: every update yielded before it is covered by it.

    ``state`` is the format's own small JSON object (a timestamp, a page token, a next link).
    A format yields one only at points where resuming is safe, so the importer can store it in
    the same transaction as the updates before it.
    """

    state: Mapping[str, Any] = field(default_factory=dict)

    def to_text(self) -> str:
        return json.dumps(dict(self.state), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        try:
            state = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidInput("stored checkpoint is not valid JSON", field="checkpoint") from None
        if not isinstance(state, dict):
            raise InvalidInput("stored checkpoint is not a JSON object", field="checkpoint")
        return cls(state)


def partner_labels(
    labels: tuple[str, ...], opinion: Opinion | None, content_kind: str | None
) -> tuple[str, ...]:
    """``labels`` and what the partner says of the record beyond them, kept as labels so the
    entry carries them: ``partner-opinion:<positive|seed|negative>`` and
    ``content:<image|video|...>``. Labels are stored, shown with every match, exported
    losslessly and read back as they are, so the fields survive any round trip; the formats
    add them where they build the record (free: no second record per update)."""
    extra = []
    if opinion is not None:
        extra.append(f"partner-opinion:{opinion.value}")
    if content_kind:
        extra.append(f"content:{content_kind}")
    return (*labels, *extra) if extra else labels


Item = BankUpdate | Problem | Skip | Checkpoint
"""One element of a format's output stream."""

__all__ = [
    "BankSettings",
    "BankUpdate",
    "Checkpoint",
    "Item",
    "Op",
    "Opinion",
    "Problem",
    "Skip",
    "partner_labels",
]
