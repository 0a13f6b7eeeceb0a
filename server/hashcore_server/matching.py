"""The ``Matching`` service: Hash, Lookup, LookupBatch, WatchMatches.

Lookups are confined to the caller's granted banks before the engine runs and filtered again
after, so a partner never sees another partner's bank even if a filter were mis-specified.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.api.v1 import hashcore_pb2_grpc as pb_grpc
from hashcore.errors import ContentError, HashcoreError, InvalidInput, LimitExceeded, NotFound
from hashcore.model import LookupResult
from hashcore.signals import Signal
from hashcore.store.writer import check_bank_name
from hashcore_server import convert
from hashcore_server.audit import AuditRecord
from hashcore_server.auth import LOOKUP
from hashcore_server.calls import Call, State, rpc, rpc_stream
from hashcore_server.errors import clip_message, status_code_for
from hashcore_server.thresholds import check_admin_bounds, loosen_banks

log = logging.getLogger("hashcore.server")

WATCH_POLL_SECONDS = 0.25


class MatchingServicer(pb_grpc.MatchingServicer):  # type: ignore[misc]
    def __init__(self, state: State) -> None:
        self.state = state

    @rpc
    def Hash(self, request: pb.HashRequest, call: Call) -> pb.HashResponse:
        self.state.check_content(request.content, "content")
        with self.state.cpu_slot(call):
            hashes = self.state.hash_content(request.content, variants=request.variants)
        return convert.hashes_to_pb(hashes)

    @rpc
    def Lookup(self, request: pb.LookupRequest, call: Call) -> pb.LookupResponse:
        scope = self._scope(call, request.banks)
        thresholds = convert.thresholds_from_pb(request.thresholds, self.state.registry)
        loosen = self._loosen_banks(call, scope, thresholds)
        with self.state.cpu_slot(call):
            signals, errors = self._query_signals(request, "")
            result = self._lookup_many([signals], thresholds, scope, loosen)[0]
        result.errors[:0] = errors
        self._record(call, [(None, signals, result)])
        return convert.lookup_to_pb(result)

    @rpc_stream
    def LookupBatch(
        self, requests: Iterable[pb.LookupBatchRequest], call: Call
    ) -> Iterator[pb.LookupBatchResponse]:
        limit = self.state.config.limits.max_batch_queries
        for request in requests:
            if len(request.queries) > limit:
                raise LimitExceeded(
                    f"{len(request.queries)} queries in one message; the limit is {limit}",
                    field="queries",
                )
            scope = self._scope(call, request.banks)
            thresholds = convert.thresholds_from_pb(request.thresholds, self.state.registry)
            loosen = self._loosen_banks(call, scope, thresholds)
            with self.state.cpu_slot(call):
                answers, found = self._run_batch(request.queries, thresholds, scope, loosen, call)
            self._record(call, found)
            yield pb.LookupBatchResponse(results=answers)

    def _run_batch(
        self,
        queries: Sequence[pb.Query],
        thresholds: dict[str, float] | None,
        scope: list[str] | None,
        loosen: list[str],
        call: Call,
    ) -> tuple[list[pb.QueryResult], list[tuple[str | None, Sequence[Signal], LookupResult]]]:
        """Answer every query of one message, in order; a bad query is its own answer.

        Signals are checked (and content hashed) query by query, then every good query is
        looked up in one batched search per family.
        """
        answers: list[pb.QueryResult | None] = []
        good: list[tuple[int, list[Signal], list[str]]] = []
        for index, query in enumerate(queries):
            call.check_deadline()  # about a microsecond; content queries can take seconds
            try:
                signals, errors = self._query_signals(query, f"queries[{index}].")
            except HashcoreError as error:
                answers.append(_query_error(query.query_id, error))
                continue
            answers.append(None)
            good.append((index, signals, errors))
        call.check_deadline()
        results = self._lookup_many([signals for _, signals, _ in good], thresholds, scope, loosen)
        found: list[tuple[str | None, Sequence[Signal], LookupResult]] = []
        for (index, signals, errors), result in zip(good, results, strict=True):
            result.errors[:0] = errors
            query_id = queries[index].query_id
            if result.matches:
                found.append((query_id, signals, result))
            answers[index] = pb.QueryResult(query_id=query_id, result=convert.lookup_to_pb(result))
        return [answer for answer in answers if answer is not None], found

    @rpc_stream
    def WatchMatches(self, request: pb.WatchMatchesRequest, call: Call) -> Iterator[pb.MatchEvent]:
        principal = call.principal
        self._check_watched(call, request.banks)
        wanted = set(request.banks)

        def accepts(bank: str) -> bool:
            return principal.can(bank, LOOKUP) and (not wanted or bank in wanted)

        subscription = self.state.events.subscribe(accepts)
        call.context.add_callback(subscription.close)
        # Initial metadata tells the client the subscription is live before any event.
        call.context.send_initial_metadata((("x-request-id", call.request_id),))
        try:
            while not subscription.closed and call.context.is_active():
                event = subscription.get(WATCH_POLL_SECONDS)
                if event is not None:
                    yield event
        finally:
            self.state.events.unsubscribe(subscription)
            if subscription.dropped:
                self.state.metrics.dropped_events.inc(subscription.dropped)

    # -- helpers --------------------------------------------------------------------------

    def _check_watched(self, call: Call, banks: Sequence[str]) -> None:
        """Refuse a malformed, ungranted or unknown bank as Lookup does, before the stream
        opens: a watch on a bank that does not exist would stay open and never hear a thing.
        The grant is checked before existence, so a partner cannot probe other banks' names."""
        for index, bank in enumerate(banks):
            try:
                check_bank_name(bank)
            except InvalidInput as error:
                raise InvalidInput(error.message, field=f"banks[{index}]") from None
            call.principal.require(bank, LOOKUP)
        if not banks:
            return
        unknown = sorted(set(banks) - set(self.state.require_engine().bank_names()))
        if unknown:
            raise NotFound(f"no bank named {', '.join(map(repr, unknown))}", field="banks")

    def _scope(self, call: Call, requested: Sequence[str]) -> list[str] | None:
        principal = call.principal
        if principal.sees_all and not requested:
            return None
        existing = [] if requested else self.state.require_engine().bank_names()
        return principal.lookup_scope(list(requested), existing)

    def _query_signals(
        self, query: pb.LookupRequest | pb.Query, prefix: str
    ) -> tuple[list[Signal], list[str]]:
        """The signals to look up: the caller's, or those of content hashed here."""
        kind = query.WhichOneof("query")
        if kind == "signals":
            signals = convert.signals_from_pb(
                query.signals.signals, self.state.registry, f"{prefix}signals.signals"
            )
            return signals, []
        if kind == "content":
            self.state.check_content(query.content, f"{prefix}content")
            hashes = self.state.hash_content(query.content, variants=True)
            errors = hashes.messages()
            if not hashes.signals:
                raise ContentError(
                    "; ".join(errors) or "content could not be hashed", field=f"{prefix}content"
                )
            return hashes.signals, errors
        raise InvalidInput("a query needs content or signals", field=f"{prefix}query")

    def _loosen_banks(
        self, call: Call, scope: list[str] | None, thresholds: dict[str, float] | None
    ) -> list[str]:
        """The banks where this caller's thresholds may loosen the bank's own (see thresholds.py).

        Checked before any work, so an admin asking past the server's bound learns it at once.
        """
        if not thresholds:
            return []
        banks = self.state.require_engine().bank_names() if scope is None else scope
        allowed = loosen_banks(call.principal, banks)
        if allowed:
            check_admin_bounds(
                thresholds, self.state.config.admin_threshold_bounds, self.state.registry
            )
        return allowed

    def _lookup_many(
        self,
        queries: list[list[Signal]],
        thresholds: dict[str, float] | None,
        scope: list[str] | None,
        loosen: list[str],
    ) -> list[LookupResult]:
        if not queries:
            return []
        if scope is not None and not scope:
            return [LookupResult() for _ in queries]  # no granted bank exists: nothing to search
        engine = self.state.require_engine()
        results = engine.lookup_many(
            queries, thresholds=thresholds, banks=scope, loosen_banks=loosen
        )
        if scope is not None:  # defence in depth: never return a bank outside the scope
            allowed = set(scope)
            for result in results:
                result.matches = [m for m in result.matches if m.bank in allowed]
        self.state.metrics.count_lookups(zip(queries, results, strict=True))
        return results

    def _record(
        self, call: Call, found: Iterable[tuple[str | None, Sequence[Signal], LookupResult]]
    ) -> None:
        """Audit every match, then tell the watchers, if any: an event costs ~20 us a match to
        build (its signals converted again), for nobody when no one watches (the usual case)."""
        now = time.time()
        watched = len(self.state.events) > 0  # one subscribing just after misses these
        records: list[AuditRecord] = []
        events: list[pb.MatchEvent] = []
        for query_id, signals, result in found:
            for match in result.matches:
                records.append(
                    AuditRecord(
                        now,
                        call.principal.name,
                        call.peer,
                        call.method,
                        call.request_id,
                        query_id,
                        match,
                        signals,
                    )
                )
                if not watched:
                    continue
                events.append(
                    pb.MatchEvent(
                        time=convert.timestamp(now),
                        bank=match.bank,
                        entry_id=match.entry_id,
                        external_id=match.external_id,
                        labels=list(match.labels),
                        families=sorted({hit.type for hit in match.signals}),
                        signals=convert.match_to_pb(match).signals,
                        caller=call.principal.name,
                        request_id=call.request_id,
                        confidence=match.confidence,
                    )
                )
        if not records:
            return
        if self.state.audit is not None:
            self.state.audit.append(records)
        self.state.events.publish(events)
        log.info(
            "%s %s: %d match(es) for %s",
            call.method,
            call.request_id,
            len(records),
            call.principal.name,
        )


def _query_error(query_id: str, error: HashcoreError) -> pb.QueryResult:
    return pb.QueryResult(
        query_id=query_id,
        error=pb.QueryError(
            code=status_code_for(error).name,
            message=clip_message(error.message),
            field=clip_message(error.field or ""),
        ),
    )
