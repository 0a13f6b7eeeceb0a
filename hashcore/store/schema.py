"""The SQLite schema of a store, created or checked when a store is opened.

A hash value is stored once per family in ``signal_values`` however many entries (in however
many banks) carry it; its row id is the id the family's index knows it by. ``refs`` counts the
*active* entries that carry it: the value is in the index exactly while ``refs > 0``, and every
0 -> 1 and 1 -> 0 step appends a row to ``changes``, so an index snapshot tagged with a sequence
number is brought up to date by replaying only the later changes.

``bank_counts`` keeps each bank's active entries (family ``''``) and the signals of its active
entries per family, maintained by the writer in the same transaction as the change, so listing
banks reads a few rows instead of scanning every entry (6.5 s on a 1M-entry bank).

Version 2 added ``bank_counts`` and made ``entry_signals`` a ``WITHOUT ROWID`` table (its
primary key is the table: one B-tree less to write per signal); a version 1 store is migrated
when it is opened.

Version 3 added ``entry_signals.variant``: NULL for a hash of the banked file as it is, else the
derived picture the value hashes (``trimmed``: the file with its borders cut off, banked beside
the plain hash so a clean copy matches a bordered banked file). Older stores get the column
(all NULL) when they are opened.

Version 4 added ``banks.priority`` (unset for older banks) and counts in ``bank_counts`` only
a file's own hashes, not those of its derived pictures (recounted on opening). Version 5 added
``family_counts``: each family's live values (``refs > 0``), moved by the writer with every
change-log row, so opening an index compares its size with a counter instead of counting
(1 s per family at 10M values). ``hashcore check`` recounts both counters.

Version 6 added the bank-level ``entry_log`` (a row per entry changed by a transaction, in
order, for followers of a shared bank: docs/sharing.md), kept by SQLite triggers so that every
write path logs,
``entry_origins`` (where a followed entry came from) and ``followers`` (how far each partner
has read a published bank). An older store's entries are logged once each when it is opened.

Version 7 added ``opinions`` (analysts' and partners' verdicts on entries: confirmed, false
positive, disputed, withdrawn; see :mod:`hashcore.opinions`) and ``match_exceptions``, the local
false-positive exception list derived from them. They are created with ``CREATE TABLE IF NOT
EXISTS`` on every opening, so an older store gets them empty.

Version 8 added ``entries.partner_at``: the partner's time of the newest dated record applied
to the entry, NULL when none was dated (``updated_at`` is then our clock). Partner records are
ordered by it, so a record without a time, stamped with the import's time, can no longer
outrank the partner's dated deletion. An older store's entries get their ``updated_at`` (the
order they were kept in so far).
"""

from __future__ import annotations

import sqlite3
import uuid

from hashcore.errors import HashcoreError

SCHEMA_VERSION = 8

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS banks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source TEXT,
    labels TEXT NOT NULL DEFAULT '[]',
    enabled INTEGER NOT NULL DEFAULT 1,
    thresholds TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    priority INTEGER
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    bank_id INTEGER NOT NULL REFERENCES banks(id),
    external_id TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '[]',
    source TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'withdrawn', 'deleted')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    partner_at REAL,
    UNIQUE (bank_id, external_id)
);
CREATE TABLE IF NOT EXISTS signal_values (
    id INTEGER PRIMARY KEY,
    family TEXT NOT NULL,
    value BLOB NOT NULL,
    refs INTEGER NOT NULL DEFAULT 0,
    UNIQUE (family, value)
);
CREATE INDEX IF NOT EXISTS signal_values_live ON signal_values (family) WHERE refs > 0;
CREATE TABLE IF NOT EXISTS entry_signals (
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    value_id INTEGER NOT NULL REFERENCES signal_values(id),
    quality INTEGER,
    variant TEXT,
    PRIMARY KEY (entry_id, value_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entry_signals_value ON entry_signals (value_id);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    family TEXT NOT NULL,
    value_id INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_family ON changes (family, seq);
CREATE TABLE IF NOT EXISTS bank_counts (
    bank_id INTEGER NOT NULL REFERENCES banks(id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (bank_id, family)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS family_counts (
    family TEXT PRIMARY KEY,
    live INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    bank_id INTEGER NOT NULL REFERENCES banks(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (bank_id, source)
);
"""

OPINIONS_DDL = """
CREATE TABLE IF NOT EXISTS opinions (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    uid TEXT NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('confirmed', 'false_positive', 'disputed', 'withdrawn')),
    note TEXT,
    author TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    hashes TEXT NOT NULL DEFAULT '[]',
    sent_at REAL,
    sent_to TEXT,
    UNIQUE (origin, uid)
);
CREATE INDEX IF NOT EXISTS opinions_entry ON opinions (entry_id, author, created_at);
CREATE INDEX IF NOT EXISTS opinions_unsent ON opinions (entry_id) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS match_exceptions (
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    value BLOB NOT NULL,
    opinion_id INTEGER NOT NULL REFERENCES opinions(id) ON DELETE CASCADE,
    PRIMARY KEY (entry_id, family, value, opinion_id)
) WITHOUT ROWID;
"""
"""Opinions and the exception list (version 7). ``origin`` is ``''`` for this store's own
opinions, else the partner they came from; ``uid`` makes a resent opinion land once;
``sent_at``/``sent_to`` are the outbox (:mod:`hashcore.opinions.upstream`). ``hashes`` is the
JSON ``[[family, hex], ...]`` of the content an opinion is about; ``match_exceptions`` holds
those of each author's latest local false positive, rewritten with every opinion."""

ENTRY_SIGNALS_V2 = """
CREATE TABLE entry_signals_v2 (
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    value_id INTEGER NOT NULL REFERENCES signal_values(id),
    quality INTEGER,
    PRIMARY KEY (entry_id, value_id)
) WITHOUT ROWID;
INSERT INTO entry_signals_v2 (entry_id, value_id, quality)
    SELECT entry_id, value_id, quality FROM entry_signals ORDER BY entry_id, value_id;
DROP TABLE entry_signals;
ALTER TABLE entry_signals_v2 RENAME TO entry_signals;
CREATE INDEX entry_signals_value ON entry_signals (value_id);
"""
"""Version 1 -> 2: ``entry_signals`` copied into its ``WITHOUT ROWID`` shape."""

ENTRY_SIGNALS_V3 = "ALTER TABLE entry_signals ADD COLUMN variant TEXT"
"""Version 2 -> 3: the stored variant, NULL (the file as it is) for every existing signal."""

BANKS_V4 = "ALTER TABLE banks ADD COLUMN priority INTEGER"
"""Version 3 -> 4: the bank priority, NULL (unset) for every existing bank."""

ENTRIES_V8 = (
    "ALTER TABLE entries ADD COLUMN partner_at REAL",
    "UPDATE entries SET partner_at = updated_at",
)
"""Version 7 -> 8: the partner's time of each entry. Which stored times were ours is not
known, so every one counts as the partner's: the order older versions kept."""

RECOUNT_SQL = """
SELECT bank_id, '', COUNT(*) FROM entries WHERE status = 'active' GROUP BY bank_id
UNION ALL
SELECT e.bank_id, v.family, COUNT(*) FROM entry_signals s
    JOIN entries e ON e.id = s.entry_id JOIN signal_values v ON v.id = s.value_id
    WHERE e.status = 'active' AND s.variant IS NULL GROUP BY e.bank_id, v.family
"""
"""``bank_counts`` computed from scratch: the migration, and the oracle in tests."""

FAMILY_RECOUNT_SQL = "SELECT family, COUNT(*) FROM signal_values WHERE refs > 0 GROUP BY family"
"""``family_counts`` (live values per family) computed from scratch. Kept as a counter because
an index opening compares its size with it: counting 10M values took 1 s per family."""


NOW_SQL = "((julianday('now') - 2440587.5) * 86400.0)"
"""Unix time in SQL, to the millisecond (``unixepoch('subsec')`` needs SQLite 3.42)."""

ENTRY_LOG_DDL = """
CREATE TABLE IF NOT EXISTS entry_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bank_id INTEGER NOT NULL,
    entry_id INTEGER NOT NULL,
    external_id TEXT NOT NULL,
    op TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entry_log_bank ON entry_log (bank_id, seq);
CREATE TABLE IF NOT EXISTS entry_log_mark (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    seq INTEGER NOT NULL,
    entry INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entry_origins (
    entry_id INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
    partner TEXT NOT NULL,
    remote_bank TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS followers (
    bank_id INTEGER NOT NULL REFERENCES banks(id) ON DELETE CASCADE,
    partner TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (bank_id, partner)
) WITHOUT ROWID
"""
"""Version 6: the bank-level change log of entries, followed entries' origins, and how far
each follower of a published bank has read. The log says *which* entry changed, not how: a
publisher reads the entry's state when it sends it."""

_LOG_ROW = "INSERT INTO entry_log (bank_id, entry_id, external_id, op, ts)"
_ENTRY = "SELECT bank_id, id, external_id, '{op}', {now} FROM entries WHERE id = {who}.entry_id"
_NOT_JUST_LOGGED = (
    "(SELECT entry_id FROM entry_log WHERE seq > COALESCE((SELECT seq FROM entry_log_mark), 9e18)"
    " ORDER BY seq DESC LIMIT 1) IS NOT {id}"
)
_OLD_ENTRY = "{id} <= COALESCE((SELECT entry FROM entry_log_mark), 9e18)"
ENTRY_LOG_TRIGGERS = (
    f"""CREATE TRIGGER IF NOT EXISTS entry_log_insert AFTER INSERT ON entries BEGIN
    {_LOG_ROW} VALUES (NEW.bank_id, NEW.id, NEW.external_id, 'insert', {NOW_SQL}); END""",  # noqa: S608
    f"""CREATE TRIGGER IF NOT EXISTS entry_log_update AFTER UPDATE ON entries
    WHEN (OLD.labels IS NOT NEW.labels OR OLD.status IS NOT NEW.status
    OR OLD.source IS NOT NEW.source OR OLD.updated_at IS NOT NEW.updated_at
    OR OLD.external_id IS NOT NEW.external_id OR OLD.bank_id IS NOT NEW.bank_id)
    AND {_NOT_JUST_LOGGED.format(id="NEW.id")} BEGIN
    {_LOG_ROW} VALUES (NEW.bank_id, NEW.id, NEW.external_id, 'update', {NOW_SQL}); END""",
    f"""CREATE TRIGGER IF NOT EXISTS entry_log_delete AFTER DELETE ON entries BEGIN
    {_LOG_ROW} VALUES (OLD.bank_id, OLD.id, OLD.external_id, 'delete', {NOW_SQL}); END""",
    # A signal change need not touch the entry row (a partner record re-sent with the same
    # updated_at and other hashes), so the links of entries older than the transaction log
    # too (a new entry was logged by its insert; nothing once the entry row is gone).
    f"""CREATE TRIGGER IF NOT EXISTS entry_log_link AFTER INSERT ON entry_signals
    WHEN {_OLD_ENTRY.format(id="NEW.entry_id")} AND {_NOT_JUST_LOGGED.format(id="NEW.entry_id")}
    BEGIN {_LOG_ROW} {_ENTRY.format(op="signals", now=NOW_SQL, who="NEW")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS entry_log_unlink AFTER DELETE ON entry_signals
    WHEN {_OLD_ENTRY.format(id="OLD.entry_id")} AND {_NOT_JUST_LOGGED.format(id="OLD.entry_id")}
    BEGIN {_LOG_ROW} {_ENTRY.format(op="signals", now=NOW_SQL, who="OLD")}; END""",
)
"""Every write to ``entries`` or ``entry_signals`` appends a row to ``entry_log``, whichever
code (or tool) makes it: the import path, single-entry verbs, a repair, a hand edit.

Within a hashcore transaction, ``entry_log_mark`` holds the log's end and the largest entry id
when it began (:data:`MARK_LOG`; cleared before it commits, so other tools, which set no mark,
always log). A signal of an entry created by the transaction is not logged (its insert was),
nor one whose entry the transaction's last log row already names: an import logs each new
entry once and costs a probe of a one-row table per signal, and an entry's later change always
gets a row past any checkpoint a follower may hold.
"""

MARK_LOG = (
    "INSERT OR REPLACE INTO entry_log_mark (id, seq, entry) VALUES (0,"
    " COALESCE((SELECT MAX(seq) FROM entry_log), 0), COALESCE((SELECT MAX(id) FROM entries), 0))"
)
"""Run by the store right after ``BEGIN``: rows past this are this transaction's."""
UNMARK_LOG = "DELETE FROM entry_log_mark"
"""Run by the store just before ``COMMIT`` (a rollback drops the mark too)."""

ENTRY_LOG_SEED = (
    "INSERT INTO entry_log (bank_id, entry_id, external_id, op, ts)"  # noqa: S608 - constants
    f" SELECT bank_id, id, external_id, 'seed', {NOW_SQL} FROM entries ORDER BY id"
)
"""Version 5 -> 6: one row per existing entry, so a follower of an older bank gets it all."""


def connect(path: str, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, foreign keys on."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return conn


def ensure_schema(conn: sqlite3.Connection) -> str:
    """Create the tables if needed, refuse a newer schema, and return the store's id.

    The store id lets an index snapshot prove it was built from this store and not from an
    earlier one that happened to reach the same sequence number.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise HashcoreError(
                f"store schema version {version} is newer than this hashcore ({SCHEMA_VERSION})"
            )
        _run_script(conn, DDL)
        _run_script(conn, OPINIONS_DDL)
        if version == 1:  # a new store (0) was just created in the current shape
            _migrate_to_v2(conn)
        if version in (1, 2):
            conn.execute(ENTRY_SIGNALS_V3)
        if version in (1, 2, 3) and not _has_column(conn, "banks", "priority"):
            conn.execute(BANKS_V4)
        if version in (1, 3):  # v1 had no counts; v4 counts plain hashes, not derived ones
            conn.execute("DELETE FROM bank_counts")
            conn.execute(f"INSERT INTO bank_counts (bank_id, family, count) {RECOUNT_SQL}")
        if version in (1, 2, 3, 4):  # v5 keeps each family's live values counted
            conn.execute("DELETE FROM family_counts")
            conn.execute(f"INSERT INTO family_counts (family, live) {FAMILY_RECOUNT_SQL}")
        if 0 < version < 8 and not _has_column(conn, "entries", "partner_at"):
            for statement in ENTRIES_V8:
                conn.execute(statement)
        _run_script(conn, ENTRY_LOG_DDL)
        for trigger in ENTRY_LOG_TRIGGERS:
            conn.execute(trigger)
        if 0 < version < 6:  # v6 logs every entry write; older entries are logged once here
            conn.execute(ENTRY_LOG_SEED)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,)
        )
        store_id = str(conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return store_id


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    """Reshape ``entry_signals`` without its rowid (the banks are counted at the end)."""
    _run_script(conn, ENTRY_SIGNALS_V2)


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Each statement of ``script`` in the open transaction (``executescript`` would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
