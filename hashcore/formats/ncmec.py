"""NCMEC hash sharing, API v2: ``<queryResult>`` XML from a file or from the paged API.

Streams through ElementTree's C parser behind the DTD guard (``xmlsafe``), which hands over each
entry once it ends and drops it once read, so memory stays flat in file size
(``ncmec_reader``). Key = ``member id`` + ``-`` + ``id``. Classification becomes the label
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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, ClassVar
from urllib.parse import quote

import hashcore
from hashcore.errors import InvalidInput, NotFound
from hashcore.formats.base import BankFormat
from hashcore.formats.columns import AHEAD, RUN, Runs, UpdateColumns, drain, flattened
from hashcore.formats.http import HttpClient, join_url, with_query
from hashcore.formats.ncmec_reader import NcmecReader, RawEntry
from hashcore.formats.records import Checkpoint, Item, Problem, Skip, partner_labels
from hashcore.formats.timeutil import to_iso, to_unix
from hashcore.formats.xmlsafe import UnsafeXml, file_chunks
from hashcore.model import Entry, EntryStatus
from hashcore.opinions.feedback import FeedbackFormat, FeedbackRequest
from hashcore.opinions.model import Opinion
from hashcore.registry import SignalRegistry
from hashcore.store.columns import SignalRow

LINK_FAMILIES = frozenset({"tmk_pdqf", "videntifier"})
"""Fingerprints NCMEC sends as links because they are large."""
EPOCH = "2000-01-01T00:00:00Z"
TMK_MAGIC = b"TMK1"

LinkFetcher = Callable[[str], bytes]

_seconds = lru_cache(maxsize=4096)(to_unix)
"""``to_unix`` of the timestamp texts met lately: a feed repeats them (entries of one second)."""


@lru_cache(maxsize=256)
def _labels(classification: str, kind: str) -> tuple[str, ...]:
    """An entry's labels: one tuple for all entries of a classification and kind."""
    return partner_labels((f"ncmec:{classification}",) if classification else (), None, kind)


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

    def __init__(self, registry: SignalRegistry, options: Mapping[str, object] | None = None):
        super().__init__(registry, options)
        self._parsers: dict[str, tuple[str, Callable[[str], bytes]]] = {}
        """Fingerprint tag -> its family and that family's parser, for tags whose text has
        parsed once: the common case then skips the resolver's checks."""

    def read(self, stream: IO[bytes]) -> Iterator[Item]:
        return flattened(self._read(stream, AHEAD))

    def read_columns(self, stream: IO[bytes]) -> Iterator[Item | UpdateColumns]:
        """The items, entries parsed straight into columns (no record or signal objects)."""
        return self._read(stream, RUN)

    def _read(self, stream: IO[bytes], size: int) -> Iterator[Item | UpdateColumns]:
        runs = Runs()

        def steps() -> Iterator[None]:
            info = PageInfo()
            yield from self._parse(file_chunks(stream), "file", info, None, runs)
            if info.next:
                runs.add(Skip("paging link not followed (file mode)"))

        return drain(runs, steps(), size)

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
        runs = Runs()
        return flattened(drain(runs, self._parse(chunks, where, info, fetch_link, runs), AHEAD))

    def _parse(
        self,
        chunks: Iterable[bytes],
        where: str,
        info: PageInfo,
        fetch_link: LinkFetcher | None,
        runs: Runs,
    ) -> Iterator[None]:
        """:meth:`parse` into ``runs``, yielding after each chunk."""
        reader = NcmecReader()
        counts: dict[str, int] = {}
        try:
            for chunk in chunks:
                reader.feed(chunk)
                self._drain(reader, where, counts, info, fetch_link, runs)
                yield
            reader.close()
        except UnsafeXml as error:
            self._drain(reader, where, counts, info, fetch_link, runs)
            runs.add(Problem(where, error.message))
            return
        except ET.ParseError as error:
            self._drain(reader, where, counts, info, fetch_link, runs)
            line, column = error.position
            runs.add(Problem(f"{where} line {line} column {column}", "malformed XML"))
            return
        self._drain(reader, where, counts, info, fetch_link, runs)

    def _drain(
        self,
        reader: NcmecReader,
        where: str,
        counts: dict[str, int],
        info: PageInfo,
        fetch_link: LinkFetcher | None,
        runs: Runs,
    ) -> None:
        """Items of what the reader has finished so far into ``runs``, in document order."""
        done = reader.done[:]
        reader.done.clear()  # in place: the reader appends to this list
        for found in done:
            if isinstance(found, RawEntry):
                tag = found.tag
                counts[tag] = counts.get(tag, 0) + 1
                self._entry(found, f"{where} {tag} #{counts[tag]}", info, fetch_link, runs)
            elif found[0] == "next":
                info.next = found[1].strip() or None
            elif found[1]:
                try:
                    info.saw(_seconds(found[1]))
                except InvalidInput:
                    runs.add(Problem(f"{where} <{found[0]}>", "malformed maxTimestamp"))

    def _entry(
        self,
        entry: RawEntry,
        position: str,
        info: PageInfo,
        fetch_link: LinkFetcher | None,
        runs: Runs,
    ) -> None:
        member_id = entry.member.strip()
        entry_id = entry.entry_id.strip()
        if not member_id or not entry_id:
            runs.add(Problem(position, "entry without member id or id"))
            return
        key = f"{member_id}-{entry_id}"
        position = f"{position} ({key})"
        stamp = entry.stamp.strip()
        try:
            updated_at = _seconds(stamp) if stamp else None
        except InvalidInput:
            runs.add(Problem(position, "malformed timestamp"))
            return
        if updated_at is not None:
            info.saw(updated_at)
        tag = entry.tag
        kind = "video" if tag in ("video", "deletedVideo") else "image"
        if tag.startswith("deleted"):
            runs.run().add(
                key, (), _labels("", kind), self.source_name, EntryStatus.DELETED,
                updated_at, None, position, kind=kind,
            )  # fmt: skip
            runs.added()
            return
        signals: list[SignalRow] = []
        parsers = self._parsers
        for raw_type, href, text in entry.prints:
            known = parsers.get(raw_type) if href is None else None
            if known is not None:  # the common case, inline: a tag whose text parsed before
                try:
                    signals.append((known[0], known[1](text.strip()), None, True, None))
                    continue
                except InvalidInput:
                    pass  # _fingerprint words the problem
            result = self._fingerprint(raw_type, href, text, position, fetch_link)
            if type(result) is tuple:
                signals.append(result)
            elif result is not None:
                runs.add(result)  # type: ignore[arg-type]
        if not signals:
            runs.add(Skip("no supported signal"))
            return
        labels = _labels(entry.classification.strip(), kind)
        runs.run().add(
            key, signals, labels, self.source_name, EntryStatus.ACTIVE, updated_at, None,
            position, kind=kind,
        )  # fmt: skip
        runs.added()

    def _fingerprint(
        self,
        raw_type: str,
        href: str | None,
        text: str,
        position: str,
        fetch_link: LinkFetcher | None,
    ) -> SignalRow | Skip | Problem:
        family = self.families.family(raw_type, position)
        if not isinstance(family, str):
            return family
        value: str | bytes
        if href is None:
            value = text.strip()
        elif fetch_link is None:
            return Skip(f"{family} link not fetched (file mode)")
        else:
            try:
                value = decode_feature(fetch_link(href))
            except (InvalidInput, NotFound) as error:  # a broken link spoils one entry only
                return Problem(position, f"{family} link: {error.message}")
        checked = self.families.checked(family, value, position)
        if isinstance(checked, Problem):
            return checked
        if href is None and len(self._parsers) < 256:
            self._parsers[raw_type] = (family, self.registry.get(family).parse)
        return (family, checked, None, True, None)


def decode_feature(body: bytes) -> bytes:
    """A linked fingerprint: raw (``.tmk`` starts with ``TMK1``) or base64 text of it."""
    if body.startswith(TMK_MAGIC):
        return body
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return body


@hashcore.hookimpl
def hashcore_bank_formats() -> list[type]:
    return [NcmecFormat]


__all__ = ["NcmecFormat", "decode_feature"]


NCMEC_TYPES = {"md5": "MD5", "sha1": "SHA1", "pdq": "PDQ", "photodna": "PDNA",
               "tmk_pdqf": "TMK_PDQF"}  # fmt: skip
"""Our family -> NCMEC's fingerprint type, the ``{TYPE}`` of its feedback path."""
_NCMEC_NS = "https://hashsharing.ncmec.org/hashsharing/v2"


class NcmecFeedback(FeedbackFormat):
    """``PUT /v2/entries/{member}/{id}/{TYPE}/feedback``, one per fingerprint type of the
    entry: ``<affirmative/>`` for a confirmed match, ``<negative/>`` for a false positive;
    a dispute or a withdrawal has no NCMEC form."""

    name: ClassVar[str] = "ncmec"
    description: ClassVar[str] = "NCMEC hash sharing v2 entry feedback (affirmative, negative)"

    def requests(self, opinion: Opinion, entry: Entry, url: str) -> list[FeedbackRequest]:
        member, _, entry_id = entry.external_id.partition("-")
        if not member or not entry_id:
            raise InvalidInput(
                f"entry {entry.external_id!r} is not keyed like an NCMEC entry (MEMBER-ID)",
                field="external_id",
            )
        verdict = {"confirmed": "affirmative", "false_positive": "negative"}.get(opinion.kind)
        if verdict is None:
            return []
        body = f'<feedbackSubmission xmlns="{_NCMEC_NS}"><{verdict}/></feedbackSubmission>'
        kinds = sorted({NCMEC_TYPES[s.type] for s in entry.signals if s.type in NCMEC_TYPES})
        path = f"{url}/v2/entries/{quote(member, safe='')}/{quote(entry_id, safe='')}"
        return [
            FeedbackRequest("PUT", f"{path}/{kind}/feedback", body.encode(), "application/xml")
            for kind in kinds
        ]


@hashcore.hookimpl
def hashcore_feedback_formats() -> list[type]:
    return [NcmecFeedback]
