"""The append-only audit table: who asked, when, and what matched.

It lives in its own SQLite file (``audit.sqlite`` in the store directory) so the engine's store
stays the engine's, and triggers refuse UPDATE and DELETE. Rows never hold content; they hold the
query's hashes only for the families that matched (a large value such as a TMK feature is
recorded by its SHA-256), so the table shows what was recognised without becoming a copy of
everything every partner looked up.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hashcore.model import Match
from hashcore.signals import Signal

FILENAME = "audit.sqlite"
_INLINE_MAX = 64  # bytes: bit hashes are written as hex, bigger values as a digest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    caller TEXT NOT NULL,
    peer TEXT NOT NULL,
    method TEXT NOT NULL,
    request_id TEXT NOT NULL,
    query_id TEXT,
    bank TEXT NOT NULL,
    entry_id INTEGER NOT NULL,
    external_id TEXT NOT NULL,
    families TEXT NOT NULL,
    hashes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;
"""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One matched entry of one lookup."""

    time: float
    caller: str
    peer: str
    method: str
    request_id: str
    query_id: str | None
    match: Match
    query_signals: Sequence[Signal]


class AuditLog:
    """Thread-safe appends to the audit table; one short transaction per lookup."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def append(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        rows = [_row(record) for record in records]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO audit (time, caller, peer, method, request_id, query_id, bank,"
                    " entry_id, external_id, families, hashes)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(record: AuditRecord) -> tuple[object, ...]:
    families = sorted({hit.type for hit in record.match.signals})
    hashes: dict[str, str] = {}
    for hit in record.match.signals:
        for signal in record.query_signals:
            if signal.type == hit.type and signal.variant == hit.variant:
                key = f"{hit.type}:{hit.variant}" if hit.variant else hit.type
                hashes[key] = _printable(signal.value)
                break
    return (
        record.time,
        record.caller,
        record.peer,
        record.method,
        record.request_id,
        record.query_id,
        record.match.bank,
        record.match.entry_id,
        record.match.external_id,
        json.dumps(families),
        json.dumps(hashes, sort_keys=True),
    )


def _printable(value: bytes) -> str:
    if len(value) <= _INLINE_MAX:
        return value.hex()
    return "sha256:" + hashlib.sha256(value).hexdigest()
