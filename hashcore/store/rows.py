"""Converting between SQLite rows and the model, and normalising what callers pass in."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from hashcore.errors import InvalidInput
from hashcore.model import PRIORITIES, Bank, Entry, EntryStatus
from hashcore.signals import Signal

BANK_COLUMNS = "id, name, source, labels, enabled, thresholds, created_at, priority"

ENTRY_COLUMNS = (
    "e.id, b.name, e.external_id, e.labels, e.source, e.status, e.created_at, e.updated_at"
)


def clean_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """Labels sorted and de-duplicated, so equal sets compare equal in upserts."""
    if isinstance(labels, str):
        raise InvalidInput("labels must be a list of strings, not one string", field="labels")
    cleaned = set()
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise InvalidInput(f"invalid label {label!r}", field="labels")
        cleaned.add(label.strip())
    return tuple(sorted(cleaned))


def clean_thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """Threshold overrides as plain finite floats; the families are checked by the engine."""
    result: dict[str, float] = {}
    for family, value in (thresholds or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"threshold for {family!r} is not a number", field="thresholds"
            ) from None
        if not math.isfinite(number):
            raise InvalidInput(f"threshold for {family!r} must be finite", field="thresholds")
        result[str(family)] = number
    return result


def clean_priority(priority: int | None) -> int | None:
    """A bank priority 1..5, or ``None`` (unset)."""
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
        raise InvalidInput(
            f"priority must be {PRIORITIES[0]} (highest) to {PRIORITIES[-1]}, got {priority!r}",
            field="priority",
        )
    return priority


def bank_from_row(row: tuple[Any, ...]) -> Bank:
    return Bank(
        name=row[1],
        source=row[2],
        labels=tuple(json.loads(row[3])),
        enabled=bool(row[4]),
        thresholds=json.loads(row[5]),
        created_at=row[6],
        priority=row[7],
    )


def entry_from_row(row: tuple[Any, ...], signals: Iterable[Signal]) -> Entry:
    return Entry(
        id=row[0],
        bank=row[1],
        external_id=row[2],
        labels=tuple(json.loads(row[3])),
        source=row[4],
        status=EntryStatus(row[5]),
        created_at=row[6],
        updated_at=row[7],
        signals=tuple(signals),
    )


def dump_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
