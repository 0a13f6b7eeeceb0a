"""Guards on the threshold rules, at their exact boundaries (found by ``make mutate``).

A Hamming match is distance <= threshold, a similarity match is score >= threshold, an exact
match is distance 0; the request's threshold beats the bank's, which beats the family default;
the index is searched at the loosest threshold any bank allows; disabled banks and banks
outside the filter never match; PDQ hashes under quality 50 are not usable.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest

from hashcore.content import ContentKind
from hashcore.errors import InvalidInput
from hashcore.hits import ValueHit, best_per_value, merge_matches
from hashcore.matching import (
    better,
    check_thresholds,
    loosest_threshold,
    stands_alone,
    stricter,
    threshold_for,
)
from hashcore.model import Bank
from hashcore.registry import SignalRegistry
from hashcore.signals import BitSignalType, Metric, Signal, SignalType
from hashcore.store import LiveEntry
from hashcore_pdq.plugin import MIN_USABLE_QUALITY, SOLO_MIN_QUALITY, PdqSignal


class Ham(BitSignalType):
    name: ClassVar[str] = "ham"
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})
    bits: ClassVar[int] = 16
    default_threshold: ClassVar[float] = 4

    def hash(self, media: object) -> object:  # type: ignore[override]
        raise NotImplementedError


class Exact(Ham):
    name: ClassVar[str] = "exact"
    metric: ClassVar[Metric] = Metric.EXACT
    default_threshold: ClassVar[float] = 0


class Sim(Ham):
    name: ClassVar[str] = "sim"
    metric: ClassVar[Metric] = Metric.SIMILARITY
    default_threshold: ClassVar[float] = 0.7


class Weak(Ham):
    """A family whose loose hits need a second family (pHash-like)."""

    name: ClassVar[str] = "weak"
    default_threshold: ClassVar[float] = 6
    solo_threshold: ClassVar[float | None] = 3


class Weak2(Weak):
    name: ClassVar[str] = "weak2"


class Registry:
    """The two methods of SignalRegistry that matching uses."""

    def __init__(self, *types: SignalType) -> None:
        self.types = {t.name: t for t in types}

    def get(self, name: str) -> SignalType:
        if name not in self.types:
            raise InvalidInput(f"unknown {name}")
        return self.types[name]


REG = Registry(Ham(), Exact(), Sim(), Weak(), Weak2())


def test_is_match_boundaries_per_metric() -> None:
    ham, exact, sim = Ham(), Exact(), Sim()
    assert ham.is_match(4) and not ham.is_match(5)
    assert ham.is_match(2, 2) and not ham.is_match(3, 2)
    assert ham.is_match(0, 0) and not ham.is_match(1, 0)
    assert sim.is_match(0.7) and not sim.is_match(0.69)
    assert sim.is_match(0.5, 0.5) and not sim.is_match(0.49, 0.5)
    assert exact.is_match(0) and not exact.is_match(1)
    assert exact.is_match(0, 5) and not exact.is_match(1, 5)  # threshold unused


def test_pdq_threshold_and_quality_cutoff() -> None:
    pdq = PdqSignal()
    assert pdq.default_threshold == 31
    assert pdq.is_match(31) and not pdq.is_match(32)
    assert (MIN_USABLE_QUALITY, SOLO_MIN_QUALITY) == (1, 50)
    assert pdq.solo_min_quality == 50
    assert pdq.is_weak(49) and not pdq.is_weak(50) and not pdq.is_weak(None)
    bits = np.zeros(256, dtype=np.uint8)
    assert pdq._signal(bits, 50, "orig").usable
    assert pdq._signal(bits, 49, "orig").usable
    assert pdq._signal(bits, 1, "orig").usable
    assert pdq._signal(bits, 100, "rot90").usable
    assert not pdq._signal(bits, 0, "orig").usable
    signal = pdq._signal(bits, 49, "flipx")
    assert (signal.quality, signal.variant, signal.type) == (49, "flipx", "pdq")


def test_hamming_distance_compare_and_exact_compare() -> None:
    ham, exact = Ham(), Exact()
    assert ham.compare(b"\x00\x00", b"\x00\x03") == 2
    assert exact.compare(b"\x00\x01", b"\x00\x01") == 0
    assert exact.compare(b"\x00\x01", b"\x00\x03") == 1


def test_check_thresholds_rejects_only_bad_values() -> None:
    assert check_thresholds(REG, {"ham": 0}) == {"ham": 0.0}  # type: ignore[arg-type]
    assert check_thresholds(REG, {"sim": -0.5}) == {"sim": -0.5}  # type: ignore[arg-type]
    assert check_thresholds(REG, None) == {}  # type: ignore[arg-type]
    for bad in ({"ham": -1}, {"ham": -0.001}, {"ham": math.inf}, {"sim": math.nan}, {"ham": "x"}):
        with pytest.raises(InvalidInput):
            check_thresholds(REG, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        check_thresholds(REG, {"nope": 1})  # type: ignore[arg-type]


def test_threshold_precedence_request_bank_default() -> None:
    ham = Ham()
    bank = Bank("b", thresholds={"ham": 7})
    assert threshold_for(ham, bank, {"ham": 2}) == 2
    assert threshold_for(ham, bank, {}) == 7
    assert threshold_for(ham, Bank("c"), {}) == 4
    assert threshold_for(ham, Bank("c"), {"sim": 1}) == 4


def test_loosest_threshold_is_max_distance_or_min_score() -> None:
    banks = [Bank("a", thresholds={"ham": 2, "sim": 0.9}), Bank("b", thresholds={"ham": 9})]
    assert loosest_threshold(Ham(), banks, {}) == 9
    assert loosest_threshold(Sim(), banks, {}) == 0.7
    assert loosest_threshold(Sim(), banks[:1], {}) == 0.9
    assert loosest_threshold(Ham(), [], {}) == 4


def test_better_is_strict_and_ties_keep_the_first_variant() -> None:
    assert better(Ham(), 1, 2) and not better(Ham(), 2, 2) and not better(Ham(), 3, 2)
    assert better(Sim(), 0.9, 0.8) and not better(Sim(), 0.8, 0.8)
    best = best_per_value(Ham(), [(1, 3, None), (1, 3, "rot90"), (1, 2, "flipx"), (2, 5, "x")])
    assert best == {1: ValueHit(2, "flipx"), 2: ValueHit(5, "x")}
    tie = best_per_value(Ham(), [(1, 3, None), (1, 3, "rot90")])
    assert tie == {1: ValueHit(3, None)}


def _live(value_id: int, entry_id: int, bank: str) -> LiveEntry:
    return LiveEntry(value_id, entry_id, bank, f"x{entry_id}", ())


def test_merge_applies_each_banks_threshold_inclusively() -> None:
    hits = {"ham": {1: ValueHit(4, None), 2: ValueHit(5, "rot90")}}
    banks = {"a": Bank("a"), "b": Bank("b", thresholds={"ham": 5})}
    live = [_live(1, 10, "a"), _live(2, 11, "a"), _live(2, 12, "b")]
    matches = merge_matches(hits, live, REG, banks, {})  # type: ignore[arg-type]
    assert [(m.bank, m.entry_id) for m in matches] == [("a", 10), ("b", 12)]
    assert matches[1].signals[0].variant == "rot90"
    # The request overrides both banks.
    matches = merge_matches(hits, live, REG, banks, {"ham": 3})  # type: ignore[arg-type]
    assert matches == []


def test_merge_skips_disabled_and_unwanted_banks_and_unknown_ones() -> None:
    hits = {"ham": {1: ValueHit(0, None)}}
    banks = {"on": Bank("on"), "off": Bank("off", enabled=False), "other": Bank("other")}
    live = [_live(1, 1, "on"), _live(1, 2, "off"), _live(1, 3, "other"), _live(1, 4, "gone")]
    got = merge_matches(hits, live, REG, banks, {})  # type: ignore[arg-type]
    assert [m.entry_id for m in got] == [1, 3]
    got = merge_matches(hits, live, REG, banks, {}, wanted_banks={"on"})  # type: ignore[arg-type]
    assert [m.entry_id for m in got] == [1]
    got = merge_matches(hits, live, REG, banks, {}, wanted_banks=set())  # type: ignore[arg-type]
    assert got == []


def test_merge_keeps_the_best_value_per_family_and_sorts() -> None:
    hits = {
        "ham": {1: ValueHit(3, None), 2: ValueHit(1, "rot90"), 3: ValueHit(2, None)},
        "sim": {4: ValueHit(0.8, None), 5: ValueHit(0.95, None)},
    }
    banks = {"a": Bank("a"), "b": Bank("b")}
    live = [
        _live(1, 7, "b"),
        _live(2, 7, "b"),
        _live(3, 7, "b"),
        _live(5, 7, "b"),
        _live(4, 7, "b"),
        _live(4, 9, "a"),
    ]
    got = merge_matches(hits, live, REG, banks, {})  # type: ignore[arg-type]
    assert [(m.bank, m.entry_id) for m in got] == [("a", 9), ("b", 7)]
    assert [(s.type, s.distance, s.variant) for s in got[1].signals] == [
        ("ham", 1, "rot90"),
        ("sim", 0.95, None),
    ]


def test_real_registry_families_keep_their_metrics(registry: SignalRegistry) -> None:
    assert registry.get("pdq").metric is Metric.HAMMING
    assert registry.get("md5").metric is Metric.EXACT


def test_stricter_and_loosening_only_where_allowed() -> None:
    ham, sim = Ham(), Sim()
    assert stricter(ham, 3, 5) == 3 and stricter(ham, 5, 3) == 3
    assert stricter(sim, 0.8, 0.9) == 0.9 and stricter(sim, 0.9, 0.8) == 0.9
    bank = Bank("b", thresholds={"ham": 7, "sim": 0.8})
    assert threshold_for(ham, bank, {"ham": 20}, ["b"]) == 20  # may loosen here
    assert threshold_for(ham, bank, {"ham": 20}, ["other"]) == 7  # may only tighten
    assert threshold_for(ham, bank, {"ham": 2}, []) == 2
    assert threshold_for(sim, bank, {"sim": 0.5}, []) == 0.8
    assert threshold_for(sim, bank, {"sim": 0.95}, []) == 0.95
    assert threshold_for(sim, bank, {"sim": 0.5}, None) == 0.5
    assert loosest_threshold(ham, [bank, Bank("c")], {"ham": 20}, ["c"]) == 20
    assert loosest_threshold(ham, [bank, Bank("c")], {"ham": 20}, []) == 7


def test_merge_never_loosens_a_bank_outside_loosen_banks() -> None:
    hits = {"ham": {1: ValueHit(6, None)}}
    banks = {"a": Bank("a"), "b": Bank("b")}
    live = [_live(1, 1, "a"), _live(1, 2, "b")]
    got = merge_matches(hits, live, REG, banks, {"ham": 9}, loosen_banks=["b"])  # type: ignore[arg-type]
    assert [m.bank for m in got] == ["b"]


def test_weak_family_needs_a_second_opinion_beyond_its_solo_threshold() -> None:
    weak = Weak()
    assert stands_alone(weak, 3, 6) and not stands_alone(weak, 4, 6)
    assert not stands_alone(weak, 3, 2)  # the threshold in force is stricter still
    assert stands_alone(Ham(), 4, 4)
    banks = {"a": Bank("a")}
    loose = {"weak": {1: ValueHit(5, None)}}
    assert merge_matches(loose, [_live(1, 1, "a")], REG, banks, {}) == []  # type: ignore[arg-type]
    close = {"weak": {1: ValueHit(3, None)}}
    assert len(merge_matches(close, [_live(1, 1, "a")], REG, banks, {})) == 1  # type: ignore[arg-type]
    both = {"weak": {1: ValueHit(5, None)}, "ham": {2: ValueHit(4, None)}}
    got = merge_matches(both, [_live(1, 1, "a"), _live(2, 1, "a")], REG, banks, {})  # type: ignore[arg-type]
    assert [[s.type for s in m.signals] for m in got] == [["ham", "weak"]]


def test_signals_are_usable_unless_a_cutoff_says_otherwise(registry: SignalRegistry) -> None:
    pdq = registry.get("pdq")
    from_text = pdq.signal_from_text("f" * 64)
    assert from_text.usable and from_text.quality is None and from_text.variant is None
    assert Signal("md5", b"\x00" * 16).usable


def test_two_loose_hits_of_weak_families_are_a_second_opinion() -> None:
    banks = {"a": Bank("a")}
    live = [_live(1, 1, "a"), _live(2, 1, "a")]
    two = {"weak": {1: ValueHit(5, None)}, "weak2": {2: ValueHit(6, None)}}
    [match] = merge_matches(two, live, REG, banks, {})  # type: ignore[arg-type]
    assert [s.type for s in match.signals] == ["weak", "weak2"]
    one = {"weak": {1: ValueHit(5, None)}, "weak2": {2: ValueHit(7, None)}}  # 7: past threshold
    assert merge_matches(one, live, REG, banks, {}) == []  # type: ignore[arg-type]
