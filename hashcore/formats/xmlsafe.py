"""Streaming XML without entity expansion: documents with a DOCTYPE are refused.

Partner XML never needs a DTD, and a DTD is what entity bombs ("billion laughs") and external
entities ride on. defusedxml is not a dependency, so every chunk goes first through a bare expat
parser whose only handlers reject DOCTYPE and entity declarations; only then does the
ElementTree pull parser (the machinery behind ``iterparse``) see it. Expat decodes the declared
encoding itself, so a UTF-16 document cannot smuggle a DOCTYPE past a byte scan.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn
from xml.parsers import expat

from hashcore.errors import InvalidInput

CHUNK = 1 << 16


class UnsafeXml(InvalidInput):
    """The document declares a DTD or entities."""


def _refuse(*_: Any) -> NoReturn:
    raise UnsafeXml("XML with a DOCTYPE or entity declarations is refused")


def iter_events(chunks: Iterable[bytes]) -> Iterator[tuple[str, ET.Element]]:
    """``(event, element)`` pairs (``start``/``end``) of a document fed in chunks.

    Raises :class:`UnsafeXml` for DTDs and :class:`xml.etree.ElementTree.ParseError` (with a
    ``position``) for malformed XML. Callers clear elements they are done with.
    """
    guard = expat.ParserCreate()
    guard.StartDoctypeDeclHandler = _refuse
    guard.EntityDeclHandler = _refuse
    guard.UnparsedEntityDeclHandler = _refuse
    guard.ExternalEntityRefHandler = _refuse
    pull: Any = ET.XMLPullParser(events=("start", "end"))
    for chunk in chunks:
        try:
            guard.Parse(chunk, False)
        except expat.ExpatError as error:
            raise _parse_error(error) from None
        pull.feed(chunk)
        yield from pull.read_events()
    try:
        guard.Parse(b"", True)
    except expat.ExpatError as error:
        raise _parse_error(error) from None
    pull.close()
    yield from pull.read_events()


def _parse_error(error: expat.ExpatError) -> ET.ParseError:
    parse_error = ET.ParseError(str(error))
    parse_error.position = (error.lineno, error.offset)
    return parse_error


def file_chunks(stream: Any, size: int = CHUNK) -> Iterator[bytes]:
    """Read a binary stream in chunks so memory stays flat in file size."""
    while chunk := stream.read(size):
        yield chunk


def local(tag: str) -> str:
    """A tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]
