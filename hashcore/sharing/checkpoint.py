"""The checkpoint a publisher sends with each update: ``<store id>:<log position>``.

Opaque to the follower, which stores it and gives it back. The store id lets the publisher
refuse a checkpoint of another store (the source was rebuilt from scratch: its positions mean
something else) instead of silently skipping or replaying entries.
"""

from __future__ import annotations

from hashcore.errors import InvalidInput

MAX_CHECKPOINT = 200


def format_checkpoint(store_id: str, seq: int) -> str:
    return f"{store_id}:{seq}"


def parse_checkpoint(text: str, store_id: str, end: int) -> int:
    """The log position of ``text`` (0 for an empty one: from the start); :class:`InvalidInput`
    for a malformed checkpoint, one of another store, or one past the end of the log."""
    if not text:
        return 0
    owner, sep, seq = text.rpartition(":")
    if len(text) > MAX_CHECKPOINT or not sep or not seq.isdigit() or not owner:
        raise InvalidInput(f"malformed checkpoint {text[:64]!r}", field="after")
    if owner != store_id:
        raise InvalidInput(
            "the checkpoint belongs to another store: the source bank was rebuilt; follow it "
            "again into a new local bank",
            field="after",
        )
    position = int(seq)
    if position > end:
        raise InvalidInput(
            f"the checkpoint ({position}) is ahead of the bank's log ({end}): the source was "
            "restored from an older copy",
            field="after",
        )
    return position
