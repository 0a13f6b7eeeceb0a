"""Feedback to partner APIs: an opinion becomes the partner's own request, sent over HTTP.

What each partner understands lives in its format plugin: a :class:`FeedbackFormat` named like
the bank format whose entries it speaks for, returned from the ``hashcore_feedback_formats``
hook (ThreatExchange, StopNCII and NCMEC ship with hashcore). :func:`send_feedback` asks it for
the requests, sends them with the partner HTTP client
(:class:`~hashcore.formats.http.HttpClient`: retries, credentials only to the partner's origin)
and marks each opinion sent, so ``hashcore opinion feedback`` sends each one once. Only this
store's own opinions are sent: a partner's opinion is not ours to forward.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import pluggy

from hashcore.errors import NotFound
from hashcore.formats.http import HttpClient
from hashcore.model import Entry
from hashcore.opinions.model import Opinion
from hashcore.opinions.outbox import mark_sent, pending
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
    :meth:`requests`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def requests(self, opinion: Opinion, entry: Entry, url: str) -> list[FeedbackRequest]:
        """The requests that tell the partner at ``url`` (its API's base URL, no trailing
        slash) this opinion on ``entry``; an empty list when the partner has no way to say
        it (the opinion is then marked sent all the same)."""
        raise NotImplementedError


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
    store: Store, fmt: FeedbackFormat, bank: str, url: str, client: HttpClient
) -> Counter[str]:
    """Send this store's pending opinions on ``bank`` to the partner API at ``url``; returns
    counts: ``sent`` opinions, ``requests`` made, ``not expressible`` (the partner has no way
    to say it). A failed request raises, leaving that opinion and the later ones pending."""
    counts: Counter[str] = Counter()
    base = url.rstrip("/")
    for opinion in pending(store, bank):
        entry = store.find_entry(opinion.bank, opinion.external_id)
        requests = fmt.requests(opinion, entry, base)
        for request in requests:
            client.send(
                request.method, request.url, request.body, content_type=request.content_type
            )
            counts["requests"] += 1
        counts["sent" if requests else "not expressible"] += 1
        mark_sent(store, [opinion.id], f"feedback:{fmt.name}")
    return counts
