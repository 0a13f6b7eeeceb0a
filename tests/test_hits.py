"""The array merge (``hashcore.hits``) against the one-object-per-hit merge it replaced.

The oracle below is the engine's former lookup loop, written plainly: per lookup, every index
hit becomes a ``(value id, distance, variant)`` triple, the best per value is kept (ties: the
variant searched first), and live entries are walked in (family, value first seen, store) order,
each keeping per family its closest hit (ties: the file as banked, then the first seen). Random
batches with many ties, several banks, thresholds, variants and weak families must give exactly
the same matches, distances, variants and confidences.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from test_guard_thresholds import REG

from hashcore.hits import best_hits, match_hits
from hashcore.index.base import IndexHit, RangeHits
from hashcore.matching import confidence, stands_alone, threshold_for
from hashcore.model import Bank, Match, SignalHit
from hashcore.signals import Metric, SignalType
from hashcore.store import LiveEntry

FAMILIES = ["exact", "ham", "sim", "weak"]
VARIANTS = [None, "rot90", "flipx", "trimmed"]
STORED = [None, None, "trimmed", "centre90"]


def oracle(
    searched: Mapping[str, list[tuple[int, str | None, list[IndexHit]]]],
    live: Sequence[LiveEntry],
    banks: Mapping[str, Bank],
    request: Mapping[str, float],
    queries: int,
    wanted: set[str] | None,
    loosen: set[str] | None,
) -> list[list[Match]]:
    per_query: list[dict[str, dict[int, tuple[float, str | None]]]] = [{} for _ in range(queries)]
    for family in sorted(searched):
        st = REG.get(family)
        better = (lambda a, b: a > b) if st.metric is Metric.SIMILARITY else (lambda a, b: a < b)
        for number, variant, hits in searched[family]:
            best = per_query[number].setdefault(family, {})
            for hit in hits:
                old = best.get(hit.value_id)
                if old is None or better(hit.distance, old[0]):
                    best[hit.value_id] = (hit.distance, variant)
    by_value: dict[int, list[LiveEntry]] = {}
    for item in live:
        by_value.setdefault(item.value_id, []).append(item)
    out: list[list[Match]] = []
    for hits in per_query:
        family_of = {v: f for f, per in hits.items() for v in per}
        entries: dict[int, tuple[LiveEntry, dict[str, SignalHit], set[str]]] = {}
        for family, per in hits.items():
            for value_id in per:
                for item in by_value.get(value_id, []):
                    bank = banks.get(item.bank)
                    if (
                        bank is None
                        or not bank.enabled
                        or (wanted is not None and item.bank not in wanted)
                    ):
                        continue
                    st = REG.get(family_of[value_id])
                    distance, variant = per[value_id]
                    limit = threshold_for(st, bank, request, loosen)
                    if not st.is_match(distance, limit):
                        continue
                    _, fams, alone = entries.setdefault(item.entry_id, (item, {}, set()))
                    if stands_alone(st, distance, limit):
                        alone.add(family)
                    cur = fams.get(family)
                    closer = cur is not None and (
                        distance > cur.distance
                        if st.metric is Metric.SIMILARITY
                        else distance < cur.distance
                    )
                    plain = (
                        cur is not None
                        and distance == cur.distance
                        and item.variant is None
                        and cur.stored_variant is not None
                    )
                    if cur is None or closer or plain:
                        fams[family] = SignalHit(family, distance, variant, item.variant)
        matches = []
        for item, fams, alone in entries.values():
            if not alone and len(fams) < 2:
                continue
            signals = tuple(fams[n] for n in sorted(fams))
            matches.append(
                Match(
                    item.bank,
                    item.entry_id,
                    item.external_id,
                    item.labels,
                    signals,
                    confidence(REG, signals),
                )
            )  # type: ignore[arg-type]
        out.append(sorted(matches, key=lambda m: (m.bank, m.entry_id)))
    return out


def _distance(st: SignalType, rng: random.Random) -> float:
    if st.metric is Metric.EXACT:
        return 0.0
    if st.metric is Metric.SIMILARITY:
        return rng.choice([0.6, 0.7, 0.8, 0.9, 0.95, 1.0])
    return float(rng.randint(0, 8))


@pytest.mark.parametrize("seed", range(60))
def test_array_merge_equals_the_object_merge(seed: int) -> None:
    rng = random.Random(seed)
    queries = rng.randint(1, 6)
    banks = {
        "a": Bank("a"),
        "b": Bank("b", thresholds={"ham": 3, "sim": 0.85, "weak": 5}),
        "c": Bank("c", enabled=rng.random() < 0.7),
    }
    request = rng.choice([{}, {"ham": 6}, {"sim": 0.65, "weak": 2}])
    wanted = rng.choice([None, {"a", "b"}, {"c"}])
    loosen = rng.choice([None, {"a"}, set()])
    families = rng.sample(FAMILIES, rng.randint(1, len(FAMILIES)))
    values = {f: list(range(100 * k, 100 * k + rng.randint(1, 8))) for k, f in enumerate(FAMILIES)}
    searched: dict[str, list[tuple[int, str | None, list[IndexHit]]]] = {}
    found = []
    for family in sorted(families):
        st = REG.get(family)
        rows = []
        for number in range(queries):
            for variant in rng.sample(VARIANTS, rng.randint(0, 3)):
                ids = rng.sample(values[family], rng.randint(0, len(values[family])))
                hits = [IndexHit(v, _distance(st, rng)) for v in ids]
                rows.append((number, variant, hits))
        searched[family] = rows
        owners = np.array([n for n, _, _ in rows], np.int64)
        arrays = RangeHits.from_lists([h for _, _, h in rows])
        found.append(best_hits(st, owners, [v for _, v, _ in rows], arrays))
    live = [
        LiveEntry(
            value_id,
            rng.randint(1, 12),
            rng.choice(["a", "b", "c", "gone"]),
            "x",
            ("l",),
            rng.choice(STORED),
        )
        for family in FAMILIES
        for value_id in values[family]
        for _ in range(rng.randint(0, 3))
    ]
    # An entry lives in one bank.
    bank_of = {e.entry_id: e.bank for e in live}
    live = [
        LiveEntry(
            e.value_id, e.entry_id, bank_of[e.entry_id], f"x{e.entry_id}", e.labels, e.variant
        )
        for e in live
    ]
    rng.shuffle(live)

    def fetch(ids: list[int]) -> list[LiveEntry]:
        assert ids == sorted(set(ids))
        return [e for e in live if e.value_id in set(ids)]

    got = match_hits(found, fetch, REG, banks, request, queries, wanted, loosen)  # type: ignore[arg-type]
    want = oracle(searched, live, banks, request, queries, wanted, loosen)
    assert got == want
    for a, b in zip(got, want, strict=True):
        for m, n in zip(a, b, strict=True):
            assert [(s.distance, s.variant, s.stored_variant) for s in m.signals] == [
                (s.distance, s.variant, s.stored_variant) for s in n.signals
            ]
