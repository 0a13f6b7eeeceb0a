"""Opinions in the lossless export: export, import into a fresh store, export again, identical;
and the partner fields the importers used to drop (opinion, content kind), kept as labels."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hashcore.engine import Engine
from hashcore.formats.background import read_feed
from hashcore.formats.export import export_bank
from hashcore.formats.importer import import_updates
from hashcore.opinions import NewOpinion, OpinionKind
from hashcore.opinions.api import LocalOpinions
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from tests.media_data import shared_file

PDQ = bytes(range(32))


def export(engine: Engine, bank: str) -> list[dict[str, object]]:
    """The export's lines, the header without its export time (which differs by design)."""
    out = io.StringIO()
    export_bank(engine, bank, out)
    header, *lines = (json.loads(line) for line in out.getvalue().splitlines())
    header.pop("exported_at")
    return [header, *lines]


def import_file(engine: Engine, bank: str, path: Path, registry: SignalRegistry) -> None:
    for min_bytes in (1 << 40, 0):  # read here, then through the child process: same result
        import_updates(engine, bank, read_feed("hashcore", path, registry, min_bytes=min_bytes))


def test_opinions_round_trip(tmp_path: Path, registry: SignalRegistry) -> None:
    with Engine(tmp_path / "a", registry) as engine:
        engine.create_bank("b", labels=["csam"])
        engine.add_entry("b", [Signal("pdq", PDQ, quality=90)], external_id="e1")
        engine.add_entry("b", [Signal("md5", bytes(16))], external_id="e2")
        book = LocalOpinions(engine.store)
        fp = NewOpinion("b", "e1", OpinionKind.FALSE_POSITIVE, "ana", "coaster \u00e9",
                        (Signal("pdq", bytes(32)),))  # fmt: skip
        book.record_opinion(fp)
        book.record_opinion(NewOpinion("b", "e1", OpinionKind.CONFIRMED, "x", origin="hotline-c"))
        book.record_opinion(NewOpinion("b", "e2", OpinionKind.DISPUTED, "ben"))
        first = export(engine, "b")
        path = tmp_path / "b.jsonl"
        out = io.StringIO()
        assert export_bank(engine, "b", out)["opinions"] == 3
        path.write_text(out.getvalue())
    assert [len(line.get("opinions", [])) for line in first[1:]] == [2, 1]
    assert first[1]["opinions"][0]["hashes"] == [["pdq", bytes(32).hex()]]
    assert first[1]["opinions"][1]["origin"] == "hotline-c"
    with Engine(tmp_path / "fresh", registry) as fresh:
        fresh.create_bank("b", labels=["csam"])
        import_file(fresh, "b", path, registry)  # twice: each opinion lands once
        assert export(fresh, "b") == first
        # The imported false positive is this store's own again: it excepts here too.
        found = fresh.lookup_signals([Signal("pdq", bytes(32), quality=100)]).matches
        assert found == []
        assert [m.external_id for m in fresh.lookup_signals(
            [Signal("pdq", PDQ, quality=100)]).matches] == ["e1"]  # fmt: skip


def test_a_malformed_opinion_is_a_problem_of_its_line(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    header = {"format": "hashcore-bank", "version": 1, "bank": {"name": "b"}}
    bad = {"uid": "u", "kind": "great", "author": "a", "created_at": 1}
    line = {"external_id": "e1", "signals": [{"type": "pdq", "hex": PDQ.hex()}], "opinions": [bad]}
    path = tmp_path / "f.jsonl"
    path.write_text(f"{json.dumps(header)}\n{json.dumps(line)}\n")
    with Engine(tmp_path / "s", registry) as engine:
        engine.create_bank("b")
        summary = import_updates(engine, "b", read_feed("hashcore", path, registry))
        assert summary.added == 0 and summary.problem_count == 1
        assert "unknown opinion kind" in str(summary.problems[0])


def test_partner_opinion_and_content_kind_survive_import_and_export(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    ncmec = shared_file("partner-samples/ncmec_entries.xml")
    with Engine(tmp_path / "a", registry) as engine:
        engine.create_bank("n")
        import_updates(engine, "n", read_feed("ncmec", ncmec, registry))
        labels = {e.external_id: e.labels for e in engine.iter_entries("n")}
        assert any("content:image" in found for found in labels.values())
        assert any("content:video" in found for found in labels.values())
        out = io.StringIO()
        export_bank(engine, "n", out)
        path = tmp_path / "n.jsonl"
        path.write_text(out.getvalue())
    with Engine(tmp_path / "b", registry) as again:
        again.create_bank("n")
        import_updates(again, "n", read_feed("hashcore", path, registry))
        assert {e.external_id: e.labels for e in again.iter_entries("n")} == labels
