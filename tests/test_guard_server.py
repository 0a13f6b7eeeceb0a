"""Guards on the server's grant checks and deadline checks (found by ``make mutate``).

Unit-level: a fake gRPC context stands in for a call, so every boundary (a deadline of exactly
zero, an admin grant used for lookup, a ``*`` grant, a busy CPU slot) is tested directly.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.errors import InvalidInput, LimitExceeded
from hashcore.model import LookupResult, Match
from hashcore_server.auth import ADMIN, ALL, LOOKUP, Authenticator, Principal, _bearer_token
from hashcore_server.calls import Call, State
from hashcore_server.config import Limits, ServerConfig, TokenGrant, hash_token
from hashcore_server.errors import DeadlineExceeded, PermissionDenied, Unauthenticated
from hashcore_server.matching import MatchingServicer


@dataclass
class Context:
    """The parts of grpc.ServicerContext that calls.py reads."""

    active: bool = True
    remaining: float | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    def is_active(self) -> bool:
        return self.active

    def time_remaining(self) -> float | None:
        return self.remaining

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


def call_with(context: Context, principal: Principal | None = None) -> Call:
    return Call(principal or Principal("p", {ALL: ADMIN}), "rid", "Lookup", context)  # type: ignore[arg-type]


# -- grants ----------------------------------------------------------------------------------


def test_roles_rank_admin_above_lookup() -> None:
    p = Principal("p", {"a": LOOKUP, "b": ADMIN})
    assert p.role_for("a") == LOOKUP and p.role_for("b") == ADMIN and p.role_for("c") is None
    assert p.can("a", LOOKUP) and not p.can("a", ADMIN)
    assert p.can("b", LOOKUP) and p.can("b", ADMIN)
    assert not p.can("c", LOOKUP)
    p.require("b", ADMIN)
    with pytest.raises(PermissionDenied):
        p.require("a", ADMIN)
    with pytest.raises(PermissionDenied):
        p.require("c", LOOKUP)


def test_star_grant_counts_for_every_bank_and_the_stronger_role_wins() -> None:
    star = Principal("s", {ALL: LOOKUP, "x": ADMIN})
    assert star.role_for("anything") == LOOKUP
    assert star.role_for("x") == ADMIN
    assert star.sees_all
    weak_star = Principal("w", {ALL: ADMIN, "x": LOOKUP})
    assert weak_star.role_for("x") == ADMIN
    assert not Principal("n", {"x": ADMIN}).sees_all
    assert Principal("n", {"x": ADMIN, "y": LOOKUP}).visible(["x", "y", "z"]) == ["x", "y"]


def test_lookup_scope_refuses_outside_banks_and_defaults_to_the_grant() -> None:
    p = Principal("p", {"a": LOOKUP, "b": ADMIN})
    assert p.lookup_scope(["b", "a", "b"], ["a", "b", "c"]) == ["b", "a"]
    assert p.lookup_scope([], ["a", "b", "c"]) == ["a", "b"]
    with pytest.raises(PermissionDenied):
        p.lookup_scope(["a", "c"], ["a", "b", "c"])
    assert Principal("s", {ALL: LOOKUP}).lookup_scope([], ["a"]) is None
    assert Principal("s", {ALL: LOOKUP}).lookup_scope(["a"], ["a"]) == ["a"]


def test_bearer_token_parsing() -> None:
    assert _bearer_token([("authorization", "Bearer abc ")]) == "abc"
    assert _bearer_token([("Authorization", "bearer abc")]) == "abc"
    assert _bearer_token([("authorization", "Basic abc")]) is None
    assert _bearer_token([("authorization", "Bearer   ")]) is None
    assert _bearer_token([("authorization", b"Bearer abc")]) is None
    assert _bearer_token([("x-other", "Bearer abc")]) is None
    assert _bearer_token([("x", "y"), ("authorization", "Bearer t")]) == "t"


def test_authenticator_matches_the_token_and_refuses_others() -> None:
    grants = (
        TokenGrant("alice", hash_token("t-alice"), {"a": LOOKUP}),
        TokenGrant("bob", hash_token("t-bob"), {ALL: ADMIN}),
    )
    auth = Authenticator(grants, anonymous=True)  # tokens configured: never anonymous
    who = auth.authenticate(Context(metadata=(("authorization", "Bearer t-alice"),)))  # type: ignore[arg-type]
    assert (who.name, who.grants) == ("alice", {"a": LOOKUP})
    who = auth.authenticate(Context(metadata=(("authorization", "Bearer t-bob"),)))  # type: ignore[arg-type]
    assert who.name == "bob"
    for metadata in ((("authorization", "Bearer nope"),), ()):
        with pytest.raises(Unauthenticated):
            auth.authenticate(Context(metadata=metadata))  # type: ignore[arg-type]
    open_auth = Authenticator((), anonymous=True)
    assert open_auth.authenticate(Context()).grants == {ALL: ADMIN}  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated):
        Authenticator((), anonymous=False).authenticate(Context())  # type: ignore[arg-type]


def test_anonymous_only_without_tokens_and_on_loopback_or_when_allowed() -> None:
    grant = TokenGrant("a", hash_token("t"), {ALL: ADMIN})
    ctx: Any = Context()
    assert Authenticator.from_config(ServerConfig(listen="127.0.0.1:1")).authenticate(ctx)
    with pytest.raises(Unauthenticated):
        Authenticator.from_config(ServerConfig(listen="0.0.0.0:1")).authenticate(ctx)
    allowed = ServerConfig(listen="0.0.0.0:1", allow_anonymous=True)
    assert Authenticator.from_config(allowed).authenticate(ctx).name == "anonymous"
    with pytest.raises(Unauthenticated):
        Authenticator.from_config(
            ServerConfig(listen="127.0.0.1:1", tokens=(grant,), allow_anonymous=True)
        ).authenticate(ctx)


# -- deadlines -------------------------------------------------------------------------------


def test_check_deadline_boundaries() -> None:
    call_with(Context(remaining=None)).check_deadline()
    call_with(Context(remaining=0.001)).check_deadline()
    for remaining in (0.0, -1.0):
        with pytest.raises(DeadlineExceeded):
            call_with(Context(remaining=remaining)).check_deadline()
    with pytest.raises(DeadlineExceeded):
        call_with(Context(active=False, remaining=10)).check_deadline()


@dataclass
class FakeState:
    """What State.cpu_slot and stream_slot use of ``self``."""

    workers: int = 1
    _cpu: threading.BoundedSemaphore = field(init=False)
    _streams: threading.BoundedSemaphore = field(init=False)
    config: ServerConfig = field(init=False)

    def __post_init__(self) -> None:
        self._cpu = threading.BoundedSemaphore(self.workers)
        self._streams = threading.BoundedSemaphore(1)
        self.config = ServerConfig(limits=Limits(workers=self.workers, max_streams=1))


def test_cpu_slot_waits_for_a_slot_until_the_deadline() -> None:
    state: Any = FakeState()
    state._cpu.acquire()
    threading.Timer(0.2, state._cpu.release).start()
    with State.cpu_slot(state, call_with(Context(remaining=10))):  # waits, then gets it
        assert not state._cpu.acquire(blocking=False)
    assert state._cpu.acquire(blocking=False)  # released again
    started = time.monotonic()
    with (
        pytest.raises(DeadlineExceeded),
        State.cpu_slot(state, call_with(Context(remaining=-5))),  # busy, deadline passed
    ):
        pass
    assert time.monotonic() - started < 5
    state._cpu.release()


def test_cpu_slot_checks_the_deadline_once_held_and_releases() -> None:
    state: Any = FakeState()
    with pytest.raises(DeadlineExceeded), State.cpu_slot(state, call_with(Context(active=False))):
        pass
    assert state._cpu.acquire(blocking=False), "the slot was released after the refusal"


def test_stream_slot_limit() -> None:
    state: Any = FakeState()
    with State.stream_slot(state), pytest.raises(LimitExceeded), State.stream_slot(state):
        pass
    with State.stream_slot(state):
        pass


def test_content_limit_is_inclusive() -> None:
    state: Any = FakeState()
    state.config = ServerConfig(limits=Limits(max_content_bytes=4))
    State.check_content(state, b"1234", "content")
    with pytest.raises(LimitExceeded):
        State.check_content(state, b"12345", "content")


# -- lookups confined to the grant -----------------------------------------------------------


class FakeEngine:
    def __init__(self, banks: list[str]) -> None:
        self.banks = banks
        self.asked: list[Any] = []

    def bank_names(self) -> list[str]:
        return self.banks

    def lookup_many(self, queries: Any, *, banks: Any, **options: Any) -> list[LookupResult]:
        self.asked.append(banks)
        every = [Match(b, 1, "x", (), ()) for b in self.banks]
        return [LookupResult(matches=list(every)) for _ in queries]


class FakeMetrics:
    def count_lookups(self, lookups: Any) -> None:
        list(lookups)


def servicer(banks: list[str]) -> tuple[MatchingServicer, FakeEngine]:
    engine = FakeEngine(banks)
    state: Any = type("S", (), {})()
    state.require_engine = lambda: engine
    state.metrics = FakeMetrics()
    return MatchingServicer(state), engine


def test_scope_and_results_never_leave_the_grant() -> None:
    svc, engine = servicer(["a", "b", "c"])
    limited = call_with(Context(), Principal("p", {"a": LOOKUP, "b": ADMIN}))
    scope = svc._scope(limited, [])
    assert scope == ["a", "b"]
    assert svc._scope(call_with(Context(), Principal("s", {ALL: LOOKUP})), []) is None
    assert svc._scope(call_with(Context(), Principal("s", {ALL: LOOKUP})), ["c"]) == ["c"]
    [result] = svc._lookup_many([[]], None, scope, [])
    assert [m.bank for m in result.matches] == ["a", "b"]  # the engine returned c too
    assert engine.asked == [["a", "b"]]
    assert svc._lookup_many([[]], None, [], []) == [LookupResult()]  # nothing granted exists
    assert engine.asked == [["a", "b"]], "an empty scope never reaches the engine"
    [result] = svc._lookup_many([[]], None, None, [])
    assert [m.bank for m in result.matches] == ["a", "b", "c"]
    assert svc._lookup_many([], None, None, []) == []


def test_batch_checks_the_deadline_before_each_query_and_before_the_lookup() -> None:
    svc, _ = servicer(["a"])
    asked: list[str] = []
    svc._query_signals = lambda query, prefix: (asked.append(prefix), ([], []))[1]  # type: ignore[method-assign]
    lookups: list[int] = []
    svc._lookup_many = lambda q, t, s, loosen: (
        lookups.append(len(q)),
        [LookupResult() for _ in q],
    )[1]  # type: ignore[method-assign]

    class Clock:
        """A call whose deadline passes at the n-th check."""

        def __init__(self, n: int) -> None:
            self.n = n
            self.checks = 0

        def check_deadline(self) -> None:
            self.checks += 1
            if self.checks >= self.n:
                raise DeadlineExceeded("deadline exceeded")

    queries: Any = [type("Q", (), {"query_id": str(i)})() for i in range(3)]
    with pytest.raises(DeadlineExceeded):
        svc._run_batch(queries, None, None, [], Clock(2))  # type: ignore[arg-type]
    assert asked == ["queries[0]."], "no query starts after the deadline"
    asked.clear()
    with pytest.raises(DeadlineExceeded):
        svc._run_batch(queries, None, None, [], Clock(4))  # type: ignore[arg-type]
    assert len(asked) == 3 and lookups == [], "no lookup starts after the deadline"
    answers, found = svc._run_batch(queries, None, None, [], Clock(99))  # type: ignore[arg-type]
    assert [a.query_id for a in answers] == ["0", "1", "2"] and found == []


# -- streams: the watcher's filter and its end, a batch's limit and its audit -----------------


class Subscription:
    def __init__(self, closed: bool, dropped: int = 0) -> None:
        self.closed = closed
        self.dropped = dropped
        self.polled = 0

    def close(self) -> None:
        self.closed = True

    def get(self, timeout: float) -> None:
        self.polled += 1
        self.closed = True  # one poll, then the stream ends


class Events:
    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.accepts: Any = None
        self.unsubscribed: list[Subscription] = []

    def subscribe(self, accepts: Any) -> Subscription:
        self.accepts = accepts
        return self.subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.unsubscribed.append(subscription)


class StreamContext(Context):
    def __init__(self, active: bool) -> None:
        super().__init__(active=active)
        self.callbacks: list[Any] = []

    def add_callback(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def send_initial_metadata(self, metadata: Any) -> None:
        pass


def watch(banks: list[str], principal: Principal, *, active: bool, closed: bool = False) -> Any:
    svc, _ = servicer(["a", "b"])
    subscription = Subscription(closed, dropped=3)
    svc.state.events = events = Events(subscription)
    dropped: list[int] = []
    svc.state.metrics.dropped_events = type("C", (), {"inc": lambda _, n: dropped.append(n)})()
    context = StreamContext(active)
    request: Any = type("R", (), {"banks": banks})()
    list(MatchingServicer.WatchMatches.__wrapped__(svc, request, call_with(context, principal)))  # type: ignore[attr-defined]
    return events, subscription, context, dropped


def test_watchers_hear_only_granted_and_wanted_banks_and_stop_with_the_call() -> None:
    p = Principal("p", {"a": LOOKUP, "b": LOOKUP, "c": ADMIN})
    events, subscription, context, dropped = watch(["b"], p, active=False)
    assert [events.accepts(bank) for bank in ("a", "b", "c", "z")] == [False, True, False, False]
    assert subscription.polled == 0, "a call no longer active is not polled"
    assert context.callbacks == [subscription.close], "the subscription ends with the call"
    assert events.unsubscribed == [subscription] and dropped == [3]
    events, subscription, _, _ = watch([], p, active=True)
    assert [events.accepts(bank) for bank in ("a", "b", "c", "z")] == [True, True, True, False]
    assert subscription.polled == 1
    with pytest.raises(PermissionDenied):
        watch(["z"], p, active=True)


def test_batch_limit_is_inclusive_and_every_batch_is_audited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hashcore_server import convert, matching

    svc, _ = servicer(["a"])
    svc.state.config = ServerConfig(limits=Limits(max_batch_queries=2))
    svc.state.registry = None
    svc.state.cpu_slot = lambda call: _null()
    monkeypatch.setattr(convert, "thresholds_from_pb", lambda raw, registry: None)
    monkeypatch.setattr(matching.convert, "thresholds_from_pb", lambda raw, registry: None)
    recorded: list[Any] = []
    svc._scope = lambda call, banks: None  # type: ignore[method-assign]
    svc._loosen_banks = lambda call, scope, thresholds: []  # type: ignore[method-assign]
    svc._run_batch = lambda q, t, s, loosen, call: ([pb.QueryResult(query_id="q")], ["found"])  # type: ignore[method-assign]
    svc._record = lambda call, found: recorded.append(found)  # type: ignore[method-assign]
    request: Any = type("R", (), {"queries": [1, 2], "banks": [], "thresholds": {}})()
    call = call_with(Context())
    out = list(MatchingServicer.LookupBatch.__wrapped__(svc, [request, request], call))  # type: ignore[attr-defined]
    assert len(out) == 2 and recorded == [["found"], ["found"]]
    too_many: Any = type("R", (), {"queries": [1, 2, 3], "banks": [], "thresholds": {}})()
    with pytest.raises(LimitExceeded):
        list(MatchingServicer.LookupBatch.__wrapped__(svc, [too_many], call))  # type: ignore[attr-defined]


def _null() -> Any:
    import contextlib

    return contextlib.nullcontext()


def test_batch_reports_the_queries_that_matched_for_the_audit() -> None:
    svc, _ = servicer(["a"])
    svc._query_signals = lambda query, prefix: ([], [])  # type: ignore[method-assign]
    hit = LookupResult(matches=[Match("a", 1, "x", (), ())])
    svc._lookup_many = lambda q, t, s, loosen: [LookupResult(), hit]  # type: ignore[method-assign]
    queries: Any = [type("Q", (), {"query_id": str(i)})() for i in range(2)]
    answers, found = svc._run_batch(queries, None, None, [], call_with(Context()))
    assert [a.query_id for a in answers] == ["0", "1"]
    assert [(query_id, result) for query_id, _, result in found] == [("1", hit)]


def test_only_admins_loosen_and_only_within_the_servers_bound(
    registry: Any,
) -> None:
    svc, _ = servicer(["a", "b"])
    svc.state.registry = registry
    svc.state.config = ServerConfig(admin_threshold_bounds={"pdq": 40})
    admin_a = call_with(Context(), Principal("p", {"a": ADMIN, "b": LOOKUP}))
    reader = call_with(Context(), Principal("r", {ALL: LOOKUP}))
    assert svc._loosen_banks(admin_a, None, None) == []
    assert svc._loosen_banks(admin_a, None, {}) == []
    assert svc._loosen_banks(admin_a, None, {"pdq": 40}) == ["a"]
    assert svc._loosen_banks(admin_a, ["b"], {"pdq": 40}) == []
    with pytest.raises(InvalidInput):
        svc._loosen_banks(admin_a, None, {"pdq": 41})
    with pytest.raises(InvalidInput):
        svc._loosen_banks(admin_a, ["a"], {"pdq": 41})
    assert svc._loosen_banks(reader, None, {"pdq": 200}) == [], "clamped by the engine instead"


def test_peer_is_what_the_audit_records() -> None:
    assert call_with(Context()).peer == "ipv4:127.0.0.1:1"
    nobody: Any = Context()
    nobody.peer = lambda: None
    assert call_with(nobody).peer == ""
