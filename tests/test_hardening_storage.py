"""Issue 11, finding 9: a read-only store and a full disk give clear errors, never tracebacks."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from server_support import ORIGINAL

from hashcore.engine import Engine
from hashcore.errors import StoreFull, StoreReadOnly
from hashcore.formats import get_format
from hashcore.formats.importer import import_updates
from hashcore.store import store as store_module

HEADER = json.dumps({"format": "hashcore-bank", "version": 1, "bank": {"name": "b"}})


def feed(count: int) -> bytes:
    lines = [HEADER]
    for n in range(count):
        value = hashlib.md5(str(n).encode()).hexdigest()
        labels = [f"label-{n}-{'x' * 200}"]  # fat rows fill the pages sooner
        signals = [{"type": "md5", "hex": value}]
        lines.append(json.dumps({"external_id": f"e{n}", "labels": labels, "signals": signals}))
    return ("\n".join(lines) + "\n").encode()


def test_full_disk_rolls_back_and_says_what_was_committed(tmp_path, registry):
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("b")
        writer = engine.store._writer
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count = {pages + 40}")  # SQLITE_FULL, as a full disk
        fmt = get_format("hashcore", registry)
        with pytest.raises(StoreFull) as info:
            import_updates(engine, "b", fmt.read(io.BytesIO(feed(3000))), batch_size=50)
        message = info.value.message
        assert "disk is full" in message and "rolled back" in message
        found = re.search(r"committed ([\d,]+) updates in (\d+) transaction", message)
        assert found, message
        committed = int(found.group(1).replace(",", ""))
        assert 0 < committed < 3000
        assert engine.get_bank("b").entries == committed  # exactly what the message says
        writer.execute("PRAGMA max_page_count = 1073741823")
        engine.create_bank("after")  # the store is still usable once there is room


def test_full_disk_at_a_single_write_is_store_full(tmp_path, registry):
    with Engine(tmp_path / "store", registry) as engine:
        writer = engine.store._writer
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreFull, match="rolled back"):
            for n in range(200):
                engine.create_bank(f"bank-{n}", labels=["y" * 500])
        writer.execute("PRAGMA max_page_count = 1073741823")


def test_store_that_cannot_be_written_opens_read_only(tmp_path, registry, monkeypatch):
    store = tmp_path / "store"
    with Engine(store, registry) as engine:
        engine.create_bank("b")
        engine.add_file("b", ORIGINAL)
    real = store_module.connect

    def refuse_writes(path: str, **kwargs: object) -> sqlite3.Connection:
        conn = real(path)
        conn.execute("PRAGMA query_only = ON")  # every write now fails like a read-only file
        conn.close()
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store_module, "connect", refuse_writes)
    with Engine(store, registry) as engine:
        assert engine.store.read_only
        assert [info.bank.name for info in engine.list_banks()] == ["b"]
        assert engine.lookup_file(ORIGINAL).matches
        with pytest.raises(StoreReadOnly, match="read-only"):
            engine.create_bank("c")


def make_read_only(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in files:
            (Path(root) / name).chmod(0o444)
        for name in dirs:
            (Path(root) / name).chmod(0o555)
    path.chmod(0o555)


def without_file_capabilities() -> list[str]:
    """A command prefix under which file modes bind: root ignores them (CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def test_cli_on_a_read_only_store(tmp_path, registry):
    store = tmp_path / "store"
    with Engine(store, registry) as engine:
        engine.create_bank("b")
        engine.add_file("b", ORIGINAL)
    make_read_only(store)
    prefix = without_file_capabilities()

    def hashcore(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "hashcore.cli.main", *argv, "--store", str(store)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    try:
        _check_cli(hashcore, store)
    finally:
        for root, dirs, _ in os.walk(store):
            for name in dirs:
                (Path(root) / name).chmod(0o755)
        store.chmod(0o755)


def _check_cli(hashcore, store: Path) -> None:  # type: ignore[no-untyped-def]
    listing = hashcore("bank", "list")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith("b ") and "Traceback" not in listing.stderr
    lookup = hashcore("lookup", str(ORIGINAL))
    assert lookup.returncode == 0, lookup.stderr
    assert "1 match" in lookup.stdout
    create = hashcore("bank", "create", "c")
    assert create.returncode == 2
    assert "Traceback" not in create.stderr
    assert create.stderr.strip().splitlines() == [
        f"hashcore: error: store {store} is read-only (opened for reading only): cannot write "
        "to it; give this user write access to the directory and its files to change it"
    ]
