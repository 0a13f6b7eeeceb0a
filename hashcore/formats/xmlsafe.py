"""Streaming XML without entity expansion: documents with a DOCTYPE are refused.

Partner XML never needs a DTD, and a DTD is what entity bombs ("billion laughs") and external
entities ride on. defusedxml is not a dependency, so every byte goes through a bare expat parser
whose DOCTYPE and entity declaration handlers raise (:func:`guarded_parser`): either that parser
is the reader itself (NCMEC sets its element handlers on it), or it checks each chunk before the
ElementTree pull parser (the machinery behind ``iterparse``) sees it (:func:`iter_events`).
Expat decodes the declared encoding itself, so a UTF-16 document cannot smuggle a DOCTYPE past a
byte scan.
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


def guarded_parser(namespace_separator: str | None = None) -> expat.XMLParserType:
    """A bare expat parser that raises :class:`UnsafeXml` at a DOCTYPE or entity declaration.

    Expat reports the DOCTYPE before reading its internal subset, the only place a document
    can declare entities, so nothing a DTD declares is ever used. Streaming readers that want
    no element tree (NCMEC) set their own element handlers on it.
    """
    parser = expat.ParserCreate(namespace_separator=namespace_separator)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    return parser


def parse_error(error: expat.ExpatError) -> ET.ParseError:
    """An expat error as the ``ParseError`` ElementTree raises, with its ``position``."""
    result = ET.ParseError(str(error))
    result.position = (error.lineno, error.offset)
    return result


def iter_events(chunks: Iterable[bytes]) -> Iterator[tuple[str, ET.Element]]:
    """``(event, element)`` pairs (``start``/``end``) of a document fed in chunks.

    Raises :class:`UnsafeXml` for DTDs and :class:`xml.etree.ElementTree.ParseError` (with a
    ``position``) for malformed XML. Callers clear elements they are done with.
    """
    guard = guarded_parser()
    pull: Any = ET.XMLPullParser(events=("start", "end"))
    for chunk in chunks:
        try:
            guard.Parse(chunk, False)
        except expat.ExpatError as error:
            raise parse_error(error) from None
        pull.feed(chunk)
        yield from pull.read_events()
    try:
        guard.Parse(b"", True)
    except expat.ExpatError as error:
        raise parse_error(error) from None
    pull.close()
    yield from pull.read_events()


def file_chunks(stream: Any, size: int = CHUNK) -> Iterator[bytes]:
    """Read a binary stream in chunks so memory stays flat in file size."""
    while chunk := stream.read(size):
        yield chunk


def local(tag: str) -> str:
    """A tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]
