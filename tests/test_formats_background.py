"""Feeds read by a child process (``read_feed`` on large files) against reading in-process.

``min_bytes=0`` sends small fixture files through the child, so every item kind (updates,
deletions, problems, skips, paging) crosses the process boundary here.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hashcore.engine import Engine
from hashcore.errors import InvalidInput, NotFound
from hashcore.formats import get_format
from hashcore.formats.background import BACKGROUND_MIN_BYTES, read_feed
from hashcore.formats.columns import flattened
from hashcore.formats.importer import import_updates
from hashcore.formats.records import BankUpdate, Problem
from hashcore.registry import SignalRegistry

DATA = Path(__file__).parent / "data"
FEEDS = [
    ("ncmec", DATA / "partner" / "ncmec_mixed.xml"),
    ("ncmec", DATA / "partner" / "ncmec_truncated.xml"),
    ("ncmec", DATA / "partner-samples" / "ncmec_entries.xml"),
    ("threatexchange", DATA / "partner" / "te_updates.json"),
    ("pytx-csv", DATA / "partner-samples" / "pytx_dataset.csv"),
    ("stopncii", DATA / "partner-samples" / "stopncii_fetch.json"),
]


def in_process(name: str, path: Path, registry: SignalRegistry) -> list[object]:
    with path.open("rb") as stream:
        return list(get_format(name, registry).read(stream))


@pytest.mark.parametrize(("name", "path"), FEEDS, ids=lambda v: getattr(v, "name", v))
def test_child_yields_exactly_the_in_process_items(
    name: str, path: Path, registry: SignalRegistry
) -> None:
    expected = in_process(name, path, registry)
    assert list(flattened(read_feed(name, path, registry, min_bytes=0))) == expected
    assert any(isinstance(item, BankUpdate) for item in expected)


def test_many_chunks_in_order(tmp_path: Path, registry: SignalRegistry) -> None:
    """More items than one message holds, with a malformed record in the middle."""
    lines = ['{"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}}']
    for n in range(5000):
        value = "zz" * 32 if n == 2500 else f"{n:064x}"
        lines.append(
            f'{{"external_id": "e{n}", "status": "active", "updated_at": {n},'
            f' "signals": [{{"type": "pdq", "hex": "{value}"}}]}}'
        )
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(lines))
    items = list(flattened(read_feed("hashcore", path, registry, min_bytes=0)))
    assert items == in_process("hashcore", path, registry)
    assert sum(isinstance(item, BankUpdate) for item in items) == 4999
    assert isinstance(items[2500], Problem) and str(items[2500]).startswith("line 2502 (e2500)")


def test_import_through_the_child_equals_in_process(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    path = DATA / "partner" / "ncmec_mixed.xml"
    tables = []
    for label, min_bytes in (("child", 0), ("here", 1 << 40)):
        with Engine(tmp_path / label, registry) as engine:
            engine.create_bank("ncmec")
            items = read_feed("ncmec", path, registry, min_bytes=min_bytes)
            summary = import_updates(engine, "ncmec", items)
        conn = sqlite3.connect(tmp_path / label / "hashcore.sqlite3")
        rows = conn.execute(
            "SELECT external_id, labels, status, updated_at FROM entries ORDER BY id"
        ).fetchall()
        conn.close()
        tables.append((summary.as_dict(), rows))
    assert tables[0] == tables[1]
    assert tables[0][0]["added"] > 0


def test_errors_in_the_child_reach_the_caller(tmp_path: Path, registry: SignalRegistry) -> None:
    unreadable = tmp_path / "feed.xml"
    unreadable.mkdir()  # passes the size check; opening it fails in the child
    with pytest.raises(InvalidInput, match="cannot read the feed"):
        list(read_feed("ncmec", unreadable, registry, min_bytes=0))
    with pytest.raises(NotFound, match="unknown bank format"):
        list(read_feed("nope", DATA / "partner" / "te_updates.json", registry, min_bytes=0))
    assert multiprocessing.active_children() == []


def test_stopping_early_ends_the_child(registry: SignalRegistry) -> None:
    feed = read_feed("ncmec", DATA / "partner" / "ncmec_mixed.xml", registry, min_bytes=0)
    assert next(feed) is not None
    feed.close()  # as import_updates does when --strict stops it
    assert multiprocessing.active_children() == []


def test_command_imports_a_large_file_through_the_child(tmp_path: Path) -> None:
    """The real ``hashcore bank import`` on a file over the threshold: the child is spawned
    from the command's own process (its main module is imported again there)."""
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        out.write('{"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}}\n')
        count = 0
        while out.tell() < BACKGROUND_MIN_BYTES:
            out.write(
                f'{{"external_id": "e{count}", "status": "active", "labels": ["l"],'
                f' "updated_at": 1.0, "signals": [{{"type": "md5", "hex": "{count:032x}"}},'
                f' {{"type": "pdq", "hex": "{count * 2654435761 % (1 << 256):064x}"}}]}}\n'
            )
            count += 1
    env = {**os.environ, "HASHCORE_STORE": str(tmp_path / "store")}
    command = [sys.executable, "-m", "hashcore.cli.main", "bank", "import", "b", "--create"]
    done = subprocess.run(
        [*command, "--format", "hashcore", "--json", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == count > 30_000
