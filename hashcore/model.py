"""Banks, entries and lookup results: the vocabulary the engine, CLI and server share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hashcore.signals import Signal


class EntryStatus(StrEnum):
    """Only ``ACTIVE`` entries match; the others are kept for audit and for partner sync."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    DELETED = "deleted"


class UpsertOutcome(StrEnum):
    """What a write keyed by ``external_id`` did to its bank: an import's tallies, and what
    ``bank add`` tells the analyst of each file."""

    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    NOT_HELD = "not_held"
    """A deletion or withdrawal of an entry the bank never held: nothing to stop matching, but
    kept as a tombstone so a late, older copy of the record cannot bring it in."""


PRIORITIES = range(1, 6)
"""Bank priorities, 1 the highest; see :attr:`Bank.priority`."""


@dataclass(frozen=True, slots=True)
class Bank:
    """A named collection of known items from one source (a partner feed, our own analysts)."""

    name: str
    labels: tuple[str, ...] = ()
    source: str | None = None
    enabled: bool = True
    thresholds: Mapping[str, float] = field(default_factory=dict)
    """Per-family overrides of the default match threshold."""
    created_at: float = 0.0
    priority: int | None = None
    """How urgent a match in this bank is, 1 (highest) to 5; lookups list matches in
    prioritised banks first. ``None``: unset, listed after every prioritised bank."""


@dataclass(frozen=True, slots=True)
class BankSettings:
    """What a new bank is created with: the CLI's and the server's ``create_bank``, or a file
    that describes its bank (a hashcore export's header), so a receiver matches the way the
    sender chose to."""

    labels: tuple[str, ...] = ()
    thresholds: Mapping[str, float] = field(default_factory=dict)
    source: str | None = None
    priority: int | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class FollowerPosition:
    """How far one partner has read a published bank, as the publisher last saw it."""

    partner: str
    """The follower as the publisher knows it: the name of its token."""
    checkpoint: str
    """The publisher's checkpoint of the last update the partner received (opaque)."""
    updated_at: float


@dataclass(frozen=True, slots=True)
class BankInfo:
    """A bank with its size: active entries, and active signals per family."""

    bank: Bank
    entries: int
    signals_per_family: Mapping[str, int]
    followers: tuple[FollowerPosition, ...] = ()
    """Partners following the bank and how far they have read (docs/sharing.md)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One known item: the same content hashed by one or more families."""

    id: int
    bank: str
    external_id: str
    """The item's key in its bank: the partner's own id for a feed's entry (what a report to
    the partner cites), ``md5:<hex>`` for a file added here without one."""
    labels: tuple[str, ...]
    source: str | None
    """Where the entry came from when it says (a feed's submitter), else ``None``."""
    status: EntryStatus
    created_at: float
    updated_at: float
    signals: tuple[Signal, ...] = ()


@dataclass(frozen=True, slots=True)
class Added:
    """An entry as adding a file's hashes left it, and what the add did: a file the bank held
    already, unchanged, is reported as such rather than as a new entry; one whose entry had
    been removed is added again (same entry id, active again)."""

    entry: Entry
    outcome: UpsertOutcome = UpsertOutcome.ADDED


@dataclass(frozen=True, slots=True)
class SignalHit:
    """How one family recognised an entry: distance (Hamming) or score (similarity)."""

    type: str
    distance: float
    variant: str | None = None
    """Which variant of the query matched: a PDQ rotation or flip (``rot90``...), the query with
    its borders cut off (``trimmed``, ``trimmed+rot90``)."""
    stored_variant: str | None = None
    """Which picture of the banked file matched, when not the file as it is: ``trimmed`` (a
    clean copy matching a file banked with borders)."""
    weak: bool = False
    """The query's or the banked value's quality is below the family's ``solo_min_quality``
    (PDQ < 50): the hit only seconds another family and adds nothing to the confidence."""
    detail: Mapping[str, float] | None = None
    """What the family says of the hit beyond its score (``SignalType.describe_hits``): vPDQ's
    ``query_percent``, ``banked_percent``, ``query_frames``, ``banked_frames`` and the matched
    segments' ``query_start``/``query_end``/``banked_start``/``banked_end`` in seconds; the gRPC
    ``SignalHit.detail`` map carries it."""


@dataclass(frozen=True, slots=True)
class EntryOrigin:
    """Where a followed entry came from (docs/sharing.md): the receiver cites it to the partner."""

    partner: str
    """The source server as followed (``host:port``, or the ``[[follow]]`` table's name)."""
    remote_bank: str
    checkpoint: str
    """The source's checkpoint of the update that last wrote the entry (opaque)."""
    received_at: float


@dataclass(frozen=True, slots=True)
class Match:
    """An entry that matched, with every family that recognised it."""

    bank: str
    entry_id: int
    external_id: str
    labels: tuple[str, ...]
    signals: tuple[SignalHit, ...]
    confidence: float | None = None
    """How unlikely the match is to be an accident, in decimal digits: ``12`` means an unrelated
    item comes this close in every matching family about once in 10**12 comparisons, so against
    a bank of N entries about N * 10**-12 accidental matches per lookup. The families' chances
    are multiplied (taken as independent); ``None`` when no matching family can say."""
    origin: EntryOrigin | None = None
    """For an entry received from a followed partner bank: who sent it, from which bank, when
    (``external_id`` and ``labels`` are the partner's own)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A query signal that was not looked up, and why (e.g. PDQ quality below 50)."""

    type: str
    reason: str


@dataclass(frozen=True, slots=True)
class SetAside:
    """A match that a false-positive opinion recorded in this store set aside
    (:mod:`hashcore.opinions.exceptions`). A lookup lists them, so that "no match" never hides
    an entry that came this close: the analyst sees the opinion at work, and can withdraw it."""

    bank: str
    entry_id: int
    external_id: str


@dataclass(slots=True)
class LookupResult:
    """Everything one lookup found, ordered by bank then entry id."""

    matches: list[Match] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Per-family hashing failures of the query file (others still ran)."""
    set_aside: list[SetAside] = field(default_factory=list)
    """Matches a local false-positive opinion dropped, ordered as ``matches``."""
    searched: bool = True
    """False when nothing of the query could be looked up (an empty or unreadable file, a
    line that does not parse): its errors say why, and "no match" would claim too much."""

    @property
    def matched(self) -> bool:
        return bool(self.matches)


class Ticker(Protocol):
    """Counts work done for whoever watches (the CLI's progress bar): imports tick per record,
    compaction per index step."""

    def advance(self, count: int = 1) -> None: ...
