"""NCMEC hash sharing, API v2: ``<queryResult>`` XML from a file or from the paged API.

Streams with the ElementTree pull parser and drops every entry once read, so memory stays flat
in file size. Key = ``member id`` + ``-`` + ``id``. Classification becomes the label
``ncmec:A1``. ``<deletedImage>``/``<deletedVideo>`` delete. Large fingerprints (TMK+PDQF) come
as links, fetched with a second request in API mode only.

Checkpoint: entries inside a time window are not time-ordered, so the window's max timestamp is
trusted only after the whole window is read. Between pages the checkpoint is the window and the
next link, so an interrupted fetch resumes at the page where it stopped.
"""

from __future__ import annotations

import base64
import binascii
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, ClassVar

import hashcore
from hashcore.errors import InvalidInput, NotFound
from hashcore.formats.base import BankFormat
from hashcore.formats.http import HttpClient, join_url, with_query
from hashcore.formats.records import BankUpdate, Checkpoint, Item, Problem, Skip
from hashcore.formats.timeutil import to_iso, to_unix
from hashcore.formats.xmlsafe import UnsafeXml, file_chunks, iter_events, local
from hashcore.model import EntryStatus
from hashcore.signals import Signal

ENTRY_TAGS = frozenset({"image", "video", "deletedImage", "deletedVideo"})
LINK_FAMILIES = frozenset({"tmk_pdqf", "videntifier"})
"""Fingerprints NCMEC sends as links because they are large."""
EPOCH = "2000-01-01T00:00:00Z"
TMK_MAGIC = b"TMK1"

LinkFetcher = Callable[[str], bytes]


@dataclass
class PageInfo:
    """What a page says about paging, filled while it streams."""

    next: str | None = None
    max_timestamp: float | None = None

    def saw(self, timestamp: float) -> None:
        if self.max_timestamp is None or timestamp > self.max_timestamp:
            self.max_timestamp = timestamp


class NcmecFormat(BankFormat):
    name: ClassVar[str] = "ncmec"
    description: ClassVar[str] = "NCMEC hash sharing API v2 XML (file or API, Basic auth)"
    options_allowed: ClassVar[frozenset[str]] = frozenset({"page_size"})

    def read(self, stream: IO[bytes]) -> Iterator[Item]:
        info = PageInfo()
        yield from self.parse(file_chunks(stream), "file", info, None)
        if info.next:
            yield Skip("paging link not followed (file mode)")

    def auth_headers(self, credentials: str) -> dict[str, str]:
        if ":" not in credentials:
            raise InvalidInput("ncmec credentials are USER:PASSWORD", field="credentials")
        token = base64.b64encode(credentials.encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def fetch(self, client: HttpClient, url: str, checkpoint: Checkpoint | None) -> Iterator[Item]:
        state = dict(checkpoint.state) if checkpoint else {}
        start = str(state.get("from") or EPOCH)
        end = str(state.get("to") or to_iso(time.time()))
        window_max = state.get("max")
        link = state.get("next")
        if isinstance(link, str) and link:
            page_url = join_url(url, link)
        else:
            size = self.options.get("page_size", 1000)
            page_url = with_query(f"{url.rstrip('/')}/v2/entries", {"from": start, "to": end})
            if size != 1000:
                page_url = with_query(page_url, {"size": size})
        page = int(state.get("page", 1))

        def fetch_link(href: str) -> bytes:
            return client.get(join_url(url, href))

        while True:
            info = PageInfo()
            body = client.get(page_url, accept="application/xml")
            yield from self.parse([body], f"page {page}", info, fetch_link)
            newest = info.max_timestamp
            if newest is not None and not (
                isinstance(window_max, int | float) and window_max >= newest
            ):
                window_max = newest
            if not info.next:
                done = to_iso(window_max) if isinstance(window_max, int | float) else start
                yield Checkpoint({"from": done})
                return
            page += 1
            yield Checkpoint(
                {"from": start, "to": end, "next": info.next, "max": window_max, "page": page}
            )
            page_url = join_url(url, info.next)

    def parse(
        self,
        chunks: Iterable[bytes],
        where: str,
        info: PageInfo,
        fetch_link: LinkFetcher | None,
    ) -> Iterator[Item]:
        """Items of one ``<queryResult>`` document; fills ``info`` with paging and max time."""
        stack: list[ET.Element] = []
        counts: dict[str, int] = {}
        try:
            for event, elem in iter_events(chunks):
                if event == "start":
                    stack.append(elem)
                    continue
                stack.pop()
                tag = local(elem.tag)
                if tag in ENTRY_TAGS:
                    counts[tag] = counts.get(tag, 0) + 1
                    yield from self._entry(
                        elem, tag, f"{where} {tag} #{counts[tag]}", info, fetch_link
                    )
                    if stack:
                        stack[-1].remove(elem)
                elif tag == "next" and stack and local(stack[-1].tag) == "paging":
                    info.next = (elem.text or "").strip() or None
                elif tag in ("images", "videos"):
                    stamp = elem.get("maxTimestamp")
                    if stamp:
                        try:
                            info.saw(to_unix(stamp))
                        except InvalidInput:
                            yield Problem(f"{where} <{tag}>", "malformed maxTimestamp")
        except UnsafeXml as error:
            yield Problem(where, error.message)
        except ET.ParseError as error:
            line, column = error.position
            yield Problem(f"{where} line {line} column {column}", "malformed XML")

    def _entry(
        self,
        elem: ET.Element,
        tag: str,
        position: str,
        info: PageInfo,
        fetch_link: LinkFetcher | None,
    ) -> Iterator[Item]:
        fields: dict[str, ET.Element] = {local(child.tag): child for child in elem}
        member = fields.get("member")
        member_id = (member.get("id") or "").strip() if member is not None else ""
        entry_id = _text(fields.get("id"))
        if not member_id or not entry_id:
            yield Problem(position, "entry without member id or id")
            return
        key = f"{member_id}-{entry_id}"
        position = f"{position} ({key})"
        stamp = _text(fields.get("timestamp"))
        try:
            updated_at = to_unix(stamp) if stamp else None
        except InvalidInput:
            yield Problem(position, "malformed timestamp")
            return
        if updated_at is not None:
            info.saw(updated_at)
        kind = "video" if tag in ("video", "deletedVideo") else "image"
        if tag.startswith("deleted"):
            yield BankUpdate(
                key,
                source=self.source_name,
                status=EntryStatus.DELETED,
                updated_at=updated_at,
                content_kind=kind,
                position=position,
            )
            return
        signals: list[Signal] = []
        prints = fields.get("fingerprints")
        for child in prints if prints is not None else ():
            result = self._fingerprint(child, position, fetch_link)
            if isinstance(result, Signal):
                signals.append(result)
            elif result is not None:
                yield result
        if not signals:
            yield Skip("no supported signal")
            return
        classification = _text(fields.get("classification"))
        labels = (f"ncmec:{classification}",) if classification else ()
        yield BankUpdate(
            key,
            tuple(signals),
            labels,
            self.source_name,
            EntryStatus.ACTIVE,
            updated_at,
            content_kind=kind,
            position=position,
        )

    def _fingerprint(
        self, child: ET.Element, position: str, fetch_link: LinkFetcher | None
    ) -> Signal | Skip | Problem | None:
        raw_type = local(child.tag)
        href = child.get("href")
        family = self.families.family(raw_type, position)
        if not isinstance(family, str):
            return family
        if href is None:
            return self.families.value(family, _text(child), position)
        if fetch_link is None:
            return Skip(f"{family} link not fetched (file mode)")
        try:
            payload = decode_feature(fetch_link(href))
        except (InvalidInput, NotFound) as error:  # a broken link spoils one entry, not the feed
            return Problem(position, f"{family} link: {error.message}")
        return self.families.value(family, payload, position)


def decode_feature(body: bytes) -> bytes:
    """A linked fingerprint: raw (``.tmk`` starts with ``TMK1``) or base64 text of it."""
    if body.startswith(TMK_MAGIC):
        return body
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return body


def _text(elem: ET.Element | None) -> str:
    return (elem.text or "").strip() if elem is not None else ""


@hashcore.hookimpl
def hashcore_bank_formats() -> list[type]:
    return [NcmecFormat]


__all__ = ["NcmecFormat", "decode_feature"]
