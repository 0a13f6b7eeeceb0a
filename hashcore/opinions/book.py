"""Opinions in the store: recording them, reading them, and keeping the exception list current.

Every opinion is kept (the history is the audit trail); what counts is each author's latest.
``match_exceptions`` is derived from the local ones in the transaction that records them: the
hashes of an author's latest run of false positives on an entry (each a different look-alike
reported) are the entry's exceptions for that author; any later opinion of theirs of another
kind (a ``confirmed``, a ``withdrawn``) lifts them. A partner's opinion (``origin`` set) never
touches the list: the receiving store's owner decides what to do with their own data.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace

from hashcore.errors import InvalidInput, NotFound
from hashcore.opinions.model import NewOpinion, Opinion, OpinionKind
from hashcore.signals import Signal
from hashcore.store import Store, StoreWriter

_COLUMNS = (
    "o.id, b.name, e.external_id, o.kind, o.author, o.note, o.hashes, o.origin, o.created_at,"
    " o.uid, o.sent_at, o.sent_to"
)
_FROM = " FROM opinions o JOIN entries e ON e.id = o.entry_id JOIN banks b ON b.id = e.bank_id"
_CHUNK = 500


def hashes_json(hashes: Iterable[Signal]) -> str:
    """``[[family, hex], ...]`` without repeats, in a stable order."""
    pairs = sorted({(signal.type, signal.value.hex()) for signal in hashes})
    return json.dumps([list(pair) for pair in pairs], separators=(",", ":"))


def hashes_from_json(text: str) -> tuple[Signal, ...]:
    return tuple(Signal(family, bytes.fromhex(value)) for family, value in json.loads(text))


def record(
    writer: StoreWriter, opinion: NewOpinion, *, history: bool = False
) -> tuple[Opinion, bool]:
    """Store ``opinion`` in the writer's transaction; ``(stored, True)`` if it was new, the
    earlier copy and ``False`` if the same ``(origin, uid)`` was recorded before (a resend).

    A withdrawal must take something back: :class:`NotFound` when its author has no standing
    opinion on the entry (none, or withdrawn already), else it would be sent on as a verdict
    of its own. ``history`` records it all the same: an imported audit trail is kept as it
    was written."""
    opinion = opinion.checked()
    conn = writer.connection
    entry_id = _entry_id(conn, opinion.bank, opinion.external_id)
    origin = opinion.origin or ""
    if opinion.kind is OpinionKind.WITHDRAWN and not history:
        _require_standing(conn, entry_id, opinion, origin)
    cursor = conn.execute(
        "INSERT INTO opinions (entry_id, uid, kind, note, author, origin, created_at, hashes)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin, uid) DO NOTHING",
        (
            entry_id,
            opinion.uid,
            opinion.kind.value,
            opinion.note,
            opinion.author,
            origin,
            time.time() if opinion.created_at is None else opinion.created_at,
            hashes_json(opinion.hashes),
        ),
    )
    new = cursor.rowcount == 1
    if new and not origin:
        refresh_exceptions(conn, entry_id, opinion.author)
    row = conn.execute(
        f"SELECT {_COLUMNS}{_FROM} WHERE o.origin = ? AND o.uid = ?",
        (origin, opinion.uid),
    ).fetchone()
    return _opinion(row), new


def _require_standing(
    conn: sqlite3.Connection, entry_id: int, opinion: NewOpinion, origin: str
) -> None:
    """Refuse a withdrawal when its author's latest opinion on the entry (from the same
    origin) is missing or a withdrawal; a resend of one already recorded passes."""
    resent = conn.execute(
        "SELECT 1 FROM opinions WHERE origin = ? AND uid = ?", (origin, opinion.uid)
    ).fetchone()
    if resent is not None:
        return
    latest = conn.execute(
        "SELECT kind FROM opinions WHERE entry_id = ? AND author = ? AND origin = ?"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        (entry_id, opinion.author, origin),
    ).fetchone()
    if latest is not None and latest[0] != OpinionKind.WITHDRAWN.value:
        return
    already = "" if latest is None else " (withdrawn already)"
    raise NotFound(
        f"no opinion by {opinion.author} on {opinion.bank}/{opinion.external_id} to "
        f"withdraw{already}",
        field="external_id",
    )


def refresh_exceptions(conn: sqlite3.Connection, entry_id: int, author: str) -> None:
    """Make ``author``'s exceptions on the entry those of their standing false positives."""
    conn.execute(
        "DELETE FROM match_exceptions WHERE entry_id = ? AND opinion_id IN"
        " (SELECT id FROM opinions WHERE entry_id = ? AND author = ? AND origin = '')",
        (entry_id, entry_id, author),
    )
    history = conn.execute(
        "SELECT id, kind, hashes FROM opinions WHERE entry_id = ? AND author = ? AND origin = ''"
        " ORDER BY created_at DESC, id DESC",
        (entry_id, author),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO match_exceptions (entry_id, family, value, opinion_id)"
        " VALUES (?, ?, ?, ?)",
        [(entry_id, family, value, opinion_id)
         for opinion_id, family, value in standing_exceptions(history)],
    )  # fmt: skip


def standing_exceptions(history: Iterable[tuple[int, str, str]]) -> list[tuple[int, str, bytes]]:
    """``(opinion id, family, value)`` excepted by one author's local opinions on one entry,
    given newest first as ``(id, kind, hashes JSON)``: the hashes of their latest run of false
    positives. Each of those reported a different look-alike, so all of them stand; any other
    opinion (``confirmed``, ``disputed``, a withdrawal) ends the run and lifts what is older."""
    rows = []
    for opinion_id, kind, hashes in history:
        if kind != OpinionKind.FALSE_POSITIVE.value:
            break
        rows += [(opinion_id, s.type, s.value) for s in hashes_from_json(hashes)]
    return rows


def list_opinions(
    store: Store,
    bank: str | None = None,
    external_id: str | None = None,
    *,
    origin: str | None = None,
    known_entry: bool = False,
) -> list[Opinion]:
    """Opinions, oldest first, of every bank or one (and one entry); ``origin`` keeps only
    those received from that partner. With ``known_entry`` an entry the bank lacks is
    :class:`NotFound` rather than no opinions: for the store's own user (the CLI), not a
    server's callers, to whom it would tell which external ids a bank holds."""
    where, params = ["1 = 1"], []
    if bank is not None:
        store.get_bank(bank)  # NotFound names the bank
        where.append("b.name = ?")
        params.append(bank)
        if external_id is not None and known_entry:
            _entry_id(store.read_connection(), bank, external_id)
    if external_id is not None:
        where.append("e.external_id = ?")
        params.append(external_id)
    if origin is not None:
        where.append("o.origin = ?")
        params.append(origin)
    rows = store.read_connection().execute(
        f"SELECT {_COLUMNS}{_FROM} WHERE {' AND '.join(where)} ORDER BY o.created_at, o.id",
        params,
    )
    return [_opinion(row) for row in rows]


def exceptions_for(store: Store, entry_ids: Sequence[int]) -> dict[int, list[Signal]]:
    """The excepted hashes of these entries (most have none: one indexed probe per 500)."""
    conn = store.read_connection()
    found: dict[int, list[Signal]] = {}
    try:
        for start in range(0, len(entry_ids), _CHUNK):
            chunk = list(entry_ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            for entry_id, family, value in conn.execute(
                "SELECT DISTINCT entry_id, family, value FROM match_exceptions"  # noqa: S608
                f" WHERE entry_id IN ({marks})",
                chunk,
            ):
                found.setdefault(int(entry_id), []).append(Signal(family, bytes(value)))
    except sqlite3.OperationalError as error:  # a read-only store opened before version 7
        if "no such table" not in str(error):
            raise
    return found


def _entry_id(conn: sqlite3.Connection, bank: str, external_id: str) -> int:
    row = conn.execute(
        "SELECT e.id FROM entries e JOIN banks b ON b.id = e.bank_id"
        " WHERE b.name = ? AND e.external_id = ?",
        (bank, external_id),
    ).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM banks WHERE name = ?", (bank,)).fetchone() is None:
            raise NotFound(f"no bank named {bank!r}", field="bank")
        raise NotFound(
            f"bank {bank!r} has no entry {external_id!r}{_numbered(conn, bank, external_id)}",
            field="external_id",
        )
    return int(row[0])


def _numbered(conn: sqlite3.Connection, bank: str, given: str) -> str:
    """A hint when ``given`` is the entry number a lookup prints (``entry 12 (md5:...)``)
    rather than the entry's id in its bank, which opinions name."""
    if not given.isdigit():
        return ""
    row = conn.execute(
        "SELECT e.external_id FROM entries e JOIN banks b ON b.id = e.bank_id"
        " WHERE b.name = ? AND e.id = ?",
        (bank, int(given)),
    ).fetchone()
    return "" if row is None else f" (entry {given} is {row[0]!r}: name it by that id)"


def _opinion(row: Sequence[object]) -> Opinion:
    (id_, bank, external_id, kind, author, note, hashes, origin, created, uid, sent_at,
     sent_to) = row  # fmt: skip
    return Opinion(
        id=int(str(id_)),
        bank=str(bank),
        external_id=str(external_id),
        kind=OpinionKind(str(kind)),
        author=str(author),
        note=None if note is None else str(note),
        hashes=hashes_from_json(str(hashes)),
        origin=str(origin) or None,
        created_at=float(str(created)),
        uid=str(uid),
        sent_at=None if sent_at is None else float(str(sent_at)),
        sent_to=None if sent_to is None else str(sent_to),
    )


def record_imported(
    writer: object, bank: str, external_id: str, opinions: Sequence[NewOpinion]
) -> None:
    """Record the opinions an imported record carries (a hashcore export) on its entry of
    ``bank``, in the import's transaction; each lands once however often it is imported."""
    if not isinstance(writer, StoreWriter):
        raise InvalidInput("opinions are imported into a store only", field="opinions")
    for opinion in opinions:
        record(writer, replace(opinion, bank=bank, external_id=external_id.strip()), history=True)
