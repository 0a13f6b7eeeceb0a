"""Tech Against Terrorism (TCAP) hash list JSON, from a file or a paged API.

Entries: ``id, hash_digest, algorithm (MD5 | SHA256 | SHA512 | PDQ), ideology, file_type,
deleted, updated_on, created_on``. Key = ``id``; ``ideology`` becomes the label ``tat:<ideology>``.
The list endpoint is not public: API mode assumes a JSON page ``{"results": [...], "next": url}``
(or a bare list), asks for ``?updated_after=<checkpoint>`` and follows ``next``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import hashcore
from hashcore.errors import InvalidInput
from hashcore.formats.http import HttpClient, join_url, with_query
from hashcore.formats.jsonutil import JsonPagesFormat
from hashcore.formats.records import BankUpdate, Checkpoint, Item, Problem
from hashcore.formats.timeutil import to_iso, to_unix
from hashcore.model import EntryStatus
from hashcore.signals import Signal

LIST_KEYS = ("results", "data", "hashes", "items")


class TatFormat(JsonPagesFormat):
    name: ClassVar[str] = "tat"
    description: ClassVar[str] = "Tech Against Terrorism (TCAP) hash list JSON (file or API)"

    def fetch(self, client: HttpClient, url: str, checkpoint: Checkpoint | None) -> Iterator[Item]:
        state = dict(checkpoint.state) if checkpoint else {}
        since = state.get("updated_after")
        number = int(state.get("page", 1))
        newest: list[float] = (
            [float(state["max"])] if isinstance(state.get("max"), int | float) else []
        )
        link = state.get("next")
        page_url = (
            join_url(url, link)
            if isinstance(link, str) and link
            else with_query(url, {"updated_after": since})
        )
        while True:
            document = self.get_page(client, page_url, number)
            if isinstance(document, Problem):
                yield document
                return
            yield from self.page(document, f"page {number}", newest)
            following = document.get("next") if isinstance(document, dict) else None
            top = max(newest) if newest else None
            if not (isinstance(following, str) and following):
                yield Checkpoint({"updated_after": to_iso(top) if top is not None else since})
                return
            number += 1
            yield Checkpoint(
                {"updated_after": since, "next": following, "max": top, "page": number}
            )
            page_url = join_url(url, following)

    def page(
        self, document: object, where: str, newest: list[float] | None = None
    ) -> Iterator[Item]:
        """The page's items; ``newest`` (API mode) keeps the latest ``updated_on`` seen."""
        entries = _entries(document)
        if entries is None:
            yield Problem(where, "not a hash list (no list of entries)")
            return
        for index, entry in enumerate(entries, 1):
            item = self.entry(entry, f"{where} record {index}")
            if newest is not None and isinstance(item, BankUpdate) and item.updated_at:
                newest[:] = [max([item.updated_at, *newest])]
            yield item

    def entry(self, entry: object, position: str) -> Item:
        if not isinstance(entry, Mapping):
            return Problem(position, "record is not an object")
        tat_id, algorithm = entry.get("id"), entry.get("algorithm")
        if not isinstance(tat_id, str | int) or not isinstance(algorithm, str):
            return Problem(position, "id or algorithm missing")
        key = str(tat_id)
        position = f"{position} (id {key})"
        signal = self.families.signal(algorithm, entry.get("hash_digest"), position)
        if not isinstance(signal, Signal):
            return signal
        try:
            updated = _time(entry.get("updated_on"))
            created = _time(entry.get("created_on"))
        except InvalidInput:
            return Problem(position, "malformed updated_on or created_on")
        deleted = entry.get("deleted")
        status = EntryStatus.DELETED if deleted is True or deleted == "true" else EntryStatus.ACTIVE
        ideology = entry.get("ideology")
        labels = (
            (f"tat:{ideology.strip()}",) if isinstance(ideology, str) and ideology.strip() else ()
        )
        kind = entry.get("file_type")
        return self.one_hash_update(
            key, signal, status, updated, position, labels=labels, created_at=created,
            content_kind=kind if isinstance(kind, str) else None,
        )  # fmt: skip


def _entries(document: object) -> list[Any] | None:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in LIST_KEYS:
            if isinstance(document.get(key), list):
                return list(document[key])
    return None


def _time(value: Any) -> float | None:
    return None if value in (None, "") else to_unix(value)


@hashcore.hookimpl
def hashcore_bank_formats() -> list[type]:
    return [TatFormat]
