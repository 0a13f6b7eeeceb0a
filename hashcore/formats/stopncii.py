"""StopNCII ``FetchHashes`` JSON pages, from a file or from the API.

Each record is a full snapshot of one (signalType, hashValue): key = ``signalType:hashValue``.
``hashStatus`` Withdrawn or Deleted means the hash must stop matching at once: a withdrawn NCII
hash that keeps matching hurts the person it was meant to protect. (An open-source client tests
``hashValue`` there by mistake and never deletes; we test ``hashStatus``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import hashcore
from hashcore.errors import InvalidInput
from hashcore.formats.http import HttpClient, with_query
from hashcore.formats.jsonutil import JsonPagesFormat
from hashcore.formats.records import Checkpoint, Item, Problem, Skip
from hashcore.formats.timeutil import to_unix
from hashcore.model import Entry, EntryStatus
from hashcore.opinions.feedback import FeedbackFormat, FeedbackRequest
from hashcore.opinions.model import Opinion
from hashcore.signals import Signal

STATUSES: dict[str, EntryStatus] = {
    "active": EntryStatus.ACTIVE,
    "received": EntryStatus.ACTIVE,
    "withdrawn": EntryStatus.WITHDRAWN,
    "deleted": EntryStatus.DELETED,
}
PAGE_SIZE = 800


class StopnciiFormat(JsonPagesFormat):
    name: ClassVar[str] = "stopncii"
    description: ClassVar[str] = "StopNCII FetchHashes JSON (file or API)"
    options_allowed: ClassVar[frozenset[str]] = frozenset({"page_size"})

    def file_items(self, document: Any) -> Iterator[Item]:
        """A file holds one page or a list of them."""
        pages = document if isinstance(document, list) else [document]
        for number, page in enumerate(pages, 1):
            yield from self.page(page, f"page {number}" if len(pages) > 1 else "file")

    def auth_headers(self, credentials: str) -> dict[str, str]:
        """``SUBSCRIPTION_KEY[:FUNCTION_KEY]``: the API gateway key and the function key."""
        subscription, _, function = credentials.partition(":")
        headers = {"Ocp-Apim-Subscription-Key": subscription}
        if function:
            headers["x-functions-key"] = function
        return headers

    def fetch(self, client: HttpClient, url: str, checkpoint: Checkpoint | None) -> Iterator[Item]:
        state = dict(checkpoint.state) if checkpoint else {}
        start = int(state.get("start", 0))
        token = state.get("token")
        number = int(state.get("page", 1))
        size = self.options.get("page_size", PAGE_SIZE)
        while True:
            page_url = with_query(
                url, {"startTimestamp": start, "pageSize": size, "nextPageToken": token}
            )
            document = self.get_page(client, page_url, number)
            if isinstance(document, Problem):
                yield document
                return
            yield from self.page(document, f"page {number}")
            more = isinstance(document, dict) and document.get("hasMoreRecords") is True
            token = document.get("nextPageToken") if isinstance(document, dict) else None
            if not (more and isinstance(token, str) and token):
                following = document.get("nextSetTimestamp") if isinstance(document, dict) else None
                if isinstance(following, int | float) and not isinstance(following, bool):
                    start = max(start, int(following))
                yield Checkpoint({"start": start})
                return
            number += 1
            yield Checkpoint({"start": start, "token": token, "page": number})

    def page(self, page: object, where: str) -> Iterator[Item]:
        if not isinstance(page, dict) or not isinstance(page.get("hashRecords"), list):
            yield Problem(where, "not a FetchHashes page (no hashRecords list)")
            return
        for index, record in enumerate(page["hashRecords"], 1):
            yield self.record(record, f"{where} record {index}")

    def record(self, record: object, position: str) -> Item:
        if not isinstance(record, Mapping):
            return Problem(position, "record is not an object")
        raw_type, value = record.get("signalType"), record.get("hashValue")
        if not isinstance(raw_type, str) or not isinstance(value, str):
            return Problem(position, "signalType or hashValue missing")
        status = STATUSES.get(str(record.get("hashStatus", "")).lower())
        if status is None:
            return Problem(position, "unknown hashStatus")
        signal = self.families.signal(raw_type, value, position)
        if not isinstance(signal, Signal):
            return signal
        try:
            updated = _time(record.get("lastModtimestamp"))
        except InvalidInput:
            return Problem(position, "malformed lastModtimestamp")
        key = f"{raw_type}:{value.strip().lower()}"
        return self.one_hash_update(
            key, signal, status, updated, position, content_kind=_kind(raw_type)
        )


def _time(value: Any) -> float | None:
    return None if value is None else to_unix(value)


def _kind(raw_type: str) -> str | None:
    lowered = raw_type.lower()
    return (
        "image" if lowered.startswith("image") else "video" if lowered.startswith("video") else None
    )


__all__ = ["Skip", "StopnciiFormat"]


@hashcore.hookimpl
def hashcore_bank_formats() -> list[type]:
    return [StopnciiFormat]


STOPNCII_FEEDBACK = {"confirmed": "Upheld", "false_positive": "Overturned", "withdrawn": "None"}
"""Opinion kind -> StopNCII ``feedbackValue``; a dispute has no StopNCII form."""


class StopnciiFeedback(FeedbackFormat):
    """``POST SubmitFeedback`` with one ``hashFeedbacks`` item for the entry's
    ``(signalType, hashValue)``, the key StopNCII records are kept under."""

    name: ClassVar[str] = "stopncii"
    description: ClassVar[str] = "StopNCII SubmitFeedback (Upheld, Overturned)"

    def requests(self, opinion: Opinion, entry: Entry, url: str) -> list[FeedbackRequest]:
        signal_type, _, hash_value = entry.external_id.partition(":")
        if not signal_type or not hash_value:
            raise InvalidInput(
                f"entry {entry.external_id!r} is not keyed like a StopNCII record "
                "(SIGNALTYPE:HASH)",
                field="external_id",
            )
        value = STOPNCII_FEEDBACK.get(opinion.kind)
        if value is None:
            return []
        feedback = {"signalType": signal_type, "hashValue": hash_value,
                    "feedbackValue": value, "tags": []}  # fmt: skip
        body = json.dumps({"hashFeedbacks": [feedback]}, separators=(",", ":")).encode()
        return [FeedbackRequest("POST", f"{url}/SubmitFeedback", body, "application/json")]


@hashcore.hookimpl
def hashcore_feedback_formats() -> list[type]:
    return [StopnciiFeedback]
