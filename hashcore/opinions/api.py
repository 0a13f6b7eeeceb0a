"""The opinion verbs, answered by a local store or by a server: what ``hashcore opinion`` uses.

Kept beside :class:`~hashcore.engine_api.EngineAPI` rather than in it: :func:`opinions_of`
gives the verbs of whichever engine the CLI opened, so every bank verb and these run against a
store or a ``hashcore serve`` server alike.
"""

from __future__ import annotations

from typing import Protocol

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.engine import Engine
from hashcore.engine_api import EngineAPI
from hashcore.errors import InvalidInput
from hashcore.opinions import book
from hashcore.opinions.model import NewOpinion, Opinion
from hashcore.opinions.wire import item_to_pb, record_from_pb
from hashcore.store import Store


class OpinionsAPI(Protocol):
    def record_opinion(self, opinion: NewOpinion) -> Opinion:
        """Record ``opinion``; a resend of one already recorded returns the earlier copy."""
        ...

    def list_opinions(
        self, bank: str | None = None, external_id: str | None = None
    ) -> list[Opinion]:
        """Opinions, oldest first, of every bank (or one, or one of its entries)."""
        ...


class LocalOpinions:
    """The verbs on a store opened here."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record_opinion(self, opinion: NewOpinion) -> Opinion:
        with self.store.transaction() as writer:
            return book.record(writer, opinion)[0]

    def list_opinions(
        self, bank: str | None = None, external_id: str | None = None
    ) -> list[Opinion]:
        return book.list_opinions(self.store, bank, external_id, known_entry=True)


class RemoteOpinions:
    """The verbs on a server (``RecordOpinion``, ``ListOpinions``); its token is the author
    unless the opinion names one."""

    def __init__(self, engine: EngineAPI) -> None:
        from hashcore.remote import RemoteEngine

        assert isinstance(engine, RemoteEngine)
        self.engine = engine
        self.stub = pb_grpc.OpinionsStub(engine.channel)

    def record_opinion(self, opinion: NewOpinion) -> Opinion:
        request = pb.RecordOpinionRequest(opinion=item_to_pb(opinion))
        return record_from_pb(self.engine.call(self.stub.RecordOpinion, request))

    def list_opinions(
        self, bank: str | None = None, external_id: str | None = None
    ) -> list[Opinion]:
        if external_id is not None and bank is None:
            raise InvalidInput("an entry is named within its bank", field="external_id")
        request = pb.ListOpinionsRequest(bank=bank or "", external_id=external_id or "")
        response = self.engine.call(self.stub.ListOpinions, request)
        return [record_from_pb(record) for record in response.opinions]


def opinions_of(engine: EngineAPI) -> OpinionsAPI:
    """The opinion verbs of the engine the CLI opened (a local store or a server)."""
    if isinstance(engine, Engine):
        return LocalOpinions(engine.store)
    return RemoteOpinions(engine)
