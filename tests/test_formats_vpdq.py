"""vPDQ features through every partner format and back out of the lossless export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from hashcore.engine import Engine
from hashcore.formats import BankUpdate, Problem, get_format
from hashcore.formats.export import export_bank
from hashcore.formats.importer import import_updates
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from hashcore_vpdq import VpdqFeature

REFERENCE = Path(__file__).resolve().parents[1] / "plugins" / "vpdq" / "tests" / "data"
FEATURE = VpdqFeature.read_reference(REFERENCE / "doorknob-hd-no-bar.txt")
PYTX = FEATURE.to_json()  # what pytx's vpdq_to_json writes: '["hex,quality,seconds", ...]'


def read(registry: SignalRegistry, fmt: str, data: bytes, **options: object) -> list[object]:
    return list(get_format(fmt, registry, options).read(io.BytesIO(data)))


def the_value(items: list[object]) -> bytes:
    assert not [i for i in items if isinstance(i, Problem)], items
    [update] = [i for i in items if isinstance(i, BankUpdate)]
    [signal] = update.signals
    assert signal.type == "vpdq"
    return signal.value


def te_record(indicator: str, kind: str = "HASH_VIDEO_VPDQ") -> bytes:
    record = {
        "id": "4100000000000099",
        "indicator": indicator,
        "type": kind,
        "last_updated": 1772445000,
        "should_delete": False,
        "descriptors": {"data": [{"id": "1", "status": "MALICIOUS", "tags": ["video"]}]},
    }
    return json.dumps({"data": [record]}).encode()


@pytest.mark.parametrize("kind", ["HASH_VIDEO_VPDQ", "VPDQ", "video_vpdq"])
def test_threatexchange_record(registry: SignalRegistry, kind: str) -> None:
    assert the_value(read(registry, "threatexchange", te_record(PYTX, kind))) == FEATURE.to_bytes()


def test_threatexchange_record_in_pytx_first_serialisation(registry: SignalRegistry) -> None:
    """Older records: an object keyed by frame number (pytx's ``OLD_json_to_vpdq``)."""
    frames = {
        str(n): {"quality": q, "hash": h, "timestamp": float(t)}
        for n, (h, q, t) in enumerate(line.split(",") for line in FEATURE.lines())
    }
    value = the_value(read(registry, "threatexchange", te_record(json.dumps(frames))))
    assert value == FEATURE.to_bytes()


def test_malformed_record_is_a_problem(registry: SignalRegistry) -> None:
    items = read(registry, "threatexchange", te_record('["abc,100,0.0"]'))
    [problem] = [i for i in items if isinstance(i, Problem)]
    assert "64 hex digits" in problem.reason


def test_pytx_dataset_csv(registry: SignalRegistry) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signal_type", "signal_str", "collab", "category", "tags"])
    writer.writerow(["vpdq", PYTX, "Hotline B", "POSITIVE_CLASS", "video"])
    assert the_value(read(registry, "pytx-csv", out.getvalue().encode())) == FEATURE.to_bytes()


def test_pytx_local_file(registry: SignalRegistry) -> None:
    data = f"# pytx local\nvpdq {PYTX}\n".encode()
    assert the_value(read(registry, "pytx-local", data)) == FEATURE.to_bytes()


def test_csv_mapping(registry: SignalRegistry) -> None:
    line = json.dumps({"h": PYTX, "kind": "VideoVPDQ"})
    options = {"input": "jsonl", "value_column": "h", "type_column": "kind"}
    assert the_value(read(registry, "csv", line.encode(), **options)) == FEATURE.to_bytes()


def test_imported_feature_matches_and_round_trips(tmp_path: Path, registry: SignalRegistry) -> None:
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("partner")
        items = get_format("threatexchange", registry).read(io.BytesIO(te_record(PYTX)))
        assert import_updates(engine, "partner", items).added == 1
        # a clip of it (every third frame of its first half) finds it
        half = slice(0, 60, 3)
        clip = VpdqFeature(FEATURE.hashes[half], FEATURE.quality[half], FEATURE.ms[half])
        [result] = engine.lookup_many([[Signal("vpdq", clip.to_bytes())]])
        [match] = result.matches
        assert match.external_id == "4100000000000099"
        exported = io.StringIO()
        export_bank(engine, "partner", exported)  # type: ignore[arg-type]
        engine.create_bank("copy")
        lines = io.BytesIO(exported.getvalue().encode())
        import_updates(engine, "copy", get_format("hashcore", registry).read(lines))
        [original] = engine.iter_entries("partner")
        [copied] = engine.iter_entries("copy")
        assert copied.signals == original.signals
        assert (copied.external_id, copied.labels, copied.status) == (
            original.external_id,
            original.labels,
            original.status,
        )
        assert [s.value for s in copied.signals] == [FEATURE.to_bytes()]


def test_pytx_csv_export_carries_pytx_json(tmp_path: Path, registry: SignalRegistry) -> None:
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("partner")
        engine.add_entry("partner", [Signal("vpdq", FEATURE.to_bytes())], external_id="door")
        out = io.StringIO()
        counts = export_bank(engine, "partner", out, "pytx-csv")  # type: ignore[arg-type]
    assert counts == {"entries": 1}
    [_, row] = list(csv.reader(io.StringIO(out.getvalue())))
    assert row[:2] == ["vpdq", PYTX]
    assert the_value(read(registry, "pytx-csv", out.getvalue().encode())) == FEATURE.to_bytes()
