"""Streaming XML without entity expansion: documents with a DOCTYPE are refused.

Partner XML never needs a DTD, and a DTD is what entity bombs ("billion laughs") and external
entities ride on. defusedxml is not a dependency, so a document's prolog goes through a bare
expat parser whose DOCTYPE and entity declaration handlers raise (:func:`guarded_parser`) before
ElementTree's parser sees it (:class:`GuardedTree`). A DOCTYPE can only stand before the root
element, and entities can only be declared inside it, so the guard stops reading once the root
has started: from there the C parser and tree builder run alone, with no Python call per
element. Expat decodes the declared encoding itself, so a UTF-16 document cannot smuggle a
DOCTYPE past a byte scan.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any, NoReturn, cast
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
    can declare entities, so nothing a DTD declares is ever used. :class:`GuardedTree` runs it
    over a document's prolog.
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


class GuardedTree:
    """ElementTree's C parser and tree builder fed a document in chunks, behind the DTD guard.

    Elements that end land in :attr:`events` as ``("end", element)`` pairs, in document order,
    also when :meth:`feed` raises (those before the error). The tree is built as the document
    streams: the caller reads what ended and removes it (from :attr:`root` down), or memory
    grows with the document. Raises :class:`UnsafeXml` for DTDs and
    :class:`xml.etree.ElementTree.ParseError` (with a ``position``) for malformed XML.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, ET.Element]] = []
        self.root: ET.Element | None = None
        self._started = False
        self._guard: expat.XMLParserType | None = guarded_parser(namespace_separator="}")
        self._guard.StartElementHandler = self._root_started
        self._parser: Any = cast(Any, ET.XMLParser(target=ET.TreeBuilder()))  # noqa: S314
        # The private hook XMLPullParser itself uses: the events are appended in C to a list
        # of ours (its read_events() is a Python generator step per event). "start" is asked
        # for only until the root is known.
        self._parser._setevents(self.events, ("start", "end"))

    def feed(self, chunk: bytes) -> None:
        if self._guard is not None:
            self._check(chunk, final=False)
        try:
            self._parser.feed(chunk)
        finally:
            if self.root is None:
                self._find_root()

    def close(self) -> None:
        if self._guard is not None:
            self._check(b"", final=True)
        self._parser.close()

    def _root_started(self, *_: object) -> None:
        self._started = True

    def _check(self, chunk: bytes, final: bool) -> None:
        """The guard reads ``chunk`` if the root has not started before it."""
        assert self._guard is not None
        try:
            self._guard.Parse(chunk, final)
        except expat.ExpatError as error:
            if not self._started:
                raise parse_error(error) from None
            # Malformed after the root started, where no DTD can follow: the parser reports
            # it at the same place, after the elements that end before it.
        if self._started:
            self._guard = None

    def _find_root(self) -> None:
        found = [event for event in self.events if event[0] == "start"]
        if found:
            self.root = found[0][1]
            self._parser._setevents(self.events, ("end",))
            self.events[:] = [event for event in self.events if event[0] == "end"]


def file_chunks(stream: Any, size: int = CHUNK) -> Iterator[bytes]:
    """Read a binary stream in chunks so memory stays flat in file size."""
    while chunk := stream.read(size):
        yield chunk


def local(tag: str) -> str:
    """A tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]
