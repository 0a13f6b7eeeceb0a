"""A column-mapped CSV / JSON-lines importer for feeds without a public schema (GIFCT, ICCAM).

The mapping names the columns (or JSON keys) holding the type, the value, the id, the labels,
a deleted flag and times, plus extra type aliases (``GIFCT_PDQ = "pdq"``). It comes from
``--option key=value`` or a small TOML/JSON mapping file. Without an id column the key is
``family:value``; without a type column ``fixed_type`` names the family of every row.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

import hashcore
from hashcore.errors import InvalidInput
from hashcore.formats.base import BankFormat
from hashcore.formats.families import canonical_family, value_key
from hashcore.formats.pytx import csv_items, text_lines
from hashcore.formats.records import BankUpdate, Item, Problem
from hashcore.formats.timeutil import to_unix
from hashcore.model import EntryStatus
from hashcore.signals import Signal

TRUE = frozenset({"1", "true", "yes", "y", "deleted", "withdrawn", "t"})
FALSE = frozenset({"", "0", "false", "no", "n", "f", "active"})
"""``deleted_column`` values that keep a row active (an empty cell too). A value in neither
set is a problem of its row: taking an unknown word for "active" would keep matching a hash
the partner meant to remove."""
COLUMNS = (
    "type_column",
    "value_column",
    "id_column",
    "labels_column",
    "deleted_column",
    "updated_column",
    "created_column",
)
DEFAULTS: dict[str, str] = {"type_column": "type", "value_column": "value"}


def load_mapping(path: Path) -> dict[str, object]:
    """A mapping file: TOML (``.toml``) or JSON, one table of options."""
    try:
        data: Any = (
            tomllib.loads(path.read_text("utf-8"))
            if path.suffix.lower() == ".toml"
            else json.loads(path.read_text("utf-8"))
        )
    except (OSError, ValueError) as error:
        raise InvalidInput(f"{path}: cannot read mapping: {error}", field="mapping") from None
    except RecursionError:
        raise InvalidInput(f"{path}: mapping nested too deeply", field="mapping") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: mapping must be a table/object", field="mapping")
    return data


class MappedFormat(BankFormat):
    name: ClassVar[str] = "csv"
    description: ClassVar[str] = "column-mapped CSV or JSON lines (GIFCT, ICCAM, ...)"
    options_allowed: ClassVar[frozenset[str]] = frozenset(
        {
            *COLUMNS,
            "fixed_type",
            "label_separator",
            "label_prefix",
            "type_aliases",
            "input",
            "delimiter",
            "source",
        }
    )

    def __init__(self, registry: Any, options: Mapping[str, object] | None = None) -> None:
        super().__init__(registry, options)
        opts = {**DEFAULTS, **self.options}
        self.columns = {c: str(opts[c]) for c in COLUMNS if opts.get(c)}
        self.fixed_type = str(opts["fixed_type"]) if opts.get("fixed_type") else None
        if self.fixed_type:
            self.columns.pop("type_column", None)
        self.separator = str(opts.get("label_separator", ";")) or ";"
        self.prefix = str(opts.get("label_prefix", ""))
        self.input = str(opts.get("input", "csv")).lower()
        if self.input not in ("csv", "jsonl"):
            raise InvalidInput("option input must be csv or jsonl", field="option")
        self.delimiter = str(opts.get("delimiter", ","))
        self.aliases = _aliases(opts.get("type_aliases"))
        self._source = str(opts["source"]) if opts.get("source") else self.name

    def read(self, stream: IO[bytes]) -> Iterator[Item]:
        if self.input == "jsonl":
            for number, line in enumerate(text_lines(stream), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as error:
                    yield Problem(f"line {number}", f"malformed JSON: {error}")
                    continue
                except RecursionError:
                    yield Problem(f"line {number}", "JSON nested too deeply")
                    continue
                if not isinstance(row, dict):
                    yield Problem(f"line {number}", "line is not a JSON object")
                    continue
                yield self.row(row, f"line {number}")
            return
        reader = csv.DictReader(text_lines(stream), delimiter=self.delimiter)

        def header_problem() -> str | None:
            missing = [c for c in self.columns.values() if c not in (reader.fieldnames or [])]
            return f"header lacks column(s) {', '.join(missing)}" if missing else None

        yield from csv_items(reader, header_problem, self.row)

    def row(self, row: Mapping[str, Any], position: str) -> Item:
        raw_type = self.fixed_type or _cell(row, self.columns.get("type_column"))
        if not raw_type:
            return Problem(position, "no type")
        raw_type = self.aliases.get(raw_type.strip().lower(), raw_type)
        signal = self.families.signal(raw_type, _cell(row, self.columns["value_column"]), position)
        if not isinstance(signal, Signal):
            return signal
        key = _cell(row, self.columns.get("id_column")) or value_key(signal)
        try:
            updated = _time(_cell(row, self.columns.get("updated_column")))
            created = _time(_cell(row, self.columns.get("created_column")))
        except InvalidInput:
            return Problem(position, "malformed time")
        deleted = _deleted(_cell(row, self.columns.get("deleted_column")))
        if deleted is None:
            return Problem(position, "unknown deleted value")
        labels_cell = (
            row.get(self.columns.get("labels_column", ""))
            if "labels_column" in self.columns
            else None
        )
        raw_labels = (
            labels_cell
            if isinstance(labels_cell, list)
            else str(labels_cell or "").split(self.separator)
        )
        labels = tuple(
            sorted({f"{self.prefix}{str(x).strip()}" for x in raw_labels if str(x).strip()})
        )
        status = EntryStatus.DELETED if deleted else EntryStatus.ACTIVE
        return BankUpdate(
            key, (signal,), labels, self._source, status, updated, created, position=position
        )


def _aliases(value: object) -> dict[str, str]:
    """``{"GIFCT_PDQ": "pdq"}`` or ``"GIFCT_PDQ=pdq,GIFCT_MD5=md5"``; targets must be families."""
    pairs: dict[str, str] = {}
    if isinstance(value, str):
        for part in value.split(","):
            if part.strip():
                alias, _, target = part.partition("=")
                pairs[alias.strip()] = target.strip()
    elif isinstance(value, Mapping):
        pairs = {str(k): str(v) for k, v in value.items()}
    elif value is not None:
        raise InvalidInput("type_aliases must be a table or 'A=b,C=d'", field="option")
    for target in pairs.values():
        if canonical_family(target) is None:
            raise InvalidInput(
                f"type alias target {target!r} is not a known family", field="option"
            )
    return {k.lower(): v for k, v in pairs.items()}


def _cell(row: Mapping[str, Any], column: str | None) -> str:
    if not column:
        return ""
    value = row.get(column)
    return "" if value is None else str(value).strip()


def _deleted(text: str) -> bool | None:
    """Whether a ``deleted_column`` cell deletes; None for a value in neither set."""
    value = text.lower()
    if value in TRUE:
        return True
    return False if value in FALSE else None


def _time(text: str) -> float | None:
    return to_unix(text) if text else None


@hashcore.hookimpl
def hashcore_bank_formats() -> list[type]:
    return [MappedFormat]
