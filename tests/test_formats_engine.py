"""Imports through the real engine: idempotence, deletions, lookups, export round trip, CLI."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from hashcore.cli.import_cmd import register_bank_subcommands
from hashcore.engine import Engine
from hashcore.errors import InvalidInput
from hashcore.formats import BankSettings, BankUpdate, get_format
from hashcore.formats.export import export_bank
from hashcore.formats.importer import import_updates
from hashcore.model import EntryStatus
from hashcore.registry import SignalRegistry

DATA = Path(__file__).resolve().parent / "data"
BRIDGE_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
BRIDGE_MD5 = "d35c785545392755e7e4164457657269"


@pytest.fixture
def engine(tmp_path: Path, registry: SignalRegistry) -> Engine:
    with Engine(tmp_path / "store", registry) as opened:
        opened.create_bank("partner")
        yield opened  # type: ignore[misc]


def bridge(shared_data: Path) -> Path:
    return shared_data / "pdq" / "dih" / "bridge-1-original.jpg"


def matched(engine: Engine, path: Path) -> set[str]:
    return {m.external_id for m in engine.lookup_file(path).matches}


def run(engine: Engine, fmt: str, data: bytes, registry: SignalRegistry):  # type: ignore[no-untyped-def]
    return import_updates(engine, "partner", get_format(fmt, registry).read(io.BytesIO(data)))


def local_file(*lines: str) -> bytes:
    return "\n".join(lines).encode()


def test_imported_pdq_and_md5_match_the_sample_file(
    engine: Engine, registry: SignalRegistry, shared_data: Path
) -> None:
    summary = run(
        engine, "pytx-local", local_file(f"pdq {BRIDGE_PDQ}", f"video_md5 {BRIDGE_MD5}"), registry
    )
    assert summary.added == 2
    assert matched(engine, bridge(shared_data)) == {f"pdq:{BRIDGE_PDQ}", f"md5:{BRIDGE_MD5}"}


def test_reimport_changes_nothing(engine: Engine, registry: SignalRegistry) -> None:
    data = (DATA / "partner-samples" / "ncmec_entries.xml").read_bytes()
    first = run(engine, "ncmec", data, registry)
    second = run(engine, "ncmec", data, registry)
    assert first.added == 2
    assert (second.added, second.updated, second.deleted, second.unchanged) == (0, 0, 0, 3)


def test_withdrawal_stops_matching_at_once(
    engine: Engine, registry: SignalRegistry, shared_data: Path
) -> None:
    page = {
        "hashRecords": [
            {
                "signalType": "VideoMD5",
                "hashValue": BRIDGE_MD5,
                "hashStatus": "Active",
                "lastModtimestamp": 10,
            }
        ]
    }
    run(engine, "stopncii", json.dumps(page).encode(), registry)
    assert matched(engine, bridge(shared_data)) == {f"VideoMD5:{BRIDGE_MD5}"}
    page["hashRecords"][0].update(hashStatus="Withdrawn", lastModtimestamp=20)
    summary = run(engine, "stopncii", json.dumps(page).encode(), registry)
    assert summary.deleted == 1
    assert matched(engine, bridge(shared_data)) == set()


def te_page(labels: list[str], stamp: int) -> bytes:
    """One ThreatExchange record for the bridge MD5, with these tags, updated at ``stamp``."""
    return json.dumps(
        {
            "data": [
                {
                    "id": "7",
                    "indicator": BRIDGE_MD5,
                    "type": "HASH_MD5",
                    "last_updated": stamp,
                    "should_delete": False,
                    "descriptors": {"data": [{"status": "MALICIOUS", "tags": labels}]},
                }
            ]
        }
    ).encode()


def test_newer_record_replaces_older(engine: Engine, registry: SignalRegistry) -> None:
    run(engine, "threatexchange", te_page(["old"], 100), registry)
    summary = run(engine, "threatexchange", te_page(["new"], 200), registry)
    assert summary.updated == 1
    entry = next(
        m for m in engine.lookup_signals([registry.get("md5").signal_from_text(BRIDGE_MD5)]).matches
    )
    assert entry.labels == ("new", "partner-opinion:positive")  # the opinion kept as a label


def test_older_record_is_ignored(engine: Engine, registry: SignalRegistry) -> None:
    run(engine, "threatexchange", te_page(["new"], 200), registry)
    summary = run(engine, "threatexchange", te_page(["old"], 100), registry)
    assert summary.updated == 0 and summary.unchanged == 1


def test_ncmec_delete_without_fingerprints_stops_matching(
    engine: Engine, registry: SignalRegistry, shared_data: Path
) -> None:
    add = (
        f"<queryResult><images><image><member id='1'>m</member><id>x</id>"
        f"<timestamp>2026-03-02T10:00:00Z</timestamp><fingerprints><md5>{BRIDGE_MD5}</md5>"
        f"</fingerprints></image></images></queryResult>"
    ).encode()
    delete = (
        b"<queryResult><images><deletedImage><member id='1'>m</member><id>x</id>"
        b"<timestamp>2026-03-02T11:00:00Z</timestamp></deletedImage></images></queryResult>"
    )
    run(engine, "ncmec", add, registry)
    summary = run(engine, "ncmec", delete, registry)
    assert summary.deleted == 1 and not summary.problems
    assert matched(engine, bridge(shared_data)) == set()


def test_export_then_import_round_trips_a_bank(
    engine: Engine, registry: SignalRegistry, tmp_path: Path
) -> None:
    run(engine, "threatexchange", (DATA / "partner" / "te_updates.json").read_bytes(), registry)
    first = io.StringIO()
    export_bank(engine, "partner", first)  # type: ignore[arg-type]
    engine.create_bank("copy")
    items = get_format("hashcore", registry).read(io.BytesIO(first.getvalue().encode()))
    import_updates(engine, "copy", items)
    second = io.StringIO()
    export_bank(engine, "copy", second)  # type: ignore[arg-type]
    assert first.getvalue().splitlines()[1:] == second.getvalue().splitlines()[1:]


def test_native_format_reads_what_it_writes(registry: SignalRegistry) -> None:
    """The lossless encoding itself, independent of the engine's entry listing."""
    from hashcore.formats.native import entry_line, header_line
    from hashcore.model import Bank, Entry
    from hashcore.signals import Signal

    entries = [
        Entry(
            1,
            "b",
            "e1",
            ("x", "y"),
            "src",
            EntryStatus.ACTIVE,
            1.5,
            2.5,
            (
                Signal("pdq", bytes.fromhex(BRIDGE_PDQ), quality=90),
                Signal("md5", bytes.fromhex(BRIDGE_MD5)),
            ),
        ),
        Entry(2, "b", "e2", (), None, EntryStatus.WITHDRAWN, 3.0, 4.0, (Signal("md5", bytes(16)),)),
    ]
    bank = Bank("b", labels=("csam",), source="hotline-a", thresholds={"pdq": 10.0})
    lines = [header_line(bank), *(entry_line(e, with_source=True) for e in entries)]
    text = "\n".join(lines)
    native = get_format("hashcore", registry)
    settings = native.bank_settings(io.BytesIO(text.encode()))
    assert settings == BankSettings(("csam",), {"pdq": 10.0}, "hotline-a")
    assert native.bank_settings(io.BytesIO(b"not json\n")) is None
    paused = header_line(replace(bank, enabled=False))
    assert native.bank_settings(io.BytesIO(paused.encode())) == replace(settings, enabled=False)
    older = json.loads(paused)
    del older["bank"]["enabled"]  # written before the header said it
    assert native.bank_settings(io.BytesIO(json.dumps(older).encode())) == settings
    items = list(native.read(io.BytesIO(text.encode())))
    assert [i for i in items if not isinstance(i, BankUpdate)] == []
    for entry, update in zip(entries, items, strict=True):
        assert isinstance(update, BankUpdate)
        assert (
            update.external_id,
            update.labels,
            update.source,
            update.status,
            update.created_at,
            update.updated_at,
            update.signals,
        ) == (
            entry.external_id,
            entry.labels,
            entry.source,
            entry.status,
            entry.created_at,
            entry.updated_at,
            entry.signals,
        )


def test_cli_import_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    verbs = parser.add_subparsers()
    register_bank_subcommands(verbs)
    store = str(tmp_path / "cli-store")
    source = DATA / "partner" / "te_updates.json"
    args = parser.parse_args(
        [
            "import",
            "te",
            "--format",
            "threatexchange",
            str(source),
            "--store",
            store,
            "--create",
            "--json",
        ]
    )
    assert args.func(args) == 1  # problems were reported
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["added"] == 1 and summary["problems"] == 2
    assert summary["skipped"]["unsupported family photodna"] == 1
    assert "record 5 (id 5): unknown signal type" in out.err
    strict = parser.parse_args(
        ["import", "te", "--format", "threatexchange", str(source), "--store", store, "--strict"]
    )
    refusal = r"te_updates\.json: file record 5 \(id 5\): unknown signal type 'HASH_FANCY'"
    with pytest.raises(InvalidInput, match=refusal + r" \(--strict: nothing imported\)$"):
        strict.func(strict)
