"""Opinions in hashcore's lossless export: an entry line's ``opinions`` list.

Every opinion on the entry, oldest first, with what a receiving store needs to hold the same
history: its uid (so importing twice records it once), kind, author, note, origin (``null``:
formed at the exporting store) and the content's hashes. Where it was sent is the exporting
store's business and stays out, so an export, an import and a new export read the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hashcore.errors import InvalidInput
from hashcore.opinions.model import NewOpinion, Opinion, opinion_kind
from hashcore.signals import Signal


def opinion_json(opinion: Opinion) -> dict[str, Any]:
    data: dict[str, Any] = {
        "uid": opinion.uid,
        "kind": opinion.kind.value,
        "author": opinion.author,
        "created_at": opinion.created_at,
        "hashes": [[s.type, s.value.hex()] for s in opinion.hashes],
    }
    if opinion.note is not None:
        data["note"] = opinion.note
    if opinion.origin is not None:
        data["origin"] = opinion.origin
    return data


def opinions_from_json(raw: object, external_id: str) -> tuple[NewOpinion, ...]:
    """The opinions of an entry line (their bank is filled in by the importer);
    :class:`InvalidInput` for a malformed list."""
    if not isinstance(raw, list):
        raise InvalidInput("opinions is not a list", field="opinions")
    return tuple(_one(item, external_id) for item in raw)


def _one(item: object, external_id: str) -> NewOpinion:
    if not isinstance(item, Mapping):
        raise InvalidInput("an opinion is not an object", field="opinions")
    uid, author, created = item.get("uid"), item.get("author"), item.get("created_at")
    note, origin, hashes = item.get("note"), item.get("origin"), item.get("hashes", [])
    if not (isinstance(uid, str) and isinstance(author, str) and isinstance(item.get("kind"), str)):
        raise InvalidInput("an opinion needs uid, kind and author", field="opinions")
    if isinstance(created, bool) or not isinstance(created, int | float):
        raise InvalidInput("an opinion needs created_at", field="opinions")
    if not (note is None or isinstance(note, str)) or not (
        origin is None or isinstance(origin, str)
    ):
        raise InvalidInput("an opinion's note and origin are strings", field="opinions")
    try:
        signals = tuple(Signal(str(family), bytes.fromhex(value)) for family, value in hashes)
    except (TypeError, ValueError):
        raise InvalidInput(
            "an opinion's hashes are [family, hex] pairs", field="opinions"
        ) from None
    return NewOpinion(
        "", external_id, opinion_kind(str(item["kind"])), author, note, signals, origin,
        float(created), uid,
    ).checked()  # fmt: skip
