"""The precision rules: a weak family's hit needs a second family; every match is rated.

pHash has 64 bits and captures only the layout: against millions of entries hits happen by
accident (2.8e-3 a lookup at 10M at 8 bits for uniform codes, far more for real pictures), so
its ``solo_threshold`` is ``NEVER_ALONE``: it only counts for an entry another family recognises
too. The confidence is ``-log10`` of the chance that an unrelated item comes as close in every
matching family.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from engine_support import flip_bits, registry

from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.matching import confidence, stands_alone
from hashcore.model import SignalHit
from hashcore.signals import Signal, uniform_hamming_tail


def phash(value: bytes) -> Signal:
    return Signal("phash", value)


def pdq(value: bytes) -> Signal:
    return Signal("pdq", value, quality=100)


@pytest.fixture
def engine(tmp_path: Path):
    with Engine(tmp_path / "store", registry()) as engine:
        yield engine


def stored(engine: Engine, seed: int, **thresholds: float) -> tuple[bytes, bytes]:
    """A bank holding one entry with a random pHash and PDQ; returns the two values."""
    rng = random.Random(seed)
    p64, p256 = rng.randbytes(8), rng.randbytes(32)
    engine.create_bank("b", thresholds=thresholds or None)
    engine.add_entry("b", [phash(p64), pdq(p256)], external_id="e")
    return p64, p256


@pytest.mark.parametrize("distance", [0, 1, 4, 8])
def test_phash_alone_never_matches(engine, distance):
    p64, _ = stored(engine, 1)
    assert not engine.lookup_signals([phash(flip_bits(p64, distance))]).matched


@pytest.mark.parametrize(("distance", "found"), [(0, True), (5, True), (8, True), (9, False)])
def test_a_loose_phash_hit_counts_when_pdq_agrees(engine, distance, found):
    p64, p256 = stored(engine, 2)
    query = [phash(flip_bits(p64, distance)), pdq(flip_bits(p256, 20))]
    (match,) = engine.lookup_signals(query).matches
    assert [hit.type for hit in match.signals] == (["pdq", "phash"] if found else ["pdq"])


def test_a_loose_phash_hit_beside_an_unrelated_family_stays_out(engine):
    """pHash at 6 and an MD5 that is not the entry's: only one family recognises it."""
    p64, _ = stored(engine, 3)
    other_md5 = Signal("md5", bytes(16))
    assert not engine.lookup_signals([phash(flip_bits(p64, 6)), other_md5]).matched


def test_a_bank_threshold_still_bounds_the_seconding_hit(engine):
    p64, p256 = stored(engine, 4, phash=3)
    near_pdq = pdq(flip_bits(p256, 10))
    (match,) = engine.lookup_signals([phash(flip_bits(p64, 3)), near_pdq]).matches
    assert [hit.type for hit in match.signals] == ["pdq", "phash"]
    (match,) = engine.lookup_signals([phash(flip_bits(p64, 4)), near_pdq]).matches
    assert [hit.type for hit in match.signals] == ["pdq"]


def test_stands_alone_rule():
    ph, pd = registry().get("phash"), registry().get("pdq")
    assert not stands_alone(ph, 0, 8) and not stands_alone(ph, 0, 0)
    assert stands_alone(pd, 31, 31)  # PDQ has no solo threshold: the threshold is enough


def test_confidence_adds_the_families_digits():
    reg = registry()
    pdq_digits = -math.log10(uniform_hamming_tail(256, 20))
    phash_digits = -math.log10(uniform_hamming_tail(64, 6))
    md5_digits = 128 * math.log10(2)
    assert confidence(reg, [SignalHit("pdq", 20)]) == round(pdq_digits, 2)
    both = confidence(reg, [SignalHit("pdq", 20), SignalHit("phash", 6)])
    assert both == round(pdq_digits + phash_digits, 2)
    assert confidence(reg, [SignalHit("md5", 0)]) == round(md5_digits, 2)
    # A closer hit is always rated higher; a family that cannot say adds nothing.
    ratings = [confidence(reg, [SignalHit("phash", d)]) for d in range(0, 12)]
    assert ratings == sorted(ratings, reverse=True) and len(set(ratings)) == 12
    assert confidence(reg, [SignalHit("tmk_pdqf", 0.9)]) is None
    assert confidence(reg, [SignalHit("tmk_pdqf", 0.9), SignalHit("md5", 0)]) == round(
        md5_digits, 2
    )


def test_uniform_tail_matches_the_binomial_law():
    assert uniform_hamming_tail(64, 0) == 2.0**-64
    assert uniform_hamming_tail(64, 64) == 1.0
    assert uniform_hamming_tail(64, -1) == 0.0
    assert math.isclose(uniform_hamming_tail(64, 8), 2.78e-10, rel_tol=0.01)
    assert math.isclose(uniform_hamming_tail(256, 31), 8.28e-38, rel_tol=0.01)


def test_matches_carry_their_confidence(engine):
    p64, p256 = stored(engine, 5)
    (match,) = engine.lookup_signals([pdq(flip_bits(p256, 10)), phash(p64)]).matches
    expected = -math.log10(uniform_hamming_tail(256, 10)) - math.log10(2.0**-64)
    assert match.confidence == round(expected, 2)


def test_random_hash_only_lookups_make_no_accidental_claims(engine):
    """The issue's check, scaled down: random pHash+PDQ queries against random entries.

    20,000 entries and 5,000 queries are 1e8 comparisons. The bank's pHash threshold is set to
    12 so that accidents are frequent enough to count here (2.3e-7 a pair for uniform codes,
    about 23 expected): a brute-force count finds them, and the engine must turn every one away
    because no second family agrees.
    """
    rng = random.Random(77)
    engine.create_bank("random", thresholds={"phash": 12})
    entries = [(rng.randbytes(8), rng.randbytes(32)) for _ in range(20_000)]
    with engine.batch() as writer:
        for number, (p64, p256) in enumerate(entries):
            writer.upsert_entry("random", f"r{number}", [phash(p64), pdq(p256)])
    queries = [(rng.randbytes(8), rng.randbytes(32)) for _ in range(5_000)]
    stored_codes = np.array([int.from_bytes(p, "big") for p, _ in entries], dtype=np.uint64)
    accidents = 0
    for p64, _ in queries:
        differing = np.bitwise_xor(stored_codes, np.uint64(int.from_bytes(p64, "big")))
        accidents += int((np.bitwise_count(differing) <= 12).sum())
    assert accidents >= 5  # the data really holds pHash accidents within the bank's threshold
    results = engine.lookup_many([[phash(p64), pdq(p256)] for p64, p256 in queries])
    assert sum(len(result.matches) for result in results) == 0


def test_cli_prints_and_filters_on_confidence(tmp_path: Path, capsys):
    store = ["--store", str(tmp_path / "store")]
    with Engine(tmp_path / "store", registry()) as engine:
        _, p256 = stored(engine, 6)
    near = {
        "path": "q",
        "signals": [{"type": "pdq", "value": flip_bits(p256, 30).hex(), "quality": 100}],
    }
    lines = tmp_path / "q.jsonl"
    lines.write_text(json.dumps(near) + "\n")
    assert main(["lookup", "--json", "--signals", str(lines), *store]) == 0
    (match,) = json.loads(capsys.readouterr().out)["matches"]
    digits = round(-math.log10(uniform_hamming_tail(256, 30)), 2)
    assert match["confidence"] == digits
    assert main(["lookup", "--signals", str(lines), *store]) == 0
    assert f"confidence {digits:g}" in capsys.readouterr().out
    above = str(digits + 0.01)
    assert main(["lookup", "--min-confidence", above, "--signals", str(lines), *store]) == 1
    assert "no match" in capsys.readouterr().out
    assert main(["lookup", "--min-confidence", str(digits), "--signals", str(lines), *store]) == 0


def test_a_tie_between_the_plain_and_the_trimmed_picture_reports_the_plain(engine):
    rng = random.Random(8)
    plain, trimmed = rng.randbytes(32), rng.randbytes(32)
    engine.create_bank("b")
    banked = [Signal("pdq", trimmed, quality=100, variant="trimmed"), pdq(plain)]
    engine.add_entry("b", banked, external_id="e")
    # Equidistant query: 10 bits from each (they differ in ~128 bits, so build it bit by bit).
    a, b = int.from_bytes(plain, "big"), int.from_bytes(trimmed, "big")
    differing = [bit for bit in range(256) if (a ^ b) >> bit & 1]
    query = a
    for bit in differing[: len(differing) // 2]:
        query ^= 1 << bit
    value = query.to_bytes(32, "big")
    distance = bin(query ^ a).count("1")
    assert distance == bin(query ^ b).count("1")
    (match,) = engine.lookup_signals([pdq(value)], thresholds={"pdq": distance}).matches
    (hit,) = match.signals
    assert hit.distance == distance and hit.stored_variant is None
    # Closer to the trimmed picture: the trimmed one is reported.
    nearer = (query ^ (1 << differing[-1])).to_bytes(32, "big")
    (match,) = engine.lookup_signals([pdq(nearer)], thresholds={"pdq": distance}).matches
    assert match.signals[0].stored_variant == "trimmed"
