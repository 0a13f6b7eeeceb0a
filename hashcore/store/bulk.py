"""Set-based SQL for the store's batches: a statement per hundreds of rows, not one per row.

A per-row statement costs SQLite more than the row it writes (a cursor on every index, the
autoincrement counter, and Python's call), so a batch reads rows in ``IN (...)`` lists and
writes them through multi-row ``VALUES`` lists: inserts, updates (``UPDATE ... FROM``) and
deletes alike.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from hashcore.errors import HashcoreError

CHUNK = 500
"""Parameters per ``IN (...)`` list, well under SQLite's variable limit."""
MAX_PARAMETERS = 999
"""SQLite's bound-parameter limit before 3.32 (32766 since)."""
MAX_ROWS = 100
"""Rows per multi-row statement; more gains nothing measurable."""

_MAX_ID_SQL = "SELECT COALESCE(MAX(id), 0) FROM {table}"
_NEW_IDS_SQL = "SELECT COUNT(*), MAX(id) FROM {table} WHERE id > ?"


@dataclass(frozen=True)
class Rows:
    """A statement over one multi-row ``VALUES`` list (``{rows}`` in ``template``), run in
    parts of at most 999 parameters (the limit of older SQLite builds). SQLite's per-statement
    work is then paid once per hundred rows instead of per row as with ``executemany``: about
    half the cost of an import's inserts."""

    template: str
    width: int
    """Values per row."""

    def run(self, conn: sqlite3.Connection, flat: Sequence[Any]) -> None:
        """Run over ``flat``: the rows' values one after the other, in column order."""
        step = min(MAX_ROWS, MAX_PARAMETERS // self.width) * self.width
        for start in range(0, len(flat), step):
            part = flat[start : start + step]
            conn.execute(self._sql(len(part) // self.width), part)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - a few module-level instances, never freed
    def _sql(self, rows: int) -> str:
        one = "(" + ", ".join("?" * self.width) + ")"
        return self.template.format(rows=", ".join([one] * rows))


def insert(table: str, columns: Sequence[str], verb: str = "INSERT") -> Rows:
    """Multi-row ``INSERT`` of ``columns`` (``verb`` may add ``OR IGNORE``/``OR REPLACE``)."""
    return Rows(f"{verb} INTO {table} ({', '.join(columns)}) VALUES {{rows}}", len(columns))


def update(table: str, columns: Sequence[str]) -> Rows:
    """Multi-row ``UPDATE`` of ``columns`` by row id: each row is its new values, then its id
    (SQLite finds each row by its primary key, see ``EXPLAIN QUERY PLAN``)."""
    sets = ", ".join(f"{name} = d.column{n}" for n, name in enumerate(columns, 1))
    template = (
        f"UPDATE {table} SET {sets} FROM (VALUES {{rows}}) AS d"  # noqa: S608 - the store's own names
        f" WHERE {table}.id = d.column{len(columns) + 1}"
    )
    return Rows(template, len(columns) + 1)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(chunk: Sized) -> str:
    return ",".join("?" * len(chunk))


def last_id(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(_MAX_ID_SQL.format(table=table)).fetchone()[0])


def ids_after(conn: sqlite3.Connection, table: str, last: int, inserted: int) -> range:
    """Row ids of the ``inserted`` rows just added to ``table``, whose largest rowid was
    ``last``: SQLite numbers each new row ``max + 1``, so they are ``last + 1`` on, in the
    order of insertion (rows an ``OR IGNORE`` skipped take no number). Reading the ids back
    row by row would cost as much as the inserts.

    Only a table that reached rowid 2**63 - 1 gets rowids at random: it is refused.
    """
    count, top = conn.execute(_NEW_IDS_SQL.format(table=table), (last,)).fetchone()
    if count != inserted or (count and top != last + count):
        raise HashcoreError(f"{table}: row ids exhausted (rowid 2**63 - 1 was reached)")
    return range(last + 1, last + count + 1)
