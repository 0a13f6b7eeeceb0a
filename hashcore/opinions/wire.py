"""Opinions as protobuf messages, one way and the other (server, client and outbox share it)."""

from __future__ import annotations

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.opinions.model import NewOpinion, Opinion, OpinionKind, opinion_kind
from hashcore.remote import wire
from hashcore.signals import Signal


def item_to_pb(opinion: Opinion | NewOpinion) -> pb.OpinionItem:
    return pb.OpinionItem(
        bank=opinion.bank,
        external_id=opinion.external_id,
        kind=opinion.kind.value,
        note=opinion.note or "",
        author=opinion.author,
        created_at=opinion.created_at or 0.0,
        hashes=[wire.signal_to_pb(Signal(s.type, s.value)) for s in opinion.hashes],
        uid=opinion.uid,
    )


def record_to_pb(opinion: Opinion, *, duplicate: bool = False) -> pb.OpinionRecord:
    return pb.OpinionRecord(
        opinion=item_to_pb(opinion),
        id=opinion.id,
        origin=opinion.origin or "",
        duplicate=duplicate,
    )


def record_from_pb(message: pb.OpinionRecord) -> Opinion:
    item = message.opinion
    return Opinion(
        id=message.id,
        bank=item.bank,
        external_id=item.external_id,
        kind=OpinionKind(item.kind),
        author=item.author,
        note=item.note or None,
        hashes=tuple(wire.signal_from_pb(s) for s in item.hashes),
        origin=message.origin or None,
        created_at=item.created_at,
        uid=item.uid,
    )


def new_from_pb(
    item: pb.OpinionItem, hashes: tuple[Signal, ...], *, author: str, origin: str | None
) -> NewOpinion:
    """The opinion an item asks to record (``hashes`` already validated by the caller);
    ``author`` when the item names none, ``origin`` the partner it comes from."""
    kind = opinion_kind(item.kind)
    fields = {"uid": item.uid} if item.uid else {}
    return NewOpinion(
        item.bank,
        item.external_id,
        kind,
        item.author or author,
        item.note or None,
        hashes,
        origin,
        item.created_at or None,
        **fields,
    ).checked()
