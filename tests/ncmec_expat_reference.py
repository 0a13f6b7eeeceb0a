"""The NCMEC reader before session 10, kept as the reference the C-parser reader is held to.

One guarded expat parser whose Python handlers (closures, one call per element start, end and
text) keep only what entries and paging need. It produced the records hashcore imported through
session 9; ``test_ncmec_reader`` checks that :class:`~hashcore.formats.ncmec_reader.NcmecReader`
finds the same entries, links and timestamps in every feed it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from hashcore.formats.ncmec_reader import ENTRY_TAGS, Found, RawEntry
from hashcore.formats.xmlsafe import guarded_parser, local, parse_error


@dataclass(slots=True)
class _Open:
    """An entry element as it is read."""

    tag: str
    depth: int
    fields: dict[str, str] = field(default_factory=dict)
    member: str = ""
    prints: list[tuple[str, str | None, str]] = field(default_factory=list)
    reading: list[tuple[str, str | None, str]] | None = None
    href: str | None = None

    def raw(self) -> RawEntry:
        get = self.fields.get
        return RawEntry(
            self.tag, self.member, get("id", ""), get("timestamp", ""), get("classification", ""),
            self.prints,
        )  # fmt: skip


class ExpatReader:
    """What :class:`~hashcore.formats.ncmec_reader.NcmecReader` reads, by expat callbacks."""

    def __init__(self) -> None:
        self.done: list[Found] = []
        self._parser = guarded_parser(namespace_separator="}")
        self._parser.buffer_text = True
        self._install(self._parser, self.done)

    def feed(self, chunk: bytes) -> None:
        self._parse(chunk, False)

    def close(self) -> None:
        self._parse(b"", True)

    def _parse(self, chunk: bytes, final: bool) -> None:
        try:
            self._parser.Parse(chunk, final)
        except expat.ExpatError as error:
            raise parse_error(error) from None

    @staticmethod
    def _install(parser: expat.XMLParserType, done: list[Found]) -> None:
        names: dict[str, str] = {}
        path: list[str] = []
        texts: list[str] = []
        stamps: list[str] = []
        entries: list[_Open] = []
        text: str | None = None

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal text
            tag = names.get(name)
            if tag is None:
                tag = names[name] = local(name)
            if text is not None:
                texts[-1] = text
            text = ""
            texts.append("")
            depth = len(path)
            path.append(tag)
            if tag == "images" or tag == "videos":
                stamps.append(attrs.get("maxTimestamp", ""))
            if tag in ENTRY_TAGS:
                entries.append(_Open(tag, depth))
            elif entries:
                entry = entries[-1]
                level = depth - entry.depth
                if level == 2:
                    entry.href = attrs.get("href")
                elif level == 1 and tag == "member":
                    entry.member = attrs.get("id", "")
                elif level == 1 and tag == "fingerprints":
                    entry.reading = []

        def data(chunk: str) -> None:
            nonlocal text
            if text is not None:
                text += chunk

        def end(name: str) -> None:
            nonlocal text
            tag = path.pop()
            value = texts.pop()
            if text is not None:
                value, text = text, None
            if tag == "next" and path and path[-1] == "paging":
                done.append(("next", value))
            elif tag == "images" or tag == "videos":
                done.append((tag, stamps.pop()))
            if not entries:
                return
            entry = entries[-1]
            level = len(path) - entry.depth
            if level == 0:
                done.append(entries.pop().raw())
            elif level == 1:
                entry.fields[tag] = value
                if tag == "fingerprints" and entry.reading is not None:
                    entry.prints, entry.reading = entry.reading, None
            elif level == 2 and entry.reading is not None and path[-1] == "fingerprints":
                entry.reading.append((tag, entry.href, value))

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = data
