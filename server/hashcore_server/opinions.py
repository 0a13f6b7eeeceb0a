"""The ``Opinions`` service: opinions on entries, and a follower's opinions sent back.

Who may say what: admin on a bank records the server's own opinions (a false positive excepts
that content here); any other role on the bank records them as received from that partner,
which never excepts anything by itself. ``SubmitOpinions`` is the follower's channel back to
its source and needs ``follow`` (or admin) on every bank it names, checked before anything is
stored; an item naming an unknown entry is rejected alone, so one entry deleted at the source
cannot block a follower's outbox.
"""

from __future__ import annotations

import logging

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.errors import HashcoreError, InvalidInput, LimitExceeded
from hashcore.opinions import book
from hashcore.opinions.wire import new_from_pb, record_to_pb
from hashcore.signals import Signal
from hashcore_server import convert
from hashcore_server.auth import ADMIN, FOLLOW, LOOKUP, Principal
from hashcore_server.calls import Call, State, rpc

log = logging.getLogger("hashcore.server")

MAX_OPINIONS_PER_CALL = 10_000


class OpinionsServicer(pb_grpc.OpinionsServicer):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        self.state = state

    @rpc
    def RecordOpinion(self, request: pb.RecordOpinionRequest, call: Call) -> pb.OpinionRecord:
        item = request.opinion
        if not item.bank:
            raise InvalidInput("an opinion names its bank", field="opinion.bank")
        principal = call.principal
        own = principal.can(item.bank, ADMIN)
        if not own and not principal.can(item.bank, FOLLOW):
            principal.require(item.bank, LOOKUP)
        opinion = new_from_pb(
            item,
            self._hashes(item, "opinion.hashes"),
            author=principal.name,
            origin=None if own else principal.name,
        )
        with self.state.require_engine().store.transaction() as writer:
            stored, new = book.record(writer, opinion)
        log.info(
            "opinion %s on %r of %r by %s", stored.kind.value, stored.external_id, stored.bank,
            principal.name,
        )  # fmt: skip
        return record_to_pb(stored, duplicate=not new)

    @rpc
    def ListOpinions(self, request: pb.ListOpinionsRequest, call: Call) -> pb.ListOpinionsResponse:
        principal = call.principal
        if request.external_id and not request.bank:
            raise InvalidInput("an entry is named within its bank", field="external_id")
        if request.bank and principal.role_for(request.bank) is None:
            principal.require(request.bank, LOOKUP)
        store = self.state.require_engine().store
        found = book.list_opinions(store, request.bank or None, request.external_id or None)
        return pb.ListOpinionsResponse(
            opinions=[record_to_pb(o) for o in found if _may_read(principal, o.bank, o.origin)]
        )

    @rpc
    def SubmitOpinions(
        self, request: pb.SubmitOpinionsRequest, call: Call
    ) -> pb.SubmitOpinionsResponse:
        items = list(request.opinions)
        if len(items) > MAX_OPINIONS_PER_CALL:
            raise LimitExceeded(
                f"{len(items)} opinions in one call; the limit is {MAX_OPINIONS_PER_CALL}",
                field="opinions",
            )
        principal = call.principal
        for bank in sorted({item.bank for item in items}):
            principal.require(bank, FOLLOW)  # every bank first: a refusal stores nothing
        response = pb.SubmitOpinionsResponse()
        with self.state.require_engine().store.transaction() as writer:
            for index, item in enumerate(items):
                try:
                    opinion = new_from_pb(
                        item,
                        self._hashes(item, f"opinions[{index}].hashes"),
                        author=principal.name,
                        origin=principal.name,
                    )
                    _, new = book.record(writer, opinion)
                except HashcoreError as error:
                    response.rejected.add(index=index, reason=error.message)
                    continue
                if new:
                    response.stored += 1
                else:
                    response.duplicates += 1
        log.info(
            "%d opinion(s) from %s: %d stored, %d resent, %d rejected", len(items),
            principal.name, response.stored, response.duplicates, len(response.rejected),
        )  # fmt: skip
        return response

    def _hashes(self, item: pb.OpinionItem, where: str) -> tuple[Signal, ...]:
        registry = self.state.registry
        return tuple(
            convert.signal_from_pb(message, registry, f"{where}[{i}]")
            for i, message in enumerate(item.hashes)
        )


def _may_read(principal: Principal, bank: str, origin: str | None) -> bool:
    """Admin of the bank reads every opinion on it; others only those they sent."""
    return principal.can(bank, ADMIN) or (
        origin == principal.name and principal.role_for(bank) is not None
    )
