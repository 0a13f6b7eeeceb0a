"""Reading whole JSON documents from partner files, with a size limit and positions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from hashcore.errors import LimitExceeded
from hashcore.formats.base import BankFormat
from hashcore.formats.http import HttpClient
from hashcore.formats.records import BankUpdate, Item, Problem, partner_labels
from hashcore.model import EntryStatus
from hashcore.signals import Signal

MAX_DOCUMENT = 512 << 20
"""JSON page formats are read whole; a page is small, so anything this big is a mistake."""


def load_document(stream: IO[bytes], where: str) -> Any | Problem:
    """The parsed document, or a :class:`Problem` saying where the JSON broke."""
    body = stream.read(MAX_DOCUMENT + 1)
    if len(body) > MAX_DOCUMENT:
        raise LimitExceeded(f"{where}: JSON document over {MAX_DOCUMENT} bytes")
    return parse_document(body, where)


def parse_document(body: bytes, where: str) -> Any | Problem:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        return Problem(where, "not UTF-8 text")
    except json.JSONDecodeError as error:
        return Problem(
            f"{where} line {error.lineno} column {error.colno}", f"malformed JSON: {error.msg}"
        )
    except RecursionError:
        return Problem(where, "JSON nested too deeply")


class JsonPagesFormat(BankFormat):
    """A partner whose file is a JSON document and whose API serves JSON pages.

    JSON that does not parse is a :class:`Problem` that ends the feed where it is, in
    :meth:`read` and in :meth:`get_page` alike; a subclass says what a page holds (``page``).
    """

    def read(self, stream: IO[bytes]) -> Iterator[Item]:
        document = load_document(stream, "file")
        if isinstance(document, Problem):
            yield document
        else:
            yield from self.file_items(document)

    def file_items(self, document: Any) -> Iterator[Item]:
        """The items of a whole file: one page (the default)."""
        return self.page(document, "file")

    def page(self, document: Any, where: str) -> Iterator[Item]:
        """The items of one page, ``where`` naming it in problems."""
        raise NotImplementedError

    def one_hash_update(
        self,
        key: str,
        signal: Signal,
        status: EntryStatus,
        updated: float | None,
        position: str,
        **more: Any,
    ) -> BankUpdate:
        """One record's snapshot: these partners send one hash a record, from this feed; its
        opinion and content kind are kept as labels too (``records.partner_labels``)."""
        labels = partner_labels(more.pop("labels", ()), more.get("opinion"),
                                more.get("content_kind"))  # fmt: skip
        return BankUpdate(
            key, (signal,), labels, source=self.source_name, status=status, updated_at=updated,
            position=position, **more,
        )  # fmt: skip

    @staticmethod
    def get_page(client: HttpClient, url: str, number: int) -> Any | Problem:
        """API page ``number``, parsed, or the :class:`Problem` that ends the feed there."""
        return parse_document(client.get(url, accept="application/json"), f"page {number}")
