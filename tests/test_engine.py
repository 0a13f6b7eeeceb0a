"""The engine end to end on real files: one lookup across PDQ (dihedral), pHash and MD5."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import flip_bits, pdq, random_pdq, registry
from media_data import media

from hashcore.engine import Engine
from hashcore.errors import AlreadyExists, InvalidInput, NotFound
from hashcore.hashing import hash_file
from hashcore.model import EntryStatus, LookupResult
from hashcore.signals import Signal

BRIDGE = "pdq/dih/bridge-1-original.jpg"
ROTATED = [
    "pdq/dih/bridge-2-rotate-90.jpg",
    "pdq/dih/bridge-3-rotate-180.jpg",
    "pdq/dih/bridge-4-rotate-270.jpg",
    "pdq/dih/bridge-5-flipx.jpg",
    "pdq/dih/bridge-6-flipy.jpg",
    "pdq/dih/bridge-7-flip-plus-1.jpg",
    "pdq/dih/bridge-8-flip-minus-1.jpg",
]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(tmp_path / "store", registry()) as opened:
        opened.create_bank("ncmec", labels=["ncmec"])
        opened.create_bank("local")
        yield opened


def hits(result: LookupResult) -> dict[tuple[str, int], dict[str, tuple[float, str | None]]]:
    return {
        (m.bank, m.entry_id): {s.type: (s.distance, s.variant) for s in m.signals}
        for m in result.matches
    }


def test_duplicate_across_banks_is_one_index_value_and_two_matches(engine: Engine) -> None:
    first = engine.add_file("ncmec", media(BRIDGE), labels=["ncmec:A1"])
    second = engine.add_file("local", media(BRIDGE))
    pdq_values = [s for s in first.signals if s.type == "pdq"]  # the plain one and its crops
    assert engine.index_status()["pdq"].values == len(pdq_values)
    assert engine.index_status()["md5"].values == 1
    result = engine.lookup_file(media(BRIDGE))
    assert [(m.bank, m.entry_id) for m in result.matches] == [
        ("local", second.id),
        ("ncmec", first.id),
    ]
    found = hits(result)[("ncmec", first.id)]
    assert found == {"md5": (0, None), "pdq": (0, "orig"), "phash": (0, "orig")}
    assert result.matches[1].labels == ("ncmec:A1",)
    assert result.matches[1].external_id == first.external_id


@pytest.mark.parametrize("name", ROTATED)
def test_rotated_or_flipped_copy_matches_through_dihedral_variants(
    engine: Engine, name: str
) -> None:
    entry = engine.add_file("ncmec", media(BRIDGE))
    found = hits(engine.lookup_file(media(name)))
    assert list(found) == [("ncmec", entry.id)]
    distance, variant = found[("ncmec", entry.id)]["pdq"]
    assert distance <= 31
    assert variant not in (None, "orig")
    assert "md5" not in found[("ncmec", entry.id)]


def test_exact_copy_matches_by_md5_even_when_not_an_image(engine: Engine, tmp_path: Path) -> None:
    document = tmp_path / "notes.bin"
    document.write_bytes(b"not an image, just bytes\n" * 10)
    entry = engine.add_file("local", document)
    copy = tmp_path / "copy.bin"
    shutil.copy(document, copy)
    assert hits(engine.lookup_file(copy)) == {("local", entry.id): {"md5": (0, None)}}


def test_family_known_only_by_md5_still_matches(engine: Engine) -> None:
    digest = hashlib.md5(media(BRIDGE).read_bytes(), usedforsecurity=False).digest()
    entry = engine.add_entry("ncmec", [Signal("md5", digest)], external_id="partner-17")
    result = engine.lookup_file(media(BRIDGE))
    assert hits(result) == {("ncmec", entry.id): {"md5": (0, None)}}
    assert result.matches[0].external_id == "partner-17"


def test_add_withdraw_disable_remove_are_visible_immediately(engine: Engine) -> None:
    entry = engine.add_file("ncmec", media(BRIDGE))
    assert engine.lookup_file(media(BRIDGE)).matched
    engine.set_entry_status("ncmec", entry.id, EntryStatus.WITHDRAWN)
    assert not engine.lookup_file(media(BRIDGE)).matched
    engine.set_entry_status("ncmec", entry.id, EntryStatus.ACTIVE)
    assert engine.lookup_file(media(BRIDGE)).matched
    engine.set_bank_enabled("ncmec", False)
    assert not engine.lookup_file(media(BRIDGE)).matched
    engine.set_bank_enabled("ncmec", True)
    assert engine.lookup_file(media(BRIDGE)).matched
    assert engine.remove_entries("ncmec", [entry.id]) == 1
    assert not engine.lookup_file(media(BRIDGE)).matched
    assert engine.get_entry("ncmec", entry.id).status is EntryStatus.DELETED
    assert engine.index_status()["pdq"].values == 0


def test_thresholds_request_over_bank_over_default(engine: Engine) -> None:
    engine.create_bank("strict", thresholds={"pdq": 5})
    stored = random_pdq(1)
    loose = engine.add_entry("local", [pdq(stored)])
    strict = engine.add_entry("strict", [pdq(stored)])
    query = [pdq(flip_bits(stored, 10))]
    assert hits(engine.lookup_signals(query)) == {("local", loose.id): {"pdq": (10, None)}}
    both = {("local", loose.id), ("strict", strict.id)}
    assert set(hits(engine.lookup_signals(query, thresholds={"pdq": 10}))) == both
    assert not engine.lookup_signals(query, thresholds={"pdq": 9}).matched
    far = [pdq(flip_bits(stored, 32))]
    assert not engine.lookup_signals(far).matched  # default 31 is inclusive, 32 is out
    assert engine.lookup_signals([pdq(flip_bits(stored, 31))]).matched
    with pytest.raises(InvalidInput):
        engine.lookup_signals(query, thresholds={"pdq": -1})
    with pytest.raises(InvalidInput):
        engine.lookup_signals(query, thresholds={"nosuch": 3})


def test_banks_filter_and_unknown_banks(engine: Engine) -> None:
    engine.add_file("ncmec", media(BRIDGE))
    engine.add_file("local", media(BRIDGE))
    only = engine.lookup_file(media(BRIDGE), banks=["local"])
    assert [m.bank for m in only.matches] == ["local"]
    with pytest.raises(NotFound):
        engine.lookup_file(media(BRIDGE), banks=["nosuch"])
    with pytest.raises(NotFound):
        engine.add_file("nosuch", media(BRIDGE))
    with pytest.raises(AlreadyExists):
        engine.create_bank("local")


def test_malformed_values_are_rejected(engine: Engine) -> None:
    with pytest.raises(InvalidInput):
        engine.add_entry("local", [Signal("pdq", b"short")])
    with pytest.raises(InvalidInput):
        engine.lookup_signals([Signal("md5", b"\x00" * 3)])
    with pytest.raises(InvalidInput):
        engine.lookup_signals([Signal("nosuch", b"\x00")])


def test_low_quality_pdq_is_skipped_not_queried(engine: Engine) -> None:
    small = media("pdq/misc/small.jpg")
    entry = engine.add_file("local", small)
    assert "pdq" not in {s.type for s in entry.signals}  # never stored either
    result = engine.lookup_file(small)
    assert [s.type for s in result.skipped] == ["pdq"]
    assert "quality 0" in result.skipped[0].reason
    assert hits(result) == {("local", entry.id): {"md5": (0, None), "phash": (0, "orig")}}


def test_hash_only_lookup_equals_file_lookup(engine: Engine) -> None:
    engine.add_file("ncmec", media(BRIDGE))
    for name in (BRIDGE, ROTATED[0], "pdq/misc/small.jpg"):
        path = media(name)
        signals = hash_file(path, registry(), variants=True).signals
        assert engine.lookup_signals(signals) == engine.lookup_file(path)


def test_unreadable_file_is_an_error_not_an_exception(engine: Engine, tmp_path: Path) -> None:
    result = engine.lookup_file(tmp_path / "missing.jpg")
    assert not result.matched and result.errors


def test_lookups_are_safe_during_adds(engine: Engine) -> None:
    values = [random_pdq(seed) for seed in range(60)]
    failures: list[BaseException] = []
    stop = threading.Event()

    def look() -> None:
        try:
            while not stop.is_set():
                for value in values[:10]:
                    engine.lookup_signals([pdq(value)])
        except BaseException as error:  # reported below
            failures.append(error)

    readers = [threading.Thread(target=look) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for value in values:
            engine.add_entry("local", [pdq(value)])
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not failures
    assert all(engine.lookup_signals([pdq(value)]).matched for value in values)


def test_adding_the_same_file_twice_keeps_one_entry(engine: Engine) -> None:
    engine.create_bank("dedup")
    first = engine.add_file("dedup", media(BRIDGE), labels=["a"])
    again = engine.add_file("dedup", media(BRIDGE), labels=["b"])
    assert again.id == first.id
    assert first.external_id.startswith("md5:") and again.labels == ("a", "b")  # joined
    assert engine.get_bank("dedup").entries == 1


def test_a_truncated_picture_reports_its_decoding_error_once(
    engine: Engine, tmp_path: Path
) -> None:
    """PDQ and pHash both fail to decode it with the same message; MD5 still hashes it."""
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(media(BRIDGE).read_bytes()[:3000])
    result = engine.lookup_file(truncated)
    assert len(result.errors) == 1 and "truncated" in result.errors[0]
