"""Feedback to partner APIs: an opinion becomes the partner's own request, sent over HTTP.

What each partner understands lives in its format plugin: a :class:`FeedbackFormat` named like
the bank format whose entries it speaks for, returned from the ``hashcore_feedback_formats``
hook (ThreatExchange, StopNCII and NCMEC ship with hashcore). :func:`send_feedback` asks it for
the requests, sends them with the partner HTTP client
(:class:`~hashcore.formats.http.HttpClient`: retries, credentials only to the partner's origin)
and marks each opinion sent, so ``hashcore opinion feedback`` sends each one once. Only this
store's own opinions are sent (a partner's opinion is not ours to forward), and of those only
each author's latest on an entry: the partner holds one verdict of ours per entry, so an
opinion replaced before it went out is marked not sent rather than sent and overruled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import pluggy

from hashcore.errors import InvalidInput, NotFound
from hashcore.formats.http import HttpClient
from hashcore.model import Entry
from hashcore.opinions.model import Opinion, OpinionKind
from hashcore.opinions.outbox import Standing, mark_sent, standing
from hashcore.plugin_classes import classes_by_name
from hashcore.store import Store


@dataclass(frozen=True, slots=True)
class FeedbackRequest:
    """One HTTP request to a partner API: ``url`` is absolute (under the API's base URL)."""

    method: str
    url: str
    body: bytes = b""
    content_type: str | None = None


class FeedbackFormat:
    """Subclass, set ``name`` (the bank format's) and ``description``, implement
    :meth:`requests` (and :meth:`check_url` when the URL carries more than an address)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def check_url(self, url: str) -> None:
        """Raise :class:`InvalidInput` for a base URL the partner's requests cannot be built
        from; called before anything is sent or marked."""

    def requests(self, opinion: Opinion, entry: Entry, url: str) -> list[FeedbackRequest]:
        """The requests that tell the partner at ``url`` (its API's base URL, no trailing
        slash) this opinion on ``entry``; an empty list when the partner has no way to say
        this kind of opinion (it is then recorded as not sent). :class:`InvalidInput` when
        ``entry`` is not keyed like the partner's: the run stops before anything is sent."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Step:
    """What one author's standing opinion on an entry becomes: ``outcome`` is the count it
    adds to (``None``: already sent), ``requests`` what goes out."""

    standing: Standing
    outcome: str | None
    requests: list[FeedbackRequest]


def load_feedback_formats(manager: pluggy.PluginManager) -> dict[str, type[FeedbackFormat]]:
    """Every class returned by ``hashcore_feedback_formats``, by name; duplicates fail."""
    results = manager.hook.hashcore_feedback_formats()
    return classes_by_name(results, FeedbackFormat, "feedback format")


def feedback_format(formats: Mapping[str, type[FeedbackFormat]], name: str) -> FeedbackFormat:
    if name not in formats:
        known = ", ".join(sorted(formats)) or "none"
        raise NotFound(f"format {name!r} sends no feedback (those that do: {known})",
                       field="format")  # fmt: skip
    return formats[name]()


def send_feedback(
    store: Store,
    fmt: FeedbackFormat,
    bank: str,
    url: str,
    client: HttpClient,
    *,
    partners: Collection[str],
) -> Counter[str]:
    """Send each author's standing opinion on the entries of ``bank`` to the partner API at
    ``url``, once; returns counts: ``sent`` opinions, ``requests`` made, ``not expressible``
    (the partner has no form for that kind), ``superseded`` (replaced by the same author
    before they went out), ``nothing to withdraw`` (a withdrawal of an opinion the partner
    never got). Every request is built first, so a wrong URL, or a bank or entry that came
    from another of ``partners`` (the feedback formats' names), refuses the run with nothing
    sent or marked. A failed request raises, leaving that opinion and the later ones pending."""
    base = url.rstrip("/")
    fmt.check_url(base)
    groups = standing(store, bank)
    _check_partner(store, fmt, bank, groups, partners)
    steps = [_step(store, fmt, group, base) for group in groups]
    counts: Counter[str] = Counter()
    delivered = f"feedback:{fmt.name}"
    for step in steps:
        for request in step.requests:
            client.send(
                request.method, request.url, request.body, content_type=request.content_type
            )
            counts["requests"] += 1
        if step.outcome is not None:
            counts[step.outcome] += 1
            checkpoint = delivered if step.outcome == "sent" else _not_sent(fmt, step.outcome)
            mark_sent(store, [step.standing.latest.id], checkpoint)
        superseded = [o.id for o in step.standing.superseded]
        counts["superseded"] += mark_sent(store, superseded, _not_sent(fmt, "superseded"))
    return counts


def _not_sent(fmt: FeedbackFormat, why: str) -> str:
    """The ``sent_to`` of an opinion that left the outbox without reaching the partner."""
    return f"feedback:{fmt.name} (not sent: {why})"


def _step(store: Store, fmt: FeedbackFormat, group: Standing, base: str) -> _Step:
    """What the author's latest opinion on the entry becomes. A withdrawal goes out only
    when it takes back an opinion this partner received; otherwise there is nothing there
    to take back."""
    latest = group.latest
    if latest.sent_at is not None:
        return _Step(group, None, [])
    entry = store.find_entry(latest.bank, latest.external_id)
    if latest.kind is OpinionKind.WITHDRAWN:
        received = [o for o in group.history[:-1] if o.sent_to == f"feedback:{fmt.name}"]
        if not received or received[-1].kind is OpinionKind.WITHDRAWN:
            return _Step(group, "nothing to withdraw", [])
    requests = fmt.requests(latest, entry, base)
    return _Step(group, "sent" if requests else "not expressible", requests)


def _check_partner(
    store: Store, fmt: FeedbackFormat, bank: str, groups: Sequence[Standing],
    partners: Collection[str],
) -> None:  # fmt: skip
    """Refuse feedback in one partner's form about a bank (or an entry) another partner's
    feed filled: every opinion would come out unsayable and never be sent again."""
    source = store.get_bank(bank).source
    if source in partners and source != fmt.name:
        raise InvalidInput(
            f"bank {bank!r} is fed by {source}: its feedback goes with --format {source}, "
            f"not {fmt.name} (nothing sent)",
            field="format",
        )
    for group in groups:
        entry = store.find_entry(bank, group.latest.external_id)
        if entry.source in partners and entry.source != fmt.name:
            raise InvalidInput(
                f"entry {bank}/{entry.external_id} came from {entry.source}: its feedback "
                f"goes with --format {entry.source}, not {fmt.name} (nothing sent)",
                field="format",
            )
