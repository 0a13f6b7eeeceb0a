"""Which of this store's opinions still have to go out, and marking them sent.

Shared by the two ways an opinion leaves: back to a followed hashcore
(:mod:`hashcore.opinions.upstream`) and to a partner API (:mod:`hashcore.opinions.feedback`).
A bank's entries come from one source, so one ``sent_at`` per opinion is enough: when it left
the outbox, ``sent_to`` saying where (or, for feedback, why it was not sent).

A followed hashcore keeps every opinion (the history is its audit trail too), so
:func:`pending` is every unsent row. A partner API holds one verdict per entry of ours, so
:func:`standing` gives each author's latest opinion on an entry and the unsent ones it
superseded, which are never worth sending.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from hashcore.opinions import book
from hashcore.opinions.model import Opinion
from hashcore.store import Store


def pending(store: Store, bank: str, *, limit: int | None = None) -> list[Opinion]:
    """This store's own opinions on entries of ``bank`` not sent yet, oldest first."""
    store.get_bank(bank)  # NotFound names the bank
    rows = store.read_connection().execute(
        "SELECT o.id FROM opinions o JOIN entries e ON e.id = o.entry_id"
        " JOIN banks b ON b.id = e.bank_id"
        " WHERE b.name = ? AND o.origin = '' AND o.sent_at IS NULL"
        " ORDER BY o.created_at, o.id LIMIT ?",
        (bank, -1 if limit is None else limit),
    )
    wanted = {int(row[0]) for row in rows}
    return [o for o in book.list_opinions(store, bank) if o.id in wanted]


@dataclass(frozen=True, slots=True)
class Standing:
    """One author's opinions on one entry with something still unsent, oldest first."""

    history: tuple[Opinion, ...]

    @property
    def latest(self) -> Opinion:
        """What the author holds now: the one opinion a partner should hear."""
        return self.history[-1]

    @property
    def superseded(self) -> list[Opinion]:
        """Unsent opinions the author replaced before they went out."""
        return [o for o in self.history[:-1] if o.sent_at is None]


def standing(store: Store, bank: str) -> list[Standing]:
    """Per (entry, author) of this store's own opinions on ``bank`` with any unsent, the
    author's history there; ordered by the latest opinion's time, so the oldest goes first."""
    store.get_bank(bank)  # NotFound names the bank
    groups: dict[tuple[str, str], list[Opinion]] = {}
    for opinion in book.list_opinions(store, bank):  # oldest first, as "latest" counts
        if opinion.local:
            groups.setdefault((opinion.external_id, opinion.author), []).append(opinion)
    found = [Standing(tuple(rows)) for rows in groups.values()]
    found = [s for s in found if any(o.sent_at is None for o in s.history)]
    return sorted(found, key=lambda s: (s.latest.created_at, s.latest.id))


def mark_sent(store: Store, ids: Sequence[int], checkpoint: str) -> int:
    """Record that these opinions reached their destination (``checkpoint`` says which and
    where: ``host:port/bank``, a partner API); returns how many were still pending."""
    marked = 0
    with store.transaction() as writer:
        now = time.time()
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            cursor = writer.connection.execute(
                f"UPDATE opinions SET sent_at = ?, sent_to = ? WHERE id IN ({marks})"  # noqa: S608
                " AND sent_at IS NULL",
                (now, checkpoint, *chunk),
            )
            marked += cursor.rowcount
    return marked
