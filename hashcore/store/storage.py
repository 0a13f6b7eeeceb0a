"""Opening a store the process may only read, and naming storage failures clearly.

A store on read-only media (or whose files belong to another user) can still answer ``bank
list`` and ``lookup``: SQLite opens it with ``mode=ro`` (or ``immutable=1`` when the WAL's
shared-memory file cannot be created either) and every write is refused with
:class:`~hashcore.errors.StoreReadOnly`. A full disk at any statement or at ``COMMIT`` becomes
:class:`~hashcore.errors.StoreFull` saying the transaction was rolled back.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

from hashcore.errors import HashcoreError, StoreError, StoreFull, StoreReadOnly

_READ_ONLY = ("readonly", "read-only", "unable to open database file")


def is_read_only_error(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError | PermissionError) and any(
        marker in str(error).lower() for marker in (*_READ_ONLY, "permission denied")
    )


def is_full_error(error: BaseException) -> bool:
    if isinstance(error, sqlite3.OperationalError):
        return "database or disk is full" in str(error).lower()
    return isinstance(error, OSError) and error.errno == 28  # ENOSPC


def storage_error(error: BaseException, directory: Path) -> StoreError | None:
    """The clear error for a storage failure, or None when ``error`` is something else."""
    if is_full_error(error):
        return StoreFull(
            f"store {directory}: the disk is full ({error}); this transaction was rolled back "
            "and nothing of it was written (earlier transactions stay committed)"
        )
    if is_read_only_error(error):
        return StoreReadOnly(
            f"store {directory} is read-only ({error}); nothing was written: give this user "
            "write access to the directory and its files to change it"
        )
    return None


def read_only_message(directory: Path) -> str:
    return (
        f"store {directory} is read-only (opened for reading only): cannot write to it; "
        "give this user write access to the directory and its files to change it"
    )


def connect_read_only(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A read-only connection to an existing database: ``mode=ro``, else ``immutable=1``."""
    quoted = urllib.parse.quote(str(path.resolve()))
    last: sqlite3.Error | None = None
    for params in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(
                f"file:{quoted}?{params}",
                uri=True,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            last = error
            continue
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as error:  # WAL without a writable -shm: try immutable
            conn.close()
            last = error
            continue
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        return conn
    raise StoreError(f"cannot open store {path.parent} even for reading: {last}")


def read_store_id(conn: sqlite3.Connection, directory: Path, schema_version: int) -> str:
    """The store id of a read-only store, refusing one this hashcore would have to migrate."""
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    except sqlite3.Error as error:
        raise StoreError(f"store {directory}: cannot read it: {error}") from None
    if version != schema_version or row is None:
        raise HashcoreError(
            f"store {directory} is read-only and at schema version {version}, not "
            f"{schema_version}: open it once with write access to upgrade it"
        )
    return str(row[0])
