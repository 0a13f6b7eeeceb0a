"""The NCMEC reader on ElementTree's C parser finds what the expat-callback reader found.

:class:`~hashcore.formats.ncmec_reader.NcmecReader` (session 10) replaced a reader whose Python
handlers ran for every element (``tests/ncmec_expat_reference.py``). Both read the same feeds,
cut into chunks of many sizes: the partner samples, our malformed ones, the generated import
feed, and feeds made to be awkward (nested and repeated entries and fields, markup inside
fields, prefixes, comments, CDATA, paging inside entries), whole, truncated and corrupted. They
must report the same entries, links and list timestamps, then the same error at the same place.
"""

from __future__ import annotations

import random
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from hashcore.formats.ncmec_reader import Found, NcmecReader, RawEntry
from hashcore.formats.xmlsafe import UnsafeXml
from tests.media_data import shared_file
from tests.ncmec_expat_reference import ExpatReader
from tests.test_import_columns import ncmec_feed

OURS = Path(__file__).resolve().parent / "data" / "partner"
SIZES = (1, 7, 64, 1000, 1 << 16)


class Reader(Protocol):
    done: list[Found]

    def feed(self, chunk: bytes) -> None: ...
    def close(self) -> None: ...


Outcome = tuple[list[object], list[object], str | None]
"""Entries and list timestamps in document order, the ``next`` links, and the error."""


def outcome(reader: Reader, body: bytes, size: int) -> Outcome:
    """What ``reader`` finds in ``body`` fed ``size`` bytes at a time."""
    error = None
    try:
        for at in range(0, len(body), size):
            reader.feed(body[at : at + size])
        reader.close()
    except UnsafeXml as unsafe:
        error = f"unsafe: {unsafe.message}"
    except ET.ParseError as parse:
        error = f"malformed at {parse.position}"
    found = [item for item in reader.done if not (type(item) is tuple and item[0] == "next")]
    links = [item for item in reader.done if type(item) is tuple and item[0] == "next"]
    return found, links, error


def entries(found: list[object]) -> int:
    return sum(isinstance(item, RawEntry) for item in found)


def assert_same(body: bytes, sizes: tuple[int, ...] = SIZES) -> Outcome:
    for size in sizes:
        expected = outcome(ExpatReader(), body, size)
        assert outcome(NcmecReader(), body, size) == expected, f"chunks of {size} bytes"
    return expected


def awkward_entry(rng: random.Random, depth: int) -> str:
    """An entry element with what a careless or hostile producer may put in one."""
    tag = rng.choice(["image", "video", "deletedImage", "deletedVideo"])
    parts = []
    for _ in range(rng.randrange(9)):
        parts.append(awkward_child(rng, depth))
    return f"<{tag}>{''.join(parts)}</{tag}>"


def awkward_child(rng: random.Random, depth: int) -> str:
    name = rng.choice(["member", "id", "timestamp", "classification", "fingerprints", "note"])
    text = rng.choice(["", " e1 ", "A1", "2026-03-02T10:00:00Z", "x&amp;y", "<![CDATA[c<d]]>"])
    inner = ""
    if name == "fingerprints":
        inner = "".join(awkward_print(rng, depth) for _ in range(rng.randrange(5)))
    elif rng.random() < 0.2:
        inner = f"<b>{text}</b>tail<!-- c -->more"
    if depth < 3 and rng.random() < 0.08:
        inner += awkward_entry(rng, depth + 1)  # an entry inside a field
    attrs = f" id='{rng.randrange(9)}'" if name == "member" and rng.random() < 0.9 else ""
    return f"<{name}{attrs}>{text}{inner}</{name}>"


def awkward_print(rng: random.Random, depth: int) -> str:
    if depth < 3 and rng.random() < 0.1:
        return awkward_entry(rng, depth + 1)  # an entry among the fingerprints
    name = rng.choice(["md5", "pdq", "tmk-pdqf", "sha1", "weird"])
    href = f" href='/v2/{rng.randrange(99)}'" if rng.random() < 0.2 else ""
    extra = "<x>y</x>z" if rng.random() < 0.1 else ""
    return f"<{name}{href}>{rng.choice(['', '0f34', ' ab '])}{extra}</{name}>"


def awkward_feed(seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    body = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.1:
            stamp = rng.choice(["2026-03-02T10:15:00Z", "bad", ""])
            body.append(f"</images><videos maxTimestamp='{stamp}'>")
            body.append(awkward_entry(rng, 0) + "</videos><images>")
        elif roll < 0.15:
            links = "".join(f"<next>/v2/{rng.randrange(9)}</next>" for _ in range(rng.randrange(3)))
            body.append(f"<paging>{links}<other/></paging>")
        elif roll < 0.18:
            body.append(f"<image><paging><next>in-{rng.randrange(9)}</next></paging></image>")
        else:
            body.append(awkward_entry(rng, 0))
        body.append(rng.choice(["", "\n", "  <!-- between -->\n"]))
    prefix = rng.choice(["", "q:"])
    text = (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        "<queryResult xmlns='https://hashsharing.ncmec.org/hashsharing/v2' xmlns:q='urn:q'>"
        f"<images maxTimestamp='2026-03-02T10:20:00Z'>{''.join(body)}</images></queryResult>"
    )
    if prefix:  # every element of the feed under a prefix
        text = text.replace("<", "<q:").replace("<q:/", "</q:").replace("<q:!", "<!")
        text = text.replace("<q:?", "<?").replace("</q:q:", "</q:")
    return text.encode()


def test_partner_samples_read_the_same() -> None:
    found, links, error = assert_same(shared_file("partner-samples/ncmec_entries.xml").read_bytes())
    assert entries(found) == 3 and error is None
    assert len(links) == 1


@pytest.mark.parametrize("name", ["ncmec_mixed.xml", "ncmec_truncated.xml"])
def test_our_malformed_samples_read_the_same(name: str) -> None:
    assert_same((OURS / name).read_bytes())


def test_doctype_is_refused_alike_and_nothing_is_read() -> None:
    found, links, error = assert_same((OURS / "ncmec_entity_bomb.xml").read_bytes())
    assert (found, links) == ([], []) and error is not None and error.startswith("unsafe")
    late = b"<queryResult><images>" + b"<image><id>1</id></image>" * 2 + b"<!DOCTYPE x []>"
    found, _, error = assert_same(late)  # after the root a DOCTYPE is a syntax error
    assert len(found) == 2 and error is not None and error.startswith("malformed")


def test_generated_import_feed_reads_the_same() -> None:
    found, _, error = assert_same(ncmec_feed(5, 600), (7, 1000, 1 << 16))
    assert entries(found) == 600 and error is None


@pytest.mark.parametrize("seed", range(12))
def test_awkward_feeds_read_the_same(seed: int) -> None:
    body = awkward_feed(seed, 60)
    found, _, error = assert_same(body)
    assert error is None and entries(found) > 60


@pytest.mark.parametrize("seed", range(6))
def test_truncated_and_corrupted_feeds_read_the_same(seed: int) -> None:
    rng = random.Random(seed)
    body = awkward_feed(100 + seed, 40)
    for damaged, broken in damage(rng, body):
        _, _, error = assert_same(damaged, (1, 64, 1 << 16))
        assert error is not None or not broken


def damage(rng: random.Random, body: bytes) -> Iterator[tuple[bytes, bool]]:
    """``body`` cut short (certainly broken), and with a byte replaced (most often broken:
    a ``<`` for a ``<`` is not), at random places."""
    for _ in range(4):
        yield body[: rng.randrange(1, len(body))], True
        at = rng.randrange(len(body))
        yield body[:at] + rng.choice([b"<", b"&", b"\xff", b"</x>"]) + body[at + 1 :], False


def test_a_doctype_in_utf16_is_refused_alike() -> None:
    body = (
        (OURS / "ncmec_entity_bomb.xml").read_text().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>')
    )
    found, _, error = assert_same(body.encode("utf-16"), (1, 7, 1 << 16))
    assert found == [] and error is not None and error.startswith("unsafe")


def test_one_enormous_entry_is_held_as_what_is_kept_of_it() -> None:
    """Memory stays flat inside an entry too: its finished children are taken into it and
    dropped from the tree after each chunk (a tree holding them would grow with the entry)."""
    field = b"<note>" + b"n" * 200 + b"</note><id>e1</id><md5>x</md5>"
    chunk = field * 250  # ~60 KB
    reader = NcmecReader()
    tracemalloc.start()
    try:
        reader.feed(b"<queryResult><images><image><member id='1'>m</member>")
        for _ in range(100):
            reader.feed(chunk)
        reader.feed(b"<fingerprints><md5>ab</md5></fingerprints></image></images></queryResult>")
        reader.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reader.done[0] == RawEntry("image", "1", "e1", prints=[("md5", None, "ab")])
    size = 100 * len(chunk)
    assert peak < size / 20, f"{peak:,} bytes at peak reading a {size:,}-byte entry"
