"""What an NCMEC ``<queryResult>`` says, read from ElementTree's C parser without a Python call
per element.

The C parser builds each entry as elements and reports the elements that end; Python looks
only at the entries (their children are mapped by name in C), ``<paging>`` and
``<images>``/``<videos>``: an entry costs a handful of Python steps instead of the ~25 expat
callbacks a reader with handlers pays for its ten elements. What has been read is removed from
the tree after each chunk, so memory stays flat in file size; an entry that a chunk ends inside
has its finished children taken into its :class:`RawEntry` and removed too, so even one
enormous entry is held as what is kept of it, not as its elements.

As with ElementTree, a field is the text of a child before its first own child, the last of two
same-named children wins, and an entry nested in another is read on its own and is no field or
fingerprint of the outer one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter

from hashcore.formats.xmlsafe import GuardedTree, local

ENTRY_TAGS = frozenset({"image", "video", "deletedImage", "deletedVideo"})
_ENTRY, _PAGING, _LIST = 1, 2, 3
"""What an ending element is to the reader (0: nothing)."""
_TAG = attrgetter("tag")

Print = tuple[str, str | None, str]
"""A child of ``<fingerprints>``: its tag, ``href`` and text."""


@dataclass(slots=True)
class RawEntry:
    """An entry element as read: its tag and the texts :class:`~hashcore.formats.ncmec.
    NcmecFormat` uses, unstripped ("" for a missing field)."""

    tag: str
    member: str = ""
    """The ``id`` attribute of ``<member>``."""
    entry_id: str = ""
    stamp: str = ""
    """The text of ``<timestamp>``."""
    classification: str = ""
    prints: list[Print] = field(default_factory=list)
    """The children of the last ``<fingerprints>``."""
    reading: list[Print] | None = None
    """Children taken so far of a ``<fingerprints>`` still open when a chunk ended."""


Found = RawEntry | tuple[str, str]
"""What the reader finishes: an entry, ``("next", link)`` or ``(tag, maxTimestamp)``."""


class _Locals(dict[str, str]):
    """``{uri}local`` -> ``local``, each tag worked out once."""

    def __missing__(self, tag: str) -> str:
        name = self[tag] = local(tag)
        return name


class _Kinds(dict[str, int]):
    """Tag -> what its element is to the reader, each tag worked out once."""

    def __init__(self, names: _Locals) -> None:
        super().__init__()
        self.names = names

    def __missing__(self, tag: str) -> int:
        name = self.names[tag]
        kind = self[tag] = (
            _ENTRY if name in ENTRY_TAGS
            else _PAGING if name == "paging"
            else _LIST if name in ("images", "videos")
            else 0
        )  # fmt: skip
        return kind


class NcmecReader:
    """Entries, ``<paging><next>`` texts and ``<images>``/``<videos>`` ``maxTimestamp``
    attributes of a document fed in chunks, in :attr:`done` (a ``next`` when its ``<paging>``
    ends or is trimmed; the rest in document order). :meth:`feed` and :meth:`close` raise what
    :class:`~hashcore.formats.xmlsafe.GuardedTree` raises, with what ended before the error in
    :attr:`done`."""

    def __init__(self) -> None:
        self.done: list[Found] = []
        self._tree = GuardedTree()
        self._names = _Locals()
        self._kinds = _Kinds(self._names)
        self._open: dict[ET.Element, RawEntry] = {}
        """Entries a chunk ended inside: what was taken of them."""

    def feed(self, chunk: bytes) -> None:
        try:
            self._tree.feed(chunk)
        finally:
            self._take()

    def close(self) -> None:
        try:
            self._tree.close()
        finally:
            self._take()

    def _take(self) -> None:
        """Read what ended, then remove it from the tree."""
        events = self._tree.events
        kinds = self._kinds
        done = self.done
        for _, element in events:
            kind = kinds[element.tag]
            if kind == _ENTRY:
                done.append(self._entry(element))
                element.clear()
            elif kind == _LIST:
                done.append((self._names[element.tag], element.get("maxTimestamp", "")))
            elif kind == _PAGING:
                self._links(element)
                del element[:]  # read: not to be read again while it is the last child
        events.clear()
        self._trim()

    def _entry(self, element: ET.Element) -> RawEntry:
        entry = self._open.pop(element, None)
        if entry is not None:  # begun in an earlier chunk: the rest of its children
            for child in element:
                self._child(entry, child)
            return entry
        names = self._names
        children = dict(zip(map(names.__getitem__, map(_TAG, element)), element, strict=True))
        found = RawEntry(names[element.tag])
        if (member := children.get("member")) is not None:
            found.member = member.get("id", "")
        if (entry_id := children.get("id")) is not None:
            found.entry_id = entry_id.text or ""
        if (stamp := children.get("timestamp")) is not None:
            found.stamp = stamp.text or ""
        if (classification := children.get("classification")) is not None:
            found.classification = classification.text or ""
        if (prints := children.get("fingerprints")) is not None:
            found.prints = self._prints(prints)
        return found

    def _prints(self, children: Iterable[ET.Element]) -> list[Print]:
        """The fingerprints among children of ``<fingerprints>``."""
        names = self._names
        return [
            (name, child.get("href"), child.text or "")
            for child in children
            if (name := names[child.tag]) not in ENTRY_TAGS
        ]

    def _child(self, entry: RawEntry, child: ET.Element) -> None:
        """Take a finished child of an entry into it, in document order."""
        name = self._names[child.tag]
        text = child.text or ""
        if name == "member":
            entry.member = child.get("id", "")
        elif name == "id":
            entry.entry_id = text
        elif name == "timestamp":
            entry.stamp = text
        elif name == "classification":
            entry.classification = text
        elif name == "fingerprints":
            entry.prints = (entry.reading or []) + self._prints(child)
            entry.reading = None

    def _links(self, children: Iterable[ET.Element]) -> None:
        """The ``next`` links among children of ``<paging>``."""
        names = self._names
        for child in children:
            if names[child.tag] == "next":
                self.done.append(("next", child.text or ""))

    def _trim(self) -> None:
        """Remove every finished element from the tree, taking first what is still wanted of
        it: the open elements are the last child of each open one, from the root down."""
        node = self._tree.root
        entry: RawEntry | None = None  # the innermost open entry
        level = 0  # the node's depth below it
        while node is not None and len(node):
            finished = node[:-1]
            kind = self._kinds[node.tag]
            if kind == _ENTRY:
                entry = self._open.get(node)
                if entry is None:
                    entry = self._open[node] = RawEntry(self._names[node.tag])
                level = 0
                for child in finished:
                    self._child(entry, child)
            elif entry is not None and level == 1 and self._names[node.tag] == "fingerprints":
                entry.reading = (entry.reading or []) + self._prints(finished)
            elif kind == _PAGING:
                self._links(finished)
            del node[:-1]
            node = node[-1]
            level += 1
