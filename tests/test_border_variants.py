"""Trimmed pictures as variants: bordered query vs clean bank, clean query vs bordered bank."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from engine_support import registry
from PIL import Image, ImageOps

from hashcore.cli.hash_cmd import to_json
from hashcore.cli.lookup_cmd import match_to_json, parse_hash_line, to_text
from hashcore.crops import CROPS
from hashcore.engine import Engine
from hashcore.formats.native import NativeFormat, entry_line
from hashcore.formats.records import BankUpdate
from hashcore.hashing import hash_file
from hashcore.model import Match, SignalHit
from hashcore.remote.wire import hit_from_pb, hit_to_pb
from hashcore.signals import Signal
from hashcore.store import Store
from hashcore.store.schema import SCHEMA_VERSION

DATA = Path(__file__).parent / "data" / "pdq"
PHOTO = DATA / "dih" / "bridge-1-original.jpg"
IMAGE_FAMILIES = ("pdq", "phash")


STRICT = "trimmed-flat"


def uncropped(signals: Iterable[Signal]) -> list[Signal]:
    """The signals without PDQ's standard crops (tests/test_crop_variants.py covers those) and
    without the strict reading's trimmed picture (``trimmed-flat``: a JPEG border's strict box
    often lies a pixel from the tolerant one; tested at the end of this file)."""
    return [s for s in signals if s.variant not in CROPS and not _strict(s.variant)]


def _strict(variant: str | None) -> bool:
    return (variant or "").split("+")[0] == STRICT


def bordered(tmp_path: Path, name: str = "bordered.jpg", fraction: float = 0.1) -> Path:
    """The photo with a black border of ``fraction`` of its width all round, re-encoded."""
    image = Image.open(PHOTO).convert("RGB")
    side = int(image.width * fraction)
    path = tmp_path / name
    ImageOps.expand(image, border=side, fill="black").save(path, quality=90)
    return path


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(tmp_path / "store", registry()) as engine:
        engine.create_bank("csem")
        yield engine


def hits(match: Match) -> dict[str, SignalHit]:
    return {hit.type: hit for hit in match.signals}


def test_plain_hashes_of_a_bordered_copy_are_out_of_reach(tmp_path: Path) -> None:
    """Why trimming exists: a 10% black border moves both image hashes past their thresholds."""
    clean = hash_file(PHOTO, registry()).signals
    framed = hash_file(bordered(tmp_path), registry()).signals
    for family in IMAGE_FAMILIES:
        signal_type = registry().get(family)
        ours = next(s for s in clean if s.type == family)
        theirs = next(s for s in framed if s.type == family)  # the plain one comes first
        assert not signal_type.is_match(signal_type.compare(ours.value, theirs.value))


def test_picture_without_border_gets_no_extra_signal() -> None:
    assert [(s.type, s.variant) for s in uncropped(hash_file(PHOTO, registry()).signals)] == [
        ("md5", None),
        ("pdq", "orig"),
        ("phash", None),
    ]
    looked_up = uncropped(hash_file(PHOTO, registry(), variants=True).signals)
    assert len(looked_up) == 1 + 8 + 8  # md5, PDQ's and pHash's eight dihedral variants
    assert not any(s.variant and s.variant.startswith("trimmed") for s in looked_up)


def test_bordered_picture_gets_trimmed_signals_after_the_plain_ones(tmp_path: Path) -> None:
    path = bordered(tmp_path)
    banked = uncropped(hash_file(path, registry()).signals)
    assert [(s.type, s.variant) for s in banked] == [
        ("md5", None),
        ("pdq", "orig"),
        ("phash", None),
        ("pdq", "trimmed"),
        ("phash", "trimmed"),
    ]
    looked_up = uncropped(hash_file(path, registry(), variants=True).signals)
    trimmed = [s.variant for s in looked_up if s.type == "pdq" and s.variant]
    assert trimmed[8:] == [
        "trimmed",
        "trimmed+rot90",
        "trimmed+rot180",
        "trimmed+rot270",
        "trimmed+flipx",
        "trimmed+flipy",
        "trimmed+flipplus1",
        "trimmed+flipminus1",
    ]
    phash_variants = [s.variant for s in looked_up if s.type == "phash"]
    assert phash_variants[8:] == trimmed[8:]  # the same names as PDQ's, plain ones first
    assert phash_variants[0] == "orig" and len(phash_variants) == 16
    # The plain hashes are the same as without trimming.
    assert [s for s in looked_up if not (s.variant or "").startswith("trimmed")] == [
        s for s in looked_up[:17]
    ]


def test_bordered_query_finds_the_clean_banked_original(engine: Engine, tmp_path: Path) -> None:
    entry = engine.add_file("csem", PHOTO)
    assert len(uncropped(entry.signals)) == 3  # no border: nothing extra banked
    result = engine.lookup_file(bordered(tmp_path))
    assert [m.entry_id for m in result.matches] == [entry.id]
    found = hits(result.matches[0])
    assert found["pdq"].variant == "trimmed" and found["pdq"].distance <= 31
    assert found["pdq"].stored_variant is None
    assert found["phash"].variant == "trimmed"
    assert "md5" not in found


def test_clean_query_finds_the_bordered_banked_file(engine: Engine, tmp_path: Path) -> None:
    entry = engine.add_file("csem", bordered(tmp_path))
    stored = [(s.type, s.variant) for s in uncropped(entry.signals) if s.type in IMAGE_FAMILIES]
    assert stored == [("pdq", None), ("pdq", "trimmed"), ("phash", None), ("phash", "trimmed")]
    # The bank counts the file's own hashes, one per family: derived pictures are not files.
    assert engine.get_bank("csem").signals_per_family == {"md5": 1, "pdq": 1, "phash": 1}
    result = engine.lookup_file(PHOTO)
    assert [m.entry_id for m in result.matches] == [entry.id]
    found = hits(result.matches[0])
    assert found["pdq"].stored_variant == "trimmed" and found["pdq"].variant == "orig"
    assert found["phash"].stored_variant == "trimmed"
    data = match_to_json(result.matches[0], registry())
    pdq = next(s for s in data["signals"] if s["type"] == "pdq")
    assert pdq["stored_variant"] == "trimmed"
    assert "(banked trimmed)" in to_text(str(PHOTO), result, registry())


def test_stored_variant_survives_a_restart(tmp_path: Path) -> None:
    with Engine(tmp_path / "store", registry()) as engine:
        engine.create_bank("csem")
        engine.add_file("csem", bordered(tmp_path))
    with Engine(tmp_path / "store", registry()) as engine:
        result = engine.lookup_file(PHOTO)
        assert hits(result.matches[0])["pdq"].stored_variant == "trimmed"


def test_differently_bordered_copies_match_each_other(engine: Engine, tmp_path: Path) -> None:
    entry = engine.add_file("csem", bordered(tmp_path, "a.jpg", 0.05))
    white = Image.open(PHOTO).convert("RGB")
    path = tmp_path / "b.png"
    ImageOps.expand(white, border=(0, 200, 0, 200), fill="white").save(path)
    result = engine.lookup_file(path)
    assert [m.entry_id for m in result.matches] == [entry.id]
    found = hits(result.matches[0])["pdq"]
    assert found.variant == "trimmed" and found.stored_variant in ("trimmed", STRICT)


def test_hash_only_lookup_keeps_the_trimmed_signal(engine: Engine, tmp_path: Path) -> None:
    entry = engine.add_file("csem", PHOTO)
    line = json.dumps(to_json(hash_file(bordered(tmp_path), registry()), registry()))
    written = [
        s
        for s in json.loads(line)["signals"]
        if s.get("variant") not in CROPS and not _strict(s.get("variant"))
    ]
    assert [s.get("variant") for s in written] == [None, None, None, "trimmed", "trimmed"]
    _, signals, errors, _ = parse_hash_line(line, registry())
    assert not errors and [s.variant for s in uncropped(signals)][-2:] == ["trimmed", "trimmed"]
    result = engine.lookup_signals(signals)
    assert [m.entry_id for m in result.matches] == [entry.id]
    assert hits(result.matches[0])["pdq"].variant == "trimmed"


def test_hash_json_of_a_plain_picture_is_unchanged() -> None:
    data = to_json(hash_file(PHOTO, registry()), registry())
    plain = [s for s in data["signals"] if s.get("variant") not in CROPS]
    assert all(set(s) <= {"type", "value", "quality"} for s in plain)


def test_banked_signals_from_hashes_keep_only_derived_variants(engine: Engine) -> None:
    """As AddSignals does with a HashResponse: PDQ's ``orig`` is not stored, ``trimmed`` is."""
    signals = [
        Signal("pdq", bytes(range(32)), quality=100, variant="orig"),
        Signal("pdq", bytes(range(1, 33)), quality=100, variant="trimmed"),
        Signal("phash", bytes(8), variant="rot90"),
    ]
    entry = engine.add_entry("csem", signals, external_id="x")
    assert sorted((s.type, s.value[:1], s.variant) for s in entry.signals) == [
        ("pdq", b"\x00", None),
        ("pdq", b"\x01", "trimmed"),
        ("phash", b"\x00", None),
    ]


def test_native_export_round_trips_the_variant(engine: Engine, tmp_path: Path) -> None:
    entry = engine.add_file("csem", bordered(tmp_path))
    data = json.loads(entry_line(entry))
    assert {s.get("variant") for s in data["signals"]} - {STRICT} == {
        None,
        "trimmed",
        "centre90",
        "top80",
        "bottom80",
    }
    (update,) = NativeFormat(registry()).entry(data, "line 2")
    assert isinstance(update, BankUpdate)
    assert sorted(s.variant or "" for s in update.signals) == sorted(
        s.variant or "" for s in entry.signals
    )
    with engine.batch() as writer:
        writer.create_bank("copy")
        writer.upsert_entries("copy", [update])
    copied = engine.store.find_entry("copy", entry.external_id)
    assert sorted(s.variant or "" for s in copied.signals) == sorted(
        s.variant or "" for s in entry.signals
    )


def test_stored_variant_crosses_the_wire() -> None:
    hit = SignalHit("pdq", 4.0, "trimmed+rot90", "trimmed")
    assert hit_from_pb(hit_to_pb(hit)) == hit
    assert hit_from_pb(hit_to_pb(SignalHit("md5", 0.0))) == SignalHit("md5", 0.0)


V2_ENTRY_SIGNALS = """
CREATE TABLE entry_signals_v2 (
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    value_id INTEGER NOT NULL REFERENCES signal_values(id),
    quality INTEGER,
    PRIMARY KEY (entry_id, value_id)
) WITHOUT ROWID;
INSERT INTO entry_signals_v2 SELECT entry_id, value_id, quality FROM entry_signals;
DROP TABLE entry_signals;
ALTER TABLE entry_signals_v2 RENAME TO entry_signals;
CREATE INDEX entry_signals_value ON entry_signals (value_id);
PRAGMA user_version = 2;
"""
"""Turns a store back into its version 2 shape: ``entry_signals`` without ``variant``."""


def test_version_2_store_is_migrated(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    with Engine(directory, registry()) as engine:
        engine.create_bank("csem")
        # Without crops: a version 2 store never had variants to lose.
        plain = uncropped(hash_file(PHOTO, registry()).signals)
        old = engine.add_hashes("csem", plain, source=str(PHOTO)).entry
    conn = sqlite3.connect(directory / "hashcore.sqlite3")
    conn.executescript(V2_ENTRY_SIGNALS)
    conn.close()
    with Engine(directory, registry()) as engine:
        conn = sqlite3.connect(directory / "hashcore.sqlite3")
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
            columns = [row[1] for row in conn.execute("PRAGMA table_info(entry_signals)")]
        finally:
            conn.close()
        assert columns == ["entry_id", "value_id", "quality", "variant"]
        assert engine.get_entry("csem", old.id) == old
        new = engine.add_file("csem", bordered(tmp_path))
        assert "trimmed" in {s.variant for s in new.signals}
        assert hits(engine.lookup_file(PHOTO).matches[0])["pdq"].distance == 0
    with Store(directory) as store:  # opening again migrates nothing
        assert store.get_entry("csem", new.id) == new


def test_letterboxed_night_sky_matches_through_the_strict_trim(
    engine: Engine, tmp_path: Path
) -> None:
    """A dark photo's own margins make the tolerant box of a letterboxed copy miss the
    original frame (tests/test_borders.py); the strict box finds it, so the copy matches its
    banked original through ``trimmed-flat``."""
    rng = np.random.default_rng(5)
    sky = rng.normal(8, 1.2, (480, 640))
    for y, x in rng.integers(0, (480, 640), (160, 2)):
        sky[max(0, y - 2) : y + 2, max(0, x - 2) : x + 2] = 170
    rows, columns = np.mgrid[:480, :640]
    for cy, cx, size, glow in ((240, 320, 60, 90), (130, 470, 25, 60), (360, 150, 35, 50)):
        sky += glow * np.exp(-(((rows - cy) / size) ** 2 + ((columns - cx) / (1.5 * size)) ** 2))
    grey = np.clip(sky, 0, 255).astype(np.uint8)
    original = Image.fromarray(np.dstack([grey] * 3), "RGB")
    original.save(tmp_path / "sky.jpg", quality=90)
    entry = engine.add_file("csem", tmp_path / "sky.jpg")
    letterboxed = ImageOps.expand(original, border=(0, 60, 0, 60), fill="black")
    letterboxed.save(tmp_path / "letterboxed.jpg", quality=90)
    result = engine.lookup_file(tmp_path / "letterboxed.jpg")
    assert [m.entry_id for m in result.matches] == [entry.id]
    pdq = hits(result.matches[0])["pdq"]
    assert pdq.variant == STRICT and pdq.stored_variant is None and not pdq.weak
