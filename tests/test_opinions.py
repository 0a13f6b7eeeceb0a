"""Opinions and the local false-positive exception list, on a real store with real pictures.

The false positive is a real picture (``pen-and-coaster.png``) that a partner's PDQ hash comes
within 20 bits of: what a near-collision in a partner bank looks like. Its re-encoded copy
(JPEG at 40%, half size) hashes differently, so only an exception that reaches beyond the
exact hashes keeps it excepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.errors import NotFound
from hashcore.hashing import hash_file
from hashcore.model import EntryStatus
from hashcore.opinions import NewOpinion, OpinionKind
from hashcore.opinions.api import LocalOpinions
from hashcore.opinions.exceptions import radius
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal, hamming_distance, stored_variant
from tests.media_data import shared_file

PARTNER, OWN = "partner", "own"


def flip(value: bytes, bits: range) -> bytes:
    """``value`` with the bits at these positions (0 = most significant) inverted."""
    mask = sum(1 << (len(value) * 8 - 1 - bit) for bit in bits)
    return (int.from_bytes(value, "big") ^ mask).to_bytes(len(value), "big")


def plain(path: Path, registry: SignalRegistry, family: str) -> bytes:
    hashed = hash_file(path, registry).signals
    return next(s.value for s in hashed if s.type == family and stored_variant(s.variant) is None)


@pytest.fixture
def picture() -> Path:
    return shared_file("pdq/pen-and-coaster.png")


@pytest.fixture
def copy(picture: Path, tmp_path: Path) -> Path:
    """The false positive again, re-encoded: JPEG at 40% and half its size."""
    path = tmp_path / "copy.jpg"
    with Image.open(picture) as image:
        small = image.convert("RGB").resize((image.width // 2, image.height // 2))
        small.save(path, quality=40)
    return path


@pytest.fixture
def engine(tmp_path: Path, registry: SignalRegistry, picture: Path) -> Iterator[Engine]:
    """A partner bank whose entry ``p1`` is 20 bits from the picture's PDQ, and our own bank
    holding the picture itself."""
    engine = Engine(tmp_path / "store", registry)
    engine.create_bank(PARTNER)
    engine.create_bank(OWN)
    near = flip(plain(picture, registry, "pdq"), range(20))
    engine.add_entry(PARTNER, [Signal("pdq", near, quality=100)], external_id="p1")
    engine.add_file(OWN, picture, external_id="ours")
    yield engine
    engine.close()


def entry_id(engine: Engine, bank: str, external_id: str) -> int:
    entry = engine.store.find_entry(bank, external_id)
    assert entry is not None
    return entry.id


def matched(engine: Engine, path: Path) -> set[str]:
    return {f"{m.bank}/{m.external_id}" for m in engine.lookup_file(path).matches}


def hashes(path: Path, registry: SignalRegistry) -> tuple[Signal, ...]:
    return tuple(
        Signal(s.type, s.value)
        for s in hash_file(path, registry).signals
        if stored_variant(s.variant) is None
    )


def test_false_positive_stops_that_entry_matching_that_content_only(
    engine: Engine, registry: SignalRegistry, picture: Path, copy: Path
) -> None:
    assert matched(engine, picture) == {"partner/p1", "own/ours"}
    assert matched(engine, copy) == {"partner/p1", "own/ours"}
    book = LocalOpinions(engine.store)
    book.record_opinion(
        NewOpinion(PARTNER, "p1", OpinionKind.FALSE_POSITIVE, "ana", "a coaster",
                   hashes(picture, registry))
    )  # fmt: skip
    assert matched(engine, picture) == {"own/ours"}  # other entries still match this content
    result = engine.lookup_file(picture)  # the lookup says what the opinion set aside
    assert [(a.bank, a.external_id) for a in result.set_aside] == [(PARTNER, "p1")]
    assert engine.lookup_file(picture).set_aside[0].entry_id == entry_id(engine, PARTNER, "p1")
    # The re-encoded copy hashes differently, so an exact-hash exception would miss it...
    copy_pdq, picture_pdq = plain(copy, registry, "pdq"), plain(picture, registry, "pdq")
    assert copy_pdq != picture_pdq
    assert hamming_distance(copy_pdq, picture_pdq) <= radius(registry.get("pdq"))
    assert matched(engine, copy) == {"own/ours"}  # ...the exception covers it
    # The entry stays active and keeps matching other content: its own neighbourhood.
    entry = engine.store.find_entry(PARTNER, "p1")
    assert entry.status is EntryStatus.ACTIVE
    other = flip(entry.signals[0].value, range(100, 112))  # 32 bits from the picture
    found = engine.lookup_signals([Signal("pdq", other, quality=100)]).matches
    assert [m.external_id for m in found] == ["p1"]


def test_two_false_positives_of_one_author_both_stand(engine: Engine) -> None:
    """Two different look-alikes reported against one entry by one analyst: the second used
    to lift the first's exception (only the latest opinion counted), so the first upload
    matched again. A run of false positives stands whole; a confirmation ends it."""
    banked = engine.store.find_entry(PARTNER, "p1").signals[0].value
    first, second = (  # 20 bits from the entry each, 40 from each other: apart
        Signal("pdq", flip(banked, bits), quality=100) for bits in (range(0, 20), range(20, 40))
    )

    def p1_matches(signal: Signal) -> bool:
        return "p1" in [m.external_id for m in engine.lookup_signals([signal]).matches]

    assert p1_matches(first) and p1_matches(second)
    book = LocalOpinions(engine.store)
    for content in (first, second):
        book.record_opinion(
            NewOpinion(PARTNER, "p1", OpinionKind.FALSE_POSITIVE, "ana", hashes=(content,))
        )
    assert not p1_matches(first) and not p1_matches(second)
    book.record_opinion(NewOpinion(PARTNER, "p1", OpinionKind.CONFIRMED, "ana"))
    assert p1_matches(first) and p1_matches(second)


def test_withdrawal_or_a_later_confirmation_lifts_the_exception(
    engine: Engine, registry: SignalRegistry, picture: Path
) -> None:
    book = LocalOpinions(engine.store)
    false_positive = NewOpinion(
        PARTNER, "p1", OpinionKind.FALSE_POSITIVE, "ana", hashes=hashes(picture, registry)
    )
    book.record_opinion(false_positive)
    book.record_opinion(NewOpinion(PARTNER, "p1", OpinionKind.CONFIRMED, "ben"))
    assert "partner/p1" not in matched(engine, picture)  # another author's verdict is theirs
    book.record_opinion(NewOpinion(PARTNER, "p1", OpinionKind.CONFIRMED, "ana"))
    assert "partner/p1" in matched(engine, picture)
    book.record_opinion(false_positive)  # the same opinion again: stored once, nothing changes
    assert "partner/p1" in matched(engine, picture)
    book.record_opinion(
        NewOpinion(
            PARTNER, "p1", OpinionKind.FALSE_POSITIVE, "ana", hashes=hashes(picture, registry)
        )
    )
    assert "partner/p1" not in matched(engine, picture)
    book.record_opinion(NewOpinion(PARTNER, "p1", OpinionKind.WITHDRAWN, "ana"))
    assert "partner/p1" in matched(engine, picture)
    kinds = [(o.author, o.kind.value) for o in book.list_opinions(PARTNER, "p1")]
    assert kinds == [
        ("ana", "false_positive"), ("ben", "confirmed"), ("ana", "confirmed"),
        ("ana", "false_positive"), ("ana", "withdrawn"),
    ]  # fmt: skip


def test_a_partners_false_positive_excepts_nothing_here(
    engine: Engine, registry: SignalRegistry, picture: Path
) -> None:
    LocalOpinions(engine.store).record_opinion(
        NewOpinion(PARTNER, "p1", OpinionKind.FALSE_POSITIVE, "their-analyst",
                   hashes=hashes(picture, registry), origin="hotline-b")
    )  # fmt: skip
    assert "partner/p1" in matched(engine, picture)


def test_a_genuine_copy_nearer_the_entry_than_the_false_positive_still_matches(
    engine: Engine, registry: SignalRegistry, picture: Path
) -> None:
    """Within the radius of the false positive but closer to the banked hash: a real copy."""
    entry_pdq = engine.store.find_entry(PARTNER, "p1").signals[0].value
    picture_pdq = plain(picture, registry, "pdq")
    LocalOpinions(engine.store).record_opinion(
        NewOpinion(
            PARTNER, "p1", OpinionKind.FALSE_POSITIVE, "ana", hashes=hashes(picture, registry)
        )
    )
    between = flip(picture_pdq, range(12))  # 12 from the picture, 8 from the entry
    assert hamming_distance(between, entry_pdq) < hamming_distance(between, picture_pdq)
    found = engine.lookup_signals([Signal("pdq", between, quality=100)]).matches
    assert "p1" in {m.external_id for m in found}
    nearer_fp = flip(picture_pdq, range(30, 34))  # 4 from the picture
    found = engine.lookup_signals([Signal("pdq", nearer_fp, quality=100)]).matches
    assert "p1" not in {m.external_id for m in found}


def test_an_older_store_gets_the_tables_when_opened(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    import sqlite3

    with Engine(tmp_path / "s", registry) as engine:
        engine.create_bank("b")
    conn = sqlite3.connect(tmp_path / "s" / "hashcore.sqlite3")
    conn.execute("DROP TABLE match_exceptions")
    conn.execute("DROP TABLE opinions")
    conn.commit()
    conn.close()
    with Engine(tmp_path / "s", registry) as engine:
        assert LocalOpinions(engine.store).list_opinions() == []


# The CLI


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_add_list_remove(
    capsys: pytest.CaptureFixture[str],
    engine: Engine,
    registry: SignalRegistry,
    picture: Path,
    copy: Path,
    tmp_path: Path,
) -> None:
    store = ["--store", str(engine.store_dir)]
    code, out, err = run(
        capsys, "opinion", "add", PARTNER, "p1", "--kind", "false_positive", "--note", "coaster",
        "--content", str(picture), "--author", "ana", *store,
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("opinion 1: false_positive on partner/p1 by ana (")
    assert "partner/p1" not in matched(engine, copy)  # the engine sees the CLI's write
    code, out, _ = run(capsys, "lookup", "--json", str(copy), *store)
    assert code == 0 and [m["bank"] for m in json.loads(out)["matches"]] == [OWN]
    assert json.loads(out)["set_aside"] == [
        {"bank": PARTNER, "entry": entry_id(engine, PARTNER, "p1"), "external_id": "p1"}
    ]
    code, out, _ = run(capsys, "lookup", str(copy), *store)
    assert out.splitlines()[0].endswith(": 1 match (1 set aside by false-positive opinions)")
    assert f"  set aside  {PARTNER}  entry " in out and "(p1): recorded here as a false" in out

    code, out, _ = run(capsys, "opinion", "list", PARTNER, "--json", *store)
    [listed] = json.loads(out)
    assert listed["kind"] == "false_positive" and listed["author"] == "ana"
    assert listed["origin"] is None and listed["note"] == "coaster"
    pdq_hex = plain(picture, registry, "pdq").hex()
    assert f"pdq:{pdq_hex}" in listed["hashes"]
    code, out, _ = run(capsys, "opinion", "list", *store)
    assert code == 0 and out.splitlines()[0].split() == [
        "ID", "BANK", "ENTRY", "KIND", "AUTHOR", "ORIGIN", "WHEN", "NOTE",
    ]  # fmt: skip
    assert out.splitlines()[1].split()[:6] == ["1", PARTNER, "p1", "false_positive", "ana", "local"]

    code, out, _ = run(capsys, "opinion", "remove", PARTNER, "p1", "--author", "ana", *store)
    assert code == 0 and "withdrawn on partner/p1 by ana" in out
    assert "partner/p1" in matched(engine, copy)

    code, out, _ = run(
        capsys, "opinion", "add", PARTNER, "p1", "--kind", "confirmed",
        "--hash", f"pdq:{pdq_hex}", "--author", "ana", "--json", *store,
    )  # fmt: skip
    assert code == 0 and json.loads(out)["hashes"] == [f"pdq:{pdq_hex}"]


def test_remove_refuses_when_there_is_nothing_to_withdraw(
    capsys: pytest.CaptureFixture[str], engine: Engine
) -> None:
    """A withdrawal by someone with no standing opinion takes nothing back: recorded, it would
    be sent to the partner as a verdict of its own (StopNCII's ``None`` over an ``Upheld``)."""
    store = ["--store", str(engine.store_dir)]
    code, _, err = run(capsys, "opinion", "add", PARTNER, "p1", "--kind", "confirmed",
                       "--author", "ana", *store)  # fmt: skip
    assert code == 0, err
    code, out, err = run(capsys, "opinion", "remove", PARTNER, "p1", "--author", "carol", *store)
    assert (code, out) == (2, "")
    assert err.strip() == "hashcore: error: no opinion by carol on partner/p1 to withdraw"
    code, out, _ = run(capsys, "opinion", "remove", PARTNER, "p1", "--author", "ana", *store)
    assert code == 0 and "withdrawn on partner/p1 by ana" in out
    code, _, err = run(capsys, "opinion", "remove", PARTNER, "p1", "--author", "ana", *store)
    assert code == 2 and err.strip() == (
        "hashcore: error: no opinion by ana on partner/p1 to withdraw (withdrawn already)"
    )
    kinds = [(o.author, o.kind.value) for o in LocalOpinions(engine.store).list_opinions()]
    assert kinds == [("ana", "confirmed"), ("ana", "withdrawn")]  # nothing piled up
    # Another origin's opinion is not this author's to withdraw here, and a resend is no error.
    book = LocalOpinions(engine.store)
    with pytest.raises(NotFound, match="no opinion by lena"):
        book.record_opinion(NewOpinion(PARTNER, "p1", OpinionKind.WITHDRAWN, "lena"))
    book.record_opinion(NewOpinion(PARTNER, "p1", OpinionKind.CONFIRMED, "lena", origin="x"))
    withdrawal = NewOpinion(PARTNER, "p1", OpinionKind.WITHDRAWN, "lena", origin="x")
    assert book.record_opinion(withdrawal) == book.record_opinion(withdrawal)


def test_content_that_hashed_with_errors_records_nothing(
    capsys: pytest.CaptureFixture[str], engine: Engine, tmp_path: Path
) -> None:
    """A truncated picture hashes by MD5 alone: as a false positive it would except that exact
    file and none of its re-encoded copies, so the analyst is told instead."""
    truncated = tmp_path / "trunc.jpg"
    truncated.write_bytes(shared_file("pdq/dih/bridge-1-original.jpg").read_bytes()[:3000])
    code, out, err = run(
        capsys, "opinion", "add", PARTNER, "p1", "--kind", "false_positive",
        "--content", str(truncated), "--store", str(engine.store_dir),
    )  # fmt: skip
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith(f"hashcore: error: {truncated}: cannot decode image: image file is")
    assert "nothing recorded: md5 alone would not except re-encoded copies" in line
    assert LocalOpinions(engine.store).list_opinions() == []


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], engine: Engine) -> None:
    store = ["--store", str(engine.store_dir)]
    code, out, err = run(capsys, "opinion", "list", *store)
    assert (code, out, err.strip()) == (0, "", "no opinions in this store")
    code, out, err = run(capsys, "opinion", "list", PARTNER, "--entry", "p1", *store)
    assert (code, out, err.strip()) == (0, "", "no opinions on partner/p1")
    code, out, err = run(capsys, "opinion", "list", PARTNER, "--entry", "nope", *store)
    assert (code, out) == (2, "")
    assert err.strip() == "hashcore: error: bank 'partner' has no entry 'nope'"
    code, _, err = run(capsys, "opinion", "add", PARTNER, "nope", "--kind", "confirmed", *store)
    assert code == 2 and err.strip() == "hashcore: error: bank 'partner' has no entry 'nope'"
    number = str(entry_id(engine, PARTNER, "p1"))  # what a lookup prints as "entry N (p1)"
    code, _, err = run(capsys, "opinion", "add", PARTNER, number, "--kind", "confirmed", *store)
    assert code == 2 and err.strip() == (
        f"hashcore: error: bank 'partner' has no entry '{number}' (entry {number} is 'p1': "
        "name it by that id)"
    )
    code, _, err = run(capsys, "opinion", "add", "nobank", "x", "--kind", "confirmed", *store)
    assert code == 2 and "no bank named 'nobank'" in err
    code, _, err = run(
        capsys, "opinion", "add", PARTNER, "p1", "--kind", "confirmed", "--hash", "pdq", *store
    )
    assert code == 2 and "--hash expects FAMILY:HEX" in err
    code, _, err = run(capsys, "opinion", "list", "--entry", "p1", *store)
    assert code == 2 and "give BANK too" in err
