"""Which of this store's opinions still have to go out, and marking them sent.

Shared by the two ways an opinion leaves: back to a followed hashcore
(:mod:`hashcore.opinions.upstream`) and to a partner API (:mod:`hashcore.opinions.feedback`).
A bank's entries come from one source, so one ``sent_at`` per opinion is enough.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

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
