"""hashcore's own JSON-lines exchange format: lossless, for hotline-to-hotline sharing.

Line 1 is a header ``{"format": "hashcore-bank", "version": 1, "bank": {...}}``; every other
line is one entry with all its signals, labels, status and times, including withdrawn and
deleted ones (the receiver must stop matching them too). Values are hex up to 128 bytes and
base64 above (TMK features), so a file stays greppable without being lossy.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, ClassVar

import hashcore
from hashcore.errors import InvalidInput
from hashcore.formats.base import BankFormat
from hashcore.formats.columns import AHEAD, Runs, UpdateColumns, drain, flattened
from hashcore.formats.pytx import text_lines
from hashcore.formats.records import Item, Problem, Skip
from hashcore.model import PRIORITIES, Bank, BankSettings, Entry, EntryStatus
from hashcore.opinions.lines import opinion_json, opinions_from_json
from hashcore.opinions.model import Opinion
from hashcore.signals import Signal, stored_variant
from hashcore.store.columns import SignalRow

_STATUSES = {status.value: status for status in EntryStatus}
FORMAT_ID = "hashcore-bank"
VERSION = 1
HEX_LIMIT = 128


def header_line(bank: Bank) -> str:
    """The first line of an export of ``bank``."""
    return _dump(
        {
            "format": FORMAT_ID,
            "version": VERSION,
            "exported_at": time.time(),
            "bank": {
                "name": bank.name,
                "labels": list(bank.labels),
                "source": bank.source,
                "thresholds": dict(bank.thresholds),
                "priority": bank.priority,
                "enabled": bank.enabled,
            },
        }
    )


def entry_line(entry: Entry, *, with_source: bool = False, opinions: Sequence[Opinion] = ()) -> str:
    """One entry, every field a receiver needs to reproduce it exactly, and the opinions on
    it (``hashcore.opinions.lines``; the key is left out when there are none).

    The entry's ``source`` is where this hotline got the file (for ``bank add``, its local
    path), which is nobody else's business: it is written only when asked for."""
    data: dict[str, Any] = {
        "external_id": entry.external_id,
        "status": entry.status.value,
        "labels": list(entry.labels),
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "signals": [_signal_json(s) for s in entry.signals],
    }
    if with_source:
        data["source"] = entry.source
    if opinions:
        data["opinions"] = [opinion_json(opinion) for opinion in opinions]
    return _dump(data)


def _signal_json(signal: Signal) -> dict[str, Any]:
    data: dict[str, Any] = {"type": signal.type}
    if len(signal.value) <= HEX_LIMIT:
        data["hex"] = signal.value.hex()
    else:
        data["base64"] = base64.b64encode(signal.value).decode("ascii")
    if signal.quality is not None:
        data["quality"] = signal.quality
    if signal.variant is not None:
        data["variant"] = signal.variant  # a derived picture's hash: "trimmed"
    return data


def _dump(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


class NativeFormat(BankFormat):
    name: ClassVar[str] = "hashcore"
    description: ClassVar[str] = "hashcore JSON-lines bank export (lossless)"

    def bank_settings(self, stream: IO[bytes]) -> BankSettings | None:
        """The header's labels, thresholds, source, priority and whether the bank matched (a
        restored backup of a disabled bank stays disabled; a header without ``enabled``, from
        before it was written, means enabled); ``None`` if the header is unusable (:meth:`read`
        then reports why)."""
        line = next((text for text in text_lines(stream) if text.strip()), "")
        try:
            header = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(header, dict) or header.get("format") != FORMAT_ID:
            return None
        bank = header.get("bank")
        if not isinstance(bank, dict):
            return None
        labels, thresholds, source = bank.get("labels"), bank.get("thresholds"), bank.get("source")
        priority = bank.get("priority")
        if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            labels = []
        if not isinstance(thresholds, dict):
            thresholds = {}
        return BankSettings(
            labels=tuple(labels),
            thresholds={
                str(family): float(value)
                for family, value in thresholds.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
            source=source if isinstance(source, str) and source else None,
            priority=priority if type(priority) is int and priority in PRIORITIES else None,
            enabled=bank.get("enabled") is not False,
        )

    def read(self, stream: IO[bytes]) -> Iterator[Item]:
        runs = Runs()
        return flattened(drain(runs, self._parse(stream, runs), AHEAD))

    def read_columns(self, stream: IO[bytes]) -> Iterator[Item | UpdateColumns]:
        """The items, records parsed straight into columns (no record or signal objects)."""
        runs = Runs()
        return drain(runs, self._parse(stream, runs))

    def _parse(self, stream: IO[bytes], runs: Runs) -> Iterator[None]:
        """Fill ``runs`` line by line (yielding after each)."""
        seen_header = False
        for number, line in enumerate(text_lines(stream), 1):
            if not line.strip():
                continue
            position = f"line {number}"
            try:
                data = json.loads(line)
            except ValueError as error:
                runs.add(Problem(position, f"malformed JSON: {error}"))
                continue
            except RecursionError:
                runs.add(Problem(position, "JSON nested too deeply"))
                continue
            if not isinstance(data, dict):
                runs.add(Problem(position, "line is not a JSON object"))
                continue
            if not seen_header:
                if data.get("format") != FORMAT_ID:
                    runs.add(Problem(position, f"not a {FORMAT_ID} file (no header line)"))
                    return
                if data.get("version") != VERSION:
                    runs.add(Problem(position, f"unsupported {FORMAT_ID} version"))
                    return
                seen_header = True
                continue
            self._entry(data, position, runs)
            yield
        if not seen_header:
            runs.add(Problem("line 1", f"not a {FORMAT_ID} file (empty)"))

    def entry(self, data: Mapping[str, Any], position: str) -> Iterator[Item]:
        """The items of one entry line: its signals' problems and skips, then the update (or
        why there is none)."""
        runs = Runs()
        self._entry(data, position, runs)
        return flattened(runs.take())

    def _entry(self, data: Mapping[str, Any], position: str, runs: Runs) -> None:
        """:meth:`entry` into ``runs``."""
        key = data.get("external_id")
        if not isinstance(key, str) or not key:
            runs.add(Problem(position, "external_id missing"))
            return
        position = f"{position} ({key})"
        try:
            raw_status = data.get("status", "active")
            status = _STATUSES.get(raw_status) if type(raw_status) is str else None
            status = status or EntryStatus(raw_status)
            labels = _strings(data.get("labels", []))
            created, updated = _number(data.get("created_at")), _number(data.get("updated_at"))
        except (ValueError, InvalidInput):
            runs.add(Problem(position, "malformed status, labels or times"))
            return
        source = data.get("source")
        signals: list[SignalRow] = []
        raw_signals = data.get("signals", [])
        for raw in raw_signals if isinstance(raw_signals, list) else [None]:
            result = self._signal(raw, position)
            if type(result) is tuple:
                signals.append(result)
            else:
                runs.add(result)  # type: ignore[arg-type]
        if not signals and status is EntryStatus.ACTIVE:
            runs.add(Skip("no supported signal"))
            return
        try:
            opinions = opinions_from_json(data.get("opinions", []), key)
        except InvalidInput as error:
            runs.add(Problem(position, error.message))
            return
        runs.run().add(
            key,
            signals,
            labels,
            source if isinstance(source, str) else None,
            status,
            updated,
            created,
            position,
            entry_opinions=opinions,
        )
        runs.added()

    def _signal(self, raw: object, position: str) -> SignalRow | Skip | Problem:
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            return Problem(position, "signal is not an object with a type")
        family = self.families.family(raw["type"], position)
        if not isinstance(family, str):
            return family
        try:
            if isinstance(text := raw.get("hex"), str):
                value = bytes.fromhex(text)
            elif isinstance(text := raw.get("base64"), str):
                value = base64.b64decode(text, validate=True)
            else:
                return Problem(position, f"{family} signal without hex or base64 value")
        except (ValueError, binascii.Error):
            return Problem(position, f"malformed {family} value encoding")
        checked = self.families.checked(family, value, position)
        if isinstance(checked, Problem):
            return checked
        quality = raw.get("quality")
        if not isinstance(quality, int) or isinstance(quality, bool):
            quality = None
        variant = raw.get("variant")
        variant = stored_variant(variant) if isinstance(variant, str) else None
        return (family, checked, quality, True, variant)


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise InvalidInput("expected a list of strings")
    return tuple(value)


def _number(value: object) -> float | None:
    if value is None or type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("expected a number")
    return float(value)


@hashcore.hookimpl
def hashcore_bank_formats() -> list[type]:
    return [NativeFormat]
