"""Meta ThreatExchange ``threat_updates`` JSON (Graph API), from a file or the API.

Key = the indicator's ThreatExchange id. Descriptor tags become labels. An indicator is deleted
when ``should_delete`` is set or no descriptor is left. ``NON_MALICIOUS`` is a negative opinion
(a false positive): when no descriptor says ``MALICIOUS`` but one says ``NON_MALICIOUS`` the
entry is *withdrawn*, so it stops matching but stays on record. Descriptors that all say
``UNKNOWN`` share it unclassified: an active lead (pytx's ``INVESTIGATION_SEED``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import hashcore
from hashcore.errors import InvalidInput
from hashcore.formats.http import HttpClient, join_url, redact_url, with_query
from hashcore.formats.jsonutil import JsonPagesFormat
from hashcore.formats.records import Checkpoint, Item, Opinion, Problem
from hashcore.formats.timeutil import to_unix
from hashcore.model import Entry, EntryStatus
from hashcore.opinions.feedback import FeedbackFormat, FeedbackRequest
from hashcore.opinions.model import Opinion as OpinionRecord
from hashcore.signals import Signal

PAGE_SIZE = 1000
SECRET_PARAMS = frozenset({"access_token"})


class ThreatExchangeFormat(JsonPagesFormat):
    name: ClassVar[str] = "threatexchange"
    description: ClassVar[str] = "Meta ThreatExchange threat_updates JSON (file or Graph API)"
    options_allowed: ClassVar[frozenset[str]] = frozenset({"page_size"})

    def auth_headers(self, credentials: str) -> dict[str, str]:
        """The access token goes in a header, never in a URL that could end up in a log."""
        return {"Authorization": f"OAuth {credentials}"}

    def fetch(self, client: HttpClient, url: str, checkpoint: Checkpoint | None) -> Iterator[Item]:
        state = dict(checkpoint.state) if checkpoint else {}
        start = int(state.get("start_time", 0))
        seen_max = state.get("max")
        number = int(state.get("page", 1))
        link = state.get("next")
        if isinstance(link, str) and link:
            page_url = join_url(url, link)
        else:
            size = self.options.get("page_size", PAGE_SIZE)
            page_url = with_query(url, {"start_time": start, "limit": size})
        while True:
            document = self.get_page(client, page_url, number)
            if isinstance(document, Problem):
                yield document
                return
            newest = _newest(document)
            if newest is not None and (not isinstance(seen_max, int | float) or newest > seen_max):
                seen_max = newest
            yield from self.page(document, f"page {number}")
            paging = document.get("paging") if isinstance(document, dict) else None
            following = paging.get("next") if isinstance(paging, dict) else None
            if not (isinstance(following, str) and following):
                done = int(seen_max) if isinstance(seen_max, int | float) else start
                yield Checkpoint({"start_time": max(start, done)})
                return
            number += 1
            following = strip_secrets(following)
            yield Checkpoint(
                {"start_time": start, "next": following, "max": seen_max, "page": number}
            )
            page_url = join_url(url, following)

    def page(self, document: object, where: str) -> Iterator[Item]:
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list):
            yield Problem(where, "not a threat_updates page (no data list)")
            return
        for index, item in enumerate(data, 1):
            yield self.record(item, f"{where} record {index}")

    def record(self, item: object, position: str) -> Item:
        if not isinstance(item, Mapping):
            return Problem(position, "record is not an object")
        te_id, raw_type, indicator = item.get("id"), item.get("type"), item.get("indicator")
        if not isinstance(te_id, str | int) or not isinstance(raw_type, str):
            return Problem(position, "id or type missing")
        key = str(te_id)
        position = f"{position} (id {key})"
        try:
            updated = _time(item.get("last_updated"))
        except InvalidInput:
            return Problem(position, "malformed last_updated")
        signal = self.families.signal(raw_type, indicator, position)
        if not isinstance(signal, Signal):
            return signal
        descriptors = _descriptors(item.get("descriptors"))
        labels = tuple(sorted({t for d in descriptors for t in _tags(d)}))
        statuses = {str(d.get("status", "")).upper() for d in descriptors}
        opinion: Opinion | None = Opinion.POSITIVE
        if item.get("should_delete") is True or not descriptors:
            status, opinion = EntryStatus.DELETED, None
        elif "MALICIOUS" not in statuses and "NON_MALICIOUS" in statuses:
            status, opinion = EntryStatus.WITHDRAWN, Opinion.NEGATIVE
        elif "MALICIOUS" not in statuses:  # UNKNOWN: shared unclassified, a lead (pytx's seed)
            status, opinion = EntryStatus.ACTIVE, Opinion.SEED
        else:
            status = EntryStatus.ACTIVE
        return self.one_hash_update(
            key, signal, status, updated, position, labels=labels, opinion=opinion
        )


def strip_secrets(url: str) -> str:
    """A Graph API ``next`` link without its access token, fit to store in a checkpoint."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in SECRET_PARAMS]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _descriptors(value: object) -> list[Mapping[str, Any]]:
    data = value.get("data") if isinstance(value, Mapping) else value
    return [d for d in data if isinstance(d, Mapping)] if isinstance(data, list) else []


def _tags(descriptor: Mapping[str, Any]) -> list[str]:
    tags = descriptor.get("tags")
    return (
        [t.strip() for t in tags if isinstance(t, str) and t.strip()]
        if isinstance(tags, list)
        else []
    )


def _time(value: Any) -> float | None:
    return None if value is None else to_unix(value)


def _newest(document: object) -> float | None:
    data = document.get("data") if isinstance(document, dict) else None
    newest: float | None = None
    for item in data if isinstance(data, list) else ():
        try:
            stamp = _time(item.get("last_updated")) if isinstance(item, Mapping) else None
        except InvalidInput:
            continue
        if stamp is not None and (newest is None or stamp > newest):
            newest = stamp
    return newest


@hashcore.hookimpl
def hashcore_bank_formats() -> list[type]:
    return [ThreatExchangeFormat]


TE_TYPES = {"pdq": "HASH_PDQ", "md5": "HASH_MD5", "tmk_pdqf": "HASH_TMK",
            "photodna": "HASH_PHOTODNA", "vpdq": "HASH_VIDEO_VPDQ"}  # fmt: skip
TE_STATUS = {"confirmed": "MALICIOUS", "false_positive": "NON_MALICIOUS", "disputed": "UNKNOWN"}
"""Opinion kind -> the status of our own descriptor on the indicator: ThreatExchange's opinion
(``NON_MALICIOUS`` is its false positive)."""


class ThreatExchangeFeedback(FeedbackFormat):
    """``POST /threat_descriptors``: our own descriptor on the entry's indicator, shared with
    the privacy group the bank is fetched from (the last part of ``--url``), its ``status``
    the opinion. A withdrawal has no descriptor form."""

    name: ClassVar[str] = "threatexchange"
    description: ClassVar[str] = "ThreatExchange descriptor opinion (MALICIOUS, NON_MALICIOUS)"

    def check_url(self, url: str) -> None:
        """The descriptor is shared with a privacy group: ``--url`` must end with its id."""
        group = url.rpartition("/")[2]
        if not group.isdigit():
            raise InvalidInput(
                f"--url {redact_url(url)} does not end with a numeric privacy group id "
                "(e.g. https://graph.facebook.com/v18.0/GROUP_ID); nothing sent",
                field="url",
            )

    def requests(self, opinion: OpinionRecord, entry: Entry, url: str) -> list[FeedbackRequest]:
        root, _, group = url.rpartition("/")
        signal = next((s for s in entry.signals if s.type in TE_TYPES), None)
        if signal is None:
            raise InvalidInput(
                f"entry {entry.external_id!r} has no hash ThreatExchange indexes "
                f"({', '.join(sorted(TE_TYPES))})",
                field="external_id",
            )
        status = TE_STATUS.get(opinion.kind)
        if status is None:
            return []
        form = {
            "indicator": signal.value.hex(),
            "type": TE_TYPES[signal.type],
            "status": status,
            "description": f"hashcore opinion: {opinion.kind.value}",
            "privacy_type": "HAS_PRIVACY_GROUP",
            "privacy_members": group,
        }
        body = urllib.parse.urlencode(form).encode()
        return [FeedbackRequest("POST", f"{root}/threat_descriptors", body,
                                "application/x-www-form-urlencoded")]  # fmt: skip


@hashcore.hookimpl
def hashcore_feedback_formats() -> list[type]:
    return [ThreatExchangeFeedback]
