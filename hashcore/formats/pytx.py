"""python-threatexchange's files: the dataset CSV and the ``<type> <value>`` local file.

These are the de-facto open formats between hotlines. Neither has an id or a time, so the key is
``family:value`` and re-importing a file changes nothing. Dataset categories map to opinions:
``NEGATIVE_CLASS`` (a known false positive) is imported as *withdrawn* so it never matches.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterator
from typing import IO, ClassVar, Protocol, TypeVar

import hashcore
from hashcore.formats.base import BankFormat
from hashcore.formats.families import value_key
from hashcore.formats.records import BankUpdate, Item, Opinion, Problem, partner_labels
from hashcore.model import EntryStatus
from hashcore.signals import Signal

DATASET_HEADER = ("signal_type", "signal_str", "collab", "category", "tags")
CATEGORIES: dict[str, tuple[EntryStatus, Opinion]] = {
    "POSITIVE_CLASS": (EntryStatus.ACTIVE, Opinion.POSITIVE),
    "INVESTIGATION_SEED": (EntryStatus.ACTIVE, Opinion.SEED),
    "NEGATIVE_CLASS": (EntryStatus.WITHDRAWN, Opinion.NEGATIVE),
}
MAX_FIELD = 1 << 20


def text_lines(stream: IO[bytes]) -> Iterator[str]:
    """UTF-8 lines of a binary stream (BOM tolerated, bad bytes replaced, not fatal).

    The wrapper is detached afterwards so it never closes (or flushes) the caller's stream.
    """
    wrapper = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    try:
        yield from wrapper
    finally:
        with contextlib.suppress(ValueError):
            wrapper.detach()


Row = TypeVar("Row")
Row_co = TypeVar("Row_co", covariant=True)


class CsvRows(Protocol[Row_co]):
    """A ``csv.reader`` or ``csv.DictReader``: rows, and the line the last one ended on."""

    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[Row_co]: ...


def csv_items(
    reader: CsvRows[Row],
    header_problem: Callable[[], str | None],
    row_item: Callable[[Row, str], Item | None],
) -> Iterator[Item]:
    """Each row's item (if any), in file order; a header ``header_problem`` refuses, or
    malformed CSV, ends the file with a :class:`Problem` where it is."""
    csv.field_size_limit(MAX_FIELD)
    try:
        problem = header_problem()
        if problem:
            yield Problem("line 1", problem)
            return
        for row in reader:
            item = row_item(row, f"line {reader.line_num}")
            if item is not None:
                yield item
    except csv.Error as error:
        yield Problem(f"line {reader.line_num}", f"malformed CSV: {error}")


class PytxCsvFormat(BankFormat):
    name: ClassVar[str] = "pytx-csv"
    description: ClassVar[str] = "python-threatexchange dataset CSV"
    source: ClassVar[str | None] = "pytx"

    def read(self, stream: IO[bytes]) -> Iterator[Item]:
        reader = csv.reader(text_lines(stream))

        def header_problem() -> str | None:
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header[:5]) != DATASET_HEADER:
                return f"header is not {','.join(DATASET_HEADER)}"
            return None

        return csv_items(reader, header_problem, self.row)

    def row(self, row: list[str], position: str) -> Item | None:
        """The row's item; ``None`` for a blank row."""
        if not any(cell.strip() for cell in row):
            return None
        if len(row) < 2:
            return Problem(position, "expected at least signal_type,signal_str")
        row = row + [""] * (5 - len(row))
        raw_type, value, collab, category, tags = (cell.strip() for cell in row[:5])
        status, opinion = CATEGORIES.get(category or "POSITIVE_CLASS", (None, None))
        if status is None or opinion is None:
            return Problem(position, "unknown category")
        signal = self.families.signal(raw_type, value, position)
        if not isinstance(signal, Signal):
            return signal
        labels = partner_labels(tuple(sorted(set(tags.split()))), opinion, None)
        key = value_key(signal)
        return BankUpdate(
            key,
            (signal,),
            labels,
            collab or self.source_name,
            status,
            opinion=opinion,
            position=position,
        )


class PytxLocalFormat(BankFormat):
    name: ClassVar[str] = "pytx-local"
    description: ClassVar[str] = "python-threatexchange local file: '<signal_type> <value>' lines"
    source: ClassVar[str | None] = "pytx"

    def read(self, stream: IO[bytes]) -> Iterator[Item]:
        for number, line in enumerate(text_lines(stream), 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split(None, 1)
            position = f"line {number}"
            if len(parts) != 2:
                yield Problem(position, "expected '<signal_type> <value>'")
                continue
            signal = self.families.signal(parts[0], parts[1].strip(), position)
            if not isinstance(signal, Signal):
                yield signal
                continue
            key = value_key(signal)
            yield BankUpdate(key, (signal,), (), self.source_name, position=position)


@hashcore.hookimpl
def hashcore_bank_formats() -> list[type]:
    return [PytxCsvFormat, PytxLocalFormat]
