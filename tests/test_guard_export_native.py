"""Withdrawals across the hashcore format and the pytx export (mutation survivors closed).

- A native-format record that withdraws or deletes an entry may carry no signals: it must still
  be applied (only an *active* record without a usable signal is skipped).
- The pytx CSV has no "withdrawn" category, so withdrawn and deleted entries must be left out
  of it, counted; an export that listed them would tell partners to keep matching them.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from hashcore.engine import Engine
from hashcore.formats import get_format
from hashcore.formats.export import export_bank
from hashcore.formats.importer import import_updates
from hashcore.formats.pytx import DATASET_HEADER
from hashcore.model import EntryStatus
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "d35c785545392755e7e4164457657269"


@pytest.fixture
def engine(tmp_path: Path, registry: SignalRegistry) -> Engine:
    with Engine(tmp_path / "store", registry) as opened:
        opened.create_bank("partner")
        yield opened  # type: ignore[misc]


def native_feed(*records: dict[str, object]) -> bytes:
    header = {"format": "hashcore-bank", "version": 1, "bank": {"name": "partner"}}
    return "\n".join(json.dumps(line) for line in (header, *records)).encode()


def statuses(engine: Engine) -> dict[str, EntryStatus]:
    return {entry.external_id: entry.status for entry in engine.iter_entries("partner")}


def read(registry: SignalRegistry, data: bytes):  # type: ignore[no-untyped-def]
    return get_format("hashcore", registry).read(io.BytesIO(data))


@pytest.mark.parametrize("status", [EntryStatus.WITHDRAWN, EntryStatus.DELETED])
def test_a_withdrawal_without_signals_is_applied(
    engine: Engine, registry: SignalRegistry, status: EntryStatus
) -> None:
    active = {"external_id": "e1", "status": "active", "signals": [{"type": "pdq", "hex": PDQ}]}
    import_updates(engine, "partner", read(registry, native_feed(active)))
    assert statuses(engine) == {"e1": EntryStatus.ACTIVE}
    gone = {"external_id": "e1", "status": status.value, "signals": []}
    import_updates(engine, "partner", read(registry, native_feed(gone)), max_delete_fraction=None)
    assert statuses(engine) == {"e1": status}
    query = [Signal("pdq", bytes.fromhex(PDQ), quality=100)]
    assert not engine.lookup_signals(query).matched


def test_an_active_record_without_signals_is_skipped(registry: SignalRegistry) -> None:
    empty = {"external_id": "e2", "status": "active", "signals": []}
    items = list(read(registry, native_feed(empty)))
    assert [type(item).__name__ for item in items] == ["Skip"]


def test_pytx_export_leaves_out_withdrawn_and_deleted_entries(
    engine: Engine, registry: SignalRegistry
) -> None:
    records = [
        {"external_id": name, "status": "active", "signals": [{"type": family, "hex": value}]}
        for name, family, value in (
            ("kept", "pdq", PDQ),
            ("withdrawn", "md5", MD5),
            ("deleted", "pdq", "0" * 64),
        )
    ]
    import_updates(engine, "partner", read(registry, native_feed(*records)))
    kept = engine.store.find_entry("partner", "kept")
    with engine.batch() as writer:
        for name, status in (
            ("withdrawn", EntryStatus.WITHDRAWN),
            ("deleted", EntryStatus.DELETED),
        ):
            writer.set_entry_status("partner", engine.store.find_entry("partner", name).id, status)
    out = io.StringIO()
    counts = export_bank(engine, "partner", out, "pytx-csv")  # type: ignore[arg-type]
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == DATASET_HEADER
    assert rows[1:] == [["pdq", PDQ, "partner", "POSITIVE_CLASS", ""]]
    assert counts == {
        "entries": 1,
        "left out: withdrawn entry": 1,
        "left out: deleted entry": 1,
    }
    assert kept.status is EntryStatus.ACTIVE
