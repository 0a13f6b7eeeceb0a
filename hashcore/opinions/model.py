"""What an opinion is: a verdict on an entry (and maybe on the content it matched), by whom.

An analyst, or a partner system over gRPC, says an entry's match was ``confirmed``, a
``false_positive`` or ``disputed``; ``withdrawn`` takes the author's earlier opinion back
(``hashcore opinion remove``). An entry collects opinions over time and the latest of each
author counts. ``origin`` says where an opinion was formed: ``None`` here, else the name of the
partner it was received from; only this store's own false positives except matches locally
(:mod:`hashcore.opinions.exceptions`), a partner's are recorded for the bank's owner to read.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from hashcore.errors import InvalidInput
from hashcore.signals import Signal

MAX_NOTE = 2000
MAX_AUTHOR = 128
MAX_HASHES = 64
"""Hashes per opinion: a content's families and their derived pictures, never more."""
MAX_CLOCK_SKEW = 86_400.0
"""How far in the future an opinion's time may be (another machine's clock): a later one
would stay its author's latest for ever, whatever they said after."""


class OpinionKind(StrEnum):
    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false_positive"
    DISPUTED = "disputed"
    WITHDRAWN = "withdrawn"
    """The author takes back their earlier opinion: it no longer counts (nor excepts)."""


def opinion_kind(text: str) -> OpinionKind:
    """The kind named ``text`` (``false-positive`` is accepted for ``false_positive``)."""
    try:
        return OpinionKind(text.strip().lower().replace("-", "_"))
    except ValueError:
        kinds = ", ".join(kind.value for kind in OpinionKind)
        raise InvalidInput(f"unknown opinion kind {text!r} (use {kinds})", field="kind") from None


@dataclass(frozen=True, slots=True)
class NewOpinion:
    """An opinion to record on the entry ``external_id`` of ``bank``.

    ``hashes`` are the content's (a match's query): a false positive excepts exactly that
    content. ``uid`` identifies the opinion across stores, so a resent one lands once;
    ``created_at`` ``None`` means now."""

    bank: str
    external_id: str
    kind: OpinionKind
    author: str
    note: str | None = None
    hashes: tuple[Signal, ...] = ()
    origin: str | None = None
    created_at: float | None = None
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)

    def checked(self) -> NewOpinion:
        """Raise :class:`InvalidInput` for an opinion no store should keep."""
        if not self.author.strip() or len(self.author) > MAX_AUTHOR:
            raise InvalidInput(f"an opinion needs an author of 1 to {MAX_AUTHOR} characters",
                               field="author")  # fmt: skip
        if self.note is not None and len(self.note) > MAX_NOTE:
            raise InvalidInput(f"note longer than {MAX_NOTE} characters", field="note")
        if len(self.hashes) > MAX_HASHES:
            raise InvalidInput(f"more than {MAX_HASHES} hashes in one opinion", field="hashes")
        if not self.uid or len(self.uid) > 128:
            raise InvalidInput("an opinion uid has 1 to 128 characters", field="uid")
        if self.created_at is not None and not (
            0 < self.created_at <= time.time() + MAX_CLOCK_SKEW  # NaN fails both
        ):
            raise InvalidInput(
                f"created_at must be a unix time after 1970 and not in the future, got "
                f"{self.created_at!r}",
                field="created_at",
            )
        return self


@dataclass(frozen=True, slots=True)
class Opinion:
    """A recorded opinion. ``sent_to`` names where the outbox delivered it (``None``: not
    yet): a hashcore source's address or a partner API's format, or why feedback left it
    unsent (``feedback:ncmec (not sent: superseded)``)."""

    id: int
    bank: str
    external_id: str
    kind: OpinionKind
    author: str
    note: str | None
    hashes: tuple[Signal, ...]
    origin: str | None
    created_at: float
    uid: str
    sent_at: float | None = None
    sent_to: str | None = None

    @property
    def local(self) -> bool:
        return self.origin is None
