"""Domain objects to protobuf messages and back, shared by the server and the client.

Conversions only: no validation beyond what the types force. The server validates what it
receives (naming the offending field); the client trusts the server it chose to talk to.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.model import (
    Added,
    Bank,
    BankInfo,
    Entry,
    EntryOrigin,
    EntryStatus,
    FollowerPosition,
    LookupResult,
    Match,
    SetAside,
    SignalHit,
    Skipped,
    UpsertOutcome,
)
from hashcore.signals import Signal


def timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def seconds(stamp: Timestamp) -> float:
    return float(stamp.ToNanoseconds()) / 1e9


def signal_to_pb(signal: Signal) -> pb.Signal:
    message = pb.Signal(
        type=signal.type,
        value=signal.value,
        unusable=not signal.usable,
        variant=signal.variant or "",
    )
    if signal.quality is not None:
        message.quality = signal.quality
    return message


def signal_from_pb(message: pb.Signal) -> Signal:
    return Signal(
        type=message.type,
        value=message.value,
        quality=message.quality if message.HasField("quality") else None,
        usable=not message.unusable,
        variant=message.variant or None,
    )


def hit_to_pb(hit: SignalHit) -> pb.SignalHit:
    return pb.SignalHit(
        type=hit.type,
        distance=hit.distance,
        variant=hit.variant or "",
        stored_variant=hit.stored_variant or "",
        weak=hit.weak,
        detail=dict(hit.detail or {}),
    )


def hit_from_pb(message: pb.SignalHit) -> SignalHit:
    return SignalHit(
        message.type,
        message.distance,
        message.variant or None,
        message.stored_variant or None,
        weak=message.weak,
        detail=dict(message.detail) or None,
    )


def _record_to_pb(item: Entry | Match) -> dict[str, Any]:
    """The partner's record as a match or an entry carries it: bank, external id, labels."""
    return {"bank": item.bank, "external_id": item.external_id, "labels": list(item.labels)}


def _record_from_pb(message: pb.Entry | pb.Match) -> dict[str, Any]:
    return {
        "bank": message.bank,
        "external_id": message.external_id,
        "labels": tuple(message.labels),
    }


def match_to_pb(match: Match) -> pb.Match:
    return pb.Match(
        entry_id=match.entry_id,
        signals=[hit_to_pb(hit) for hit in match.signals],
        confidence=match.confidence,
        origin=None if match.origin is None else origin_to_pb(match.origin),
        **_record_to_pb(match),
    )


def match_from_pb(message: pb.Match) -> Match:
    return Match(
        entry_id=message.entry_id,
        signals=tuple(hit_from_pb(hit) for hit in message.signals),
        confidence=message.confidence if message.HasField("confidence") else None,
        origin=origin_from_pb(message.origin) if message.HasField("origin") else None,
        **_record_from_pb(message),
    )


def origin_to_pb(origin: EntryOrigin) -> pb.EntryOrigin:
    return pb.EntryOrigin(
        partner=origin.partner,
        remote_bank=origin.remote_bank,
        checkpoint=origin.checkpoint,
        received_at=timestamp(origin.received_at),
    )


def origin_from_pb(message: pb.EntryOrigin) -> EntryOrigin:
    return EntryOrigin(
        message.partner, message.remote_bank, message.checkpoint, seconds(message.received_at)
    )


def lookup_to_pb(result: LookupResult) -> pb.LookupResponse:
    return pb.LookupResponse(
        matches=[match_to_pb(m) for m in result.matches],
        skipped=[pb.Skipped(type=s.type, reason=s.reason) for s in result.skipped],
        errors=list(result.errors),
        set_aside=[
            pb.SetAside(bank=a.bank, entry_id=a.entry_id, external_id=a.external_id)
            for a in result.set_aside
        ],
    )


def lookup_from_pb(message: pb.LookupResponse) -> LookupResult:
    return LookupResult(
        matches=[match_from_pb(m) for m in message.matches],
        skipped=[Skipped(s.type, s.reason) for s in message.skipped],
        errors=list(message.errors),
        set_aside=[SetAside(a.bank, a.entry_id, a.external_id) for a in message.set_aside],
    )


def bank_to_pb(bank: Bank) -> pb.Bank:
    return pb.Bank(
        name=bank.name,
        labels=list(bank.labels),
        source=bank.source or "",
        enabled=bank.enabled,
        thresholds=dict(bank.thresholds),
        created_at=timestamp(bank.created_at),
        priority=bank.priority,
    )


def bank_from_pb(message: pb.Bank) -> Bank:
    return Bank(
        name=message.name,
        labels=tuple(message.labels),
        source=message.source or None,
        enabled=message.enabled,
        thresholds=dict(sorted(message.thresholds.items())),
        created_at=seconds(message.created_at),
        priority=message.priority if message.HasField("priority") else None,
    )


def bank_info_to_pb(info: BankInfo) -> pb.BankInfo:
    return pb.BankInfo(
        bank=bank_to_pb(info.bank),
        entries=info.entries,
        signals_per_family=dict(info.signals_per_family),
        followers=[
            pb.FollowerPosition(
                partner=f.partner, checkpoint=f.checkpoint, updated_at=timestamp(f.updated_at)
            )
            for f in info.followers
        ],
    )


def bank_info_from_pb(message: pb.BankInfo) -> BankInfo:
    return BankInfo(
        bank=bank_from_pb(message.bank),
        entries=message.entries,
        signals_per_family=dict(sorted(message.signals_per_family.items())),
        followers=tuple(
            FollowerPosition(f.partner, f.checkpoint, seconds(f.updated_at))
            for f in message.followers
        ),
    )


def entry_to_pb(entry: Entry) -> pb.Entry:
    return pb.Entry(
        id=entry.id,
        source=entry.source or "",
        status=entry.status.value,
        created_at=timestamp(entry.created_at),
        updated_at=timestamp(entry.updated_at),
        signals=[signal_to_pb(s) for s in entry.signals],
        **_record_to_pb(entry),
    )


def entry_from_pb(message: pb.Entry) -> Entry:
    return Entry(
        id=message.id,
        source=message.source or None,
        status=EntryStatus(message.status),
        created_at=seconds(message.created_at),
        updated_at=seconds(message.updated_at),
        signals=tuple(signal_from_pb(s) for s in message.signals),
        **_record_from_pb(message),
    )


def added_from_pb(message: pb.AddSignalsResponse) -> list[Added]:
    """Each entry of an AddSignals answer with its outcome; without ``outcomes`` (no
    ``upsert`` asked, or a server from before it) every entry is new."""
    entries = [entry_from_pb(e) for e in message.entries]
    if not message.outcomes:
        return [Added(entry) for entry in entries]
    outcomes = [UpsertOutcome(o) for o in message.outcomes]
    return [Added(e, o) for e, o in zip(entries, outcomes, strict=True)]
