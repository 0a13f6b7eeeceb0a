"""The durable store: banks, entries and the change log in one SQLite file (WAL).

Reads use one connection per thread, so lookups in many threads read in parallel (WAL lets
readers run beside the writer); writes go through :meth:`Store.transaction`, one at a time.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hashcore.errors import NotFound, StoreError, StoreReadOnly
from hashcore.model import Bank, BankInfo, Entry, EntryOrigin, FollowerPosition
from hashcore.signals import Signal
from hashcore.store import sharing
from hashcore.store.counts import ENTRIES
from hashcore.store.rows import BANK_COLUMNS, ENTRY_COLUMNS, bank_from_row, entry_from_row
from hashcore.store.schema import MARK_LOG, SCHEMA_VERSION, UNMARK_LOG, connect, ensure_schema
from hashcore.store.sharing import LoggedEntry
from hashcore.store.storage import (
    connect_read_only,
    is_read_only_error,
    read_only_message,
    read_store_id,
    storage_error,
)
from hashcore.store.writer import StoreWriter, Validator

DB_NAME = "hashcore.sqlite3"
INDEX_DIR = "indexes"
"""Where the engine keeps its index snapshots, beside the database."""
_LIVE_SQL = (
    "SELECT s.value_id, e.id, b.name, e.external_id, e.labels, s.variant, s.quality"
    " FROM entry_signals s"
    " JOIN entries e ON e.id = s.entry_id JOIN banks b ON b.id = e.bank_id"
    " WHERE s.value_id IN ({marks}) AND e.status = 'active' AND b.enabled = 1"
)
_FAMILIES_SQL = (
    "WITH RECURSIVE f(family) AS ("
    " SELECT MIN(family) FROM signal_values"
    " UNION ALL SELECT (SELECT MIN(family) FROM signal_values WHERE family > f.family)"
    " FROM f WHERE f.family IS NOT NULL)"
    " SELECT family FROM f WHERE family IS NOT NULL"
)
"""The distinct families by skipping through the (family, value) index, one probe each: a
``SELECT DISTINCT`` reads every value (0.35 s at 3M values, paid on every engine open)."""
_CHUNK = 500
"""Ids per ``IN (...)`` list, well under SQLite's variable limit."""


@dataclass(frozen=True, slots=True)
class Change:
    """One step of the index log: ``value`` is None for removals."""

    seq: int
    value_id: int
    op: str
    value: bytes | None


@dataclass(frozen=True, slots=True)
class LiveEntry:
    """An active entry of an enabled bank carrying a matched value."""

    value_id: int
    entry_id: int
    bank: str
    external_id: str
    labels: tuple[str, ...]
    variant: str | None = None
    """What picture of the banked file the value hashes: None (the file), ``trimmed``."""
    quality: int | None = None
    """The value's quality as banked (PDQ: 0-100), which decides whether it may match alone."""


def lost_database(directory: Path, schema_version: int | None = None) -> str | None:
    """Why the store in ``directory`` cannot be opened when its database is missing, empty or
    (``schema_version`` 0, read once opened) without a schema while index snapshots lie beside
    it: the database was lost or replaced. Opening it would start a new store that answers "no
    match" for every banked file, and a repair would discard the snapshots, the last copy of
    its hashes. None when nothing says the database was lost."""
    snapshots = directory / INDEX_DIR
    if not (snapshots.is_dir() and any(snapshots.iterdir())):
        return None
    database = directory / DB_NAME
    if schema_version == 0:
        state = "holds no store (emptied or replaced)"
    elif not database.is_file():
        state = "is missing"
    elif database.stat().st_size == 0:
        state = "is empty (0 bytes)"
    else:
        return None
    return (
        f"store {directory}: {DB_NAME} {state} but {INDEX_DIR}/ holds index snapshots: restore "
        "the database from a backup (the indexes are derived from it and cannot rebuild it), "
        f"or remove {INDEX_DIR}/ too to start a new store"
    )


class Store:
    """Banks and entries under ``directory``; see :mod:`hashcore.store.schema` for the tables."""

    def __init__(self, directory: Path | str, *, validate: Validator | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.read_only = False
        """Opened for reading only (the files or directory are not writable): writes refuse."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"cannot create store {self.directory}: {error.strerror or error}"
            ) from None
        self._validate: Validator = validate or (lambda signal: signal)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._refuse_lost_database(opened=False)
        try:
            self._writer = self._open()
        except sqlite3.DatabaseError as error:  # "file is not a database" too
            if not (is_read_only_error(error) and self.path.is_file()):
                raise StoreError(f"cannot open store {self.directory}: {error}") from None
            self._open_read_only()
            return
        # The writer alone gets a bigger page cache and rarer WAL checkpoints: a bulk import
        # dirties random pages of the value index in every transaction, and a larger WAL
        # writes each of them back to the database fewer times (1M hashed NCMEC records:
        # 75 s -> 62 s with 200 MB of WAL, -3 s more with 1 GB, measured). The WAL file
        # keeps its size until the store is closed; cutting it back after each checkpoint
        # (journal_size_limit=64 MB) made that import 10 s slower, regrowing it every time.
        self._writer.execute("PRAGMA cache_size=-131072")  # KiB: 128 MiB
        self._writer.execute("PRAGMA wal_autocheckpoint=250000")  # pages: ~1 GB of WAL
        self._refuse_lost_database(opened=True)
        try:
            self.store_id = ensure_schema(self._writer)
        except sqlite3.OperationalError as error:
            if not is_read_only_error(error):
                raise
            self._open_read_only()

    def _refuse_lost_database(self, opened: bool) -> None:
        """:func:`lost_database`, checked once before the database is opened (so a refusal
        writes nothing) and once after, for a replaced file with no schema."""
        version = None
        if opened:
            try:
                version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
            except sqlite3.DatabaseError as error:
                raise StoreError(f"cannot open store {self.directory}: {error}") from None
        problem = lost_database(self.directory, version)
        if problem:
            if opened:
                self.close()
            raise StoreError(problem)

    def _open_read_only(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self.read_only = True
        self._local = threading.local()
        self._writer = self._open()
        self.store_id = read_store_id(self._writer, self.directory, SCHEMA_VERSION)

    def close(self) -> None:
        with self._connections_lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[StoreWriter]:
        """Every write in the block commits together, or none does (partner import batches)."""
        with self._write_lock:
            if self.read_only:
                raise StoreReadOnly(read_only_message(self.directory))
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise (storage_error(error, self.directory) or error) from None
            try:
                conn.execute(MARK_LOG)  # the bank log's triggers: rows past it are ours
                writer = StoreWriter(conn, self._validate, _read_entry)
                yield writer
                writer.finish()
                conn.execute(UNMARK_LOG)
                conn.execute("COMMIT")  # a full disk can refuse here too: rolled back below
            except BaseException as error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                clear = storage_error(error, self.directory)
                if clear is not None:
                    raise clear from None
                raise

    # Reads

    def get_bank(self, name: str) -> Bank:
        row = self._reader().execute(f"SELECT {BANK_COLUMNS} FROM banks WHERE name = ?", (name,))  # noqa: S608
        found = row.fetchone()
        if found is None:
            raise NotFound(f"no bank named {name!r}", field="bank")
        return bank_from_row(found)

    def list_banks(self) -> list[Bank]:
        rows = self._reader().execute(f"SELECT {BANK_COLUMNS} FROM banks ORDER BY name")  # noqa: S608
        return [bank_from_row(row) for row in rows]

    def bank_infos(self, names: Iterable[str] | None = None) -> list[BankInfo]:
        """Banks with their active entry and per-family signal counts (kept in ``bank_counts``)."""
        conn = self._reader()
        conn.execute("BEGIN")  # banks and counts from the same moment
        try:
            counts: dict[int, dict[str, int]] = defaultdict(dict)
            for bank_id, family, count in conn.execute(
                "SELECT bank_id, family, count FROM bank_counts WHERE count != 0"
            ):
                counts[bank_id][family] = count
            rows = conn.execute(f"SELECT {BANK_COLUMNS} FROM banks ORDER BY name").fetchall()  # noqa: S608
        finally:
            conn.execute("COMMIT")
        wanted = None if names is None else set(names)
        infos = []
        for row in rows:
            if wanted is None or row[1] in wanted:
                per_family = dict(counts[row[0]])
                entries = per_family.pop(ENTRIES, 0)
                infos.append(BankInfo(bank_from_row(row), entries, per_family))
        return infos

    def get_entry(self, bank: str, entry_id: int) -> Entry:
        entry = _read_entry(self._reader(), entry_id)
        if entry.bank != bank:
            raise NotFound(f"bank {bank!r} has no entry {entry_id}", field="entry")
        return entry

    def find_entry(self, bank: str, external_id: str) -> Entry:
        row = (
            self._reader()
            .execute(
                "SELECT e.id FROM entries e JOIN banks b ON b.id = e.bank_id"
                " WHERE b.name = ? AND e.external_id = ?",
                (bank, external_id),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound(f"bank {bank!r} has no entry {external_id!r}", field="external_id")
        return _read_entry(self._reader(), int(row[0]))

    def iter_entries(self, bank: str) -> Iterator[Entry]:
        """Every entry of ``bank``, withdrawn and deleted ones too, in id order (exports).

        Read in pages by id, so a bank of millions streams in flat memory.
        """
        bank_id = self._reader().execute("SELECT id FROM banks WHERE name = ?", (bank,)).fetchone()
        if bank_id is None:
            raise NotFound(f"no bank named {bank!r}", field="bank")
        after = 0
        while True:
            rows = (
                self._reader()
                .execute(
                    "SELECT id FROM entries WHERE bank_id = ? AND id > ? ORDER BY id LIMIT ?",
                    (bank_id[0], after, _CHUNK),
                )
                .fetchall()
            )
            if not rows:
                return
            for (entry_id,) in rows:
                yield _read_entry(self._reader(), int(entry_id))
            after = int(rows[-1][0])

    def live_entries(self, value_ids: Sequence[int]) -> list[LiveEntry]:
        """Who carries these values: active entries of enabled banks only."""
        conn = self._reader()
        found = []
        for start in range(0, len(value_ids), _CHUNK):
            chunk = list(value_ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(_LIVE_SQL.format(marks=marks), chunk)
            for value_id, entry_id, bank, external_id, labels, variant, quality in rows:
                found.append(
                    LiveEntry(
                        value_id, entry_id, bank, external_id, _labels(labels), variant, quality
                    )
                )
        return found

    def get_checkpoint(self, bank: str, source: str) -> str | None:
        row = (
            self._reader()
            .execute(
                "SELECT c.value FROM checkpoints c JOIN banks b ON b.id = c.bank_id"
                " WHERE b.name = ? AND c.source = ?",
                (bank, source),
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    # The bank log (docs/sharing.md)

    def log_page(self, bank: str, after: int, limit: int) -> tuple[int, list[LoggedEntry]]:
        """The entries of ``bank`` changed after log position ``after`` (at most ``limit`` log
        rows), each once in its current state, and the position read up to."""
        conn = self._reader()
        return sharing.read_page(conn, self._bank_id(conn, bank), after, limit)

    def log_end(self, bank: str) -> int:
        """The last log position of ``bank`` (0 when it has none)."""
        conn = self._reader()
        return sharing.last_seq(conn, self._bank_id(conn, bank))

    def origins(self, entry_ids: Iterable[int]) -> dict[int, EntryOrigin]:
        """Where those of ``entry_ids`` that came from a followed bank came from."""
        return sharing.origins(self._reader(), entry_ids)

    def followers(self, bank: str) -> list[FollowerPosition]:
        """How far each partner following ``bank`` has read it."""
        conn = self._reader()
        return sharing.followers(conn, self._bank_id(conn, bank))

    @staticmethod
    def _bank_id(conn: sqlite3.Connection, bank: str) -> int:
        row = conn.execute("SELECT id FROM banks WHERE name = ?", (bank,)).fetchone()
        if row is None:
            raise NotFound(f"no bank named {bank!r}", field="bank")
        return int(row[0])

    # The index log

    def last_seq(self) -> int:
        row = self._reader().execute("SELECT MAX(seq) FROM changes").fetchone()
        return int(row[0] or 0)

    def changes_since(self, family: str, after: int, upto: int) -> list[Change]:
        """The family's changes with ``after < seq <= upto``, values joined for additions."""
        rows = self._reader().execute(
            "SELECT c.seq, c.value_id, c.op, v.value FROM changes c"
            " JOIN signal_values v ON v.id = c.value_id"
            " WHERE c.family = ? AND c.seq > ? AND c.seq <= ? ORDER BY c.seq",
            (family, after, upto),
        )
        return [
            Change(seq, value_id, op, bytes(value) if op == "add" else None)
            for seq, value_id, op, value in rows
        ]

    @contextmanager
    def live_values(
        self, family: str, batch: int = 100_000
    ) -> Iterator[tuple[int, Iterator[tuple[list[int], list[bytes]]]]]:
        """Everything the family's index must hold, in batches, and the sequence number the
        values are current to; one read transaction, so the two agree.

        Batches keep a rebuild of millions of values from holding them all as Python objects.
        """
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            seq = int(conn.execute("SELECT MAX(seq) FROM changes").fetchone()[0] or 0)
            yield seq, self._value_batches(conn, family, batch)
        finally:
            conn.execute("COMMIT")

    @staticmethod
    def _value_batches(
        conn: sqlite3.Connection, family: str, batch: int
    ) -> Iterator[tuple[list[int], list[bytes]]]:
        cursor = conn.execute(
            "SELECT id, value FROM signal_values WHERE family = ? AND refs > 0 ORDER BY id",
            (family,),
        )
        while rows := cursor.fetchmany(batch):
            yield [row[0] for row in rows], [row[1] for row in rows]  # BLOBs come as bytes

    def live_state(self, family: str) -> tuple[int, int]:
        """The last sequence number and the family's live value count, read together."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            seq = int(conn.execute("SELECT MAX(seq) FROM changes").fetchone()[0] or 0)
            row = conn.execute(
                "SELECT live FROM family_counts WHERE family = ?", (family,)
            ).fetchone()  # kept by every write; `hashcore check` recounts it
        finally:
            conn.execute("COMMIT")
        return seq, int(row[0]) if row else 0

    def families(self) -> list[str]:
        """Every family that has ever had a value in this store."""
        rows = self._reader().execute(_FAMILIES_SQL)
        return [str(row[0]) for row in rows]

    # Connections

    def read_connection(self) -> sqlite3.Connection:
        """This thread's read connection, for the modules that keep tables of their own
        (:mod:`hashcore.opinions`) without adding their queries here."""
        return self._reader()

    def _open(self) -> sqlite3.Connection:
        with self._connections_lock:
            if self._closed:
                raise RuntimeError("store is closed")
            conn = connect_read_only(self.path) if self.read_only else connect(str(self.path))
            self._connections.append(conn)
            return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn


@functools.lru_cache(maxsize=4096)
def _labels(raw: str) -> tuple[str, ...]:
    """Decoded once per distinct label set: a many-hit lookup reads the same few sets
    (most often none) on every matched entry, and decoding them was a quarter of its time."""
    return tuple(json.loads(raw))


def _read_entry(conn: sqlite3.Connection, entry_id: int) -> Entry:
    row = conn.execute(
        f"SELECT {ENTRY_COLUMNS} FROM entries e JOIN banks b ON b.id = e.bank_id WHERE e.id = ?",  # noqa: S608
        (entry_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no entry {entry_id}", field="entry")
    signals = [
        Signal(family, bytes(value), quality=quality, variant=variant)
        for family, value, quality, variant in conn.execute(
            "SELECT v.family, v.value, s.quality, s.variant FROM entry_signals s"
            " JOIN signal_values v ON v.id = s.value_id WHERE s.entry_id = ?"
            " ORDER BY v.family, s.variant IS NOT NULL, s.variant, s.value_id",
            (entry_id,),
        )
    ]
    return entry_from_row(row, signals)
