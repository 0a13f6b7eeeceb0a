"""The outbox: this store's opinions on a followed bank, sent back to the hashcore it follows.

A follower keeps the source's external ids, so an opinion on a followed entry names the same
entry at the source. The follow loop (:mod:`hashcore.sharing`) calls, per followed bank::

    items = pending(store, bank)
    if items:
        result = send_opinions(channel, token, remote_bank, items)
        mark_sent(store, [o.id for o in items], f"{address}/{remote_bank}")

A crash between sending and :func:`mark_sent` only makes the next round send them again, and
the source stores each ``(follower, uid)`` once, so a resend changes nothing there. Only this
store's own opinions go out (``origin`` local): opinions received from elsewhere are not
forwarded. An item the source rejects (its entry is gone there) is still marked sent, with
the reason in the result, so it cannot block the outbox forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import grpc

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.opinions.model import Opinion
from hashcore.opinions.outbox import mark_sent, pending
from hashcore.opinions.wire import item_to_pb
from hashcore.remote.client import RemoteEngine
from hashcore.remote.errors import translate

__all__ = ["SendResult", "mark_sent", "pending", "send_opinions"]

BATCH = 1000
"""Opinions per ``SubmitOpinions`` call: far under the server's limit of 10,000."""


@dataclass(slots=True)
class SendResult:
    """What the source made of the opinions sent."""

    stored: int = 0
    duplicates: int = 0
    """Already held: a resend."""
    rejected: list[tuple[Opinion, str]] = field(default_factory=list)
    """Opinions the source refused, with its reason (an entry it no longer has)."""


def send_opinions(
    target: RemoteEngine | grpc.Channel,
    token: str | None,
    remote_bank: str,
    items: Sequence[Opinion],
    *,
    timeout: float = 30.0,
) -> SendResult:
    """``SubmitOpinions`` of ``items`` on the source's bank ``remote_bank``, in batches.

    ``target`` is a :class:`RemoteEngine` (its own token; ``token`` then unused) or a channel
    with ``token``. Errors come back as :class:`~hashcore.errors.HashcoreError` (a token
    without ``follow`` on the bank: ``RemoteError`` with code ``PERMISSION_DENIED``)."""
    result = SendResult()
    for start in range(0, len(items), BATCH):
        batch = list(items[start : start + BATCH])
        request = pb.SubmitOpinionsRequest(
            opinions=[item_to_pb(replace(o, bank=remote_bank)) for o in batch]
        )
        response = _submit(target, token, request, timeout)
        result.stored += response.stored
        result.duplicates += response.duplicates
        result.rejected += [(batch[r.index], r.reason) for r in response.rejected]
    return result


def _submit(
    target: RemoteEngine | grpc.Channel,
    token: str | None,
    request: pb.SubmitOpinionsRequest,
    timeout: float,
) -> pb.SubmitOpinionsResponse:
    if isinstance(target, RemoteEngine):
        stub = pb_grpc.OpinionsStub(target.channel)
        response: pb.SubmitOpinionsResponse = target.call(stub.SubmitOpinions, request, timeout)
        return response
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    try:
        answer: pb.SubmitOpinionsResponse = pb_grpc.OpinionsStub(target).SubmitOpinions(
            request, timeout=timeout, metadata=metadata
        )
    except grpc.RpcError as error:
        raise translate(error, "the source") from None
    return answer
