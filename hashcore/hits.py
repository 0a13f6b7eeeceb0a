"""Hits as arrays from the index to the merge, for a whole batch of lookups at once.

Each family's index answers a batch as arrays (:class:`~hashcore.index.base.RangeHits`);
:func:`search_family` keeps, per lookup, the best hit of each value id over the query's variants,
still as arrays; :func:`match_hits` joins those rows with the live entries that carry the values,
applies every bank's threshold and the solo rule, and builds objects only for the matches. A
many-hit lookup (a bank of near-duplicates: ~80 hits a query) used to build an object per hit
three times over on the way, which cost more than the search.

The rules are those of :mod:`hashcore.matching`, applied to arrays: a value's best hit is its
closest over the variants, ties going to the variant searched first; an entry's hit per family
is its closest value, ties going to the file as banked (``stored_variant`` None), then to the
first seen; an entry matches when one family stands alone or two or more recognise it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from hashcore.index.base import RangeHits, SignalIndex
from hashcore.index.ids import distinct
from hashcore.matching import confidence, priority_rank, stands_alone, threshold_for
from hashcore.model import Bank, Match, SignalHit
from hashcore.registry import SignalRegistry
from hashcore.signals import Metric, Signal, SignalType
from hashcore.store import LiveEntry

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
LiveFetch = Callable[[list[int]], Iterable[LiveEntry]]


@dataclass(frozen=True, slots=True)
class FamilyHits:
    """One family's best hit per (lookup, value id), as parallel arrays in first-seen order.

    Row ``i``: lookup ``query[i]`` came within reach of ``value_id[i]`` at ``distance[i]``
    (a score for SIMILARITY families), best through the query signal ``signal[i]``, whose
    variant is ``variants[signal[i]]`` and which is weak (``SignalType.is_weak``: it only
    seconds other families) when ``weak[signal[i]]``.
    """

    signal_type: SignalType
    query: I64
    value_id: I64
    distance: F64
    signal: I64
    variants: Sequence[str | None]
    weak: Sequence[bool] = ()
    details: Sequence[Mapping[str, float] | None] = ()
    """Per row, the family's :meth:`SignalType.describe_hits` figures (empty: none)."""


def _similar(signal_type: SignalType) -> bool:
    return signal_type.metric is Metric.SIMILARITY


def _starts(*keys: npt.NDArray[np.generic]) -> Bool:
    """Where a run of equal keys begins, in arrays sorted by those keys."""
    n = keys[0].shape[0]
    start = np.ones(n, np.bool_)
    if n:
        start[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return start


def best_rows(signal_type: SignalType, query: I64, value_id: I64, distance: F64) -> I64:
    """Per (query, value id), the row of its best distance (ties: the earliest row), ordered
    by query, then by where the value id first appears (the order hits were found in)."""
    n = query.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    key = -distance if _similar(signal_type) else distance
    seen = np.arange(n, dtype=np.int64)
    order = np.lexsort((seen, key, value_id, query))
    start = _starts(query[order], value_id[order])
    begins = np.flatnonzero(start)
    best = order[begins]
    first_seen = np.minimum.reduceat(order, begins)
    rows: I64 = best[np.lexsort((first_seen, query[best]))]
    return rows


def search_family(
    index: SignalIndex,
    signal_type: SignalType,
    grouped: Sequence[Mapping[str, Sequence[Signal]]],
    threshold: float,
    banks: Collection[str] | None = None,
) -> FamilyHits:
    """Search every lookup's signals of one family in one call; keep each lookup's best hit
    per value id. ``grouped[n]`` holds lookup ``n``'s signals by family; ``banks`` are the
    banks the lookups may match (``None``: all), for an index that can filter by them."""
    family = signal_type.name
    signals = [s for group in grouped for s in group.get(family, ())]
    owners = np.fromiter(
        (n for n, group in enumerate(grouped) for _ in group.get(family, ())),
        np.int64,
        len(signals),
    )
    found = index.range_search_in([s.value for s in signals], threshold, banks)
    weak = [signal_type.is_weak(s.quality) for s in signals]
    hits = best_hits(signal_type, owners, [s.variant for s in signals], found, weak)
    return described(hits, index, [s.value for s in signals])


def described(hits: FamilyHits, index: SignalIndex, values: Sequence[bytes]) -> FamilyHits:
    """``hits`` with the family's per-row figures (``SignalType.describe_hits``), asked once
    per query signal for the value ids it found; unchanged for a family without any."""
    rows_of: dict[int, list[int]] = {}
    for row, signal in enumerate(hits.signal.tolist()):
        rows_of.setdefault(signal, []).append(row)
    details: list[Mapping[str, float] | None] = [None] * hits.signal.shape[0]
    for signal, rows in rows_of.items():
        ids = hits.value_id[rows].tolist()
        figures = hits.signal_type.describe_hits(index, values[signal], ids)
        if figures is None:
            return hits
        for row, figure in zip(rows, figures, strict=True):
            details[row] = figure
    return replace(hits, details=details)


def best_hits(
    signal_type: SignalType,
    owners: I64,
    variants: Sequence[str | None],
    found: RangeHits,
    weak: Sequence[bool] = (),
) -> FamilyHits:
    """:class:`FamilyHits` of a search whose query ``i`` belongs to lookup ``owners[i]``."""
    signal = np.repeat(np.arange(len(variants), dtype=np.int64), np.diff(found.lims))
    query = owners[signal]
    rows = best_rows(signal_type, query, found.value_ids, found.distances)
    return FamilyHits(
        signal_type,
        query[rows],
        found.value_ids[rows],
        found.distances[rows],
        signal[rows],
        variants,
        weak,
    )


@dataclass(frozen=True, slots=True)
class _Table:
    """Every family's rows stacked; families are numbered in name order."""

    families: list[FamilyHits]
    query: I64
    value_id: I64
    distance: F64
    family: I64
    variant: I64  # index into variants
    variants: list[str | None]  # every family's searched signals' variants, one after another
    weak: Bool  # per searched signal, as variants: it only seconds other families
    details: list[Mapping[str, float] | None]  # per row, as the families' ``details``

    @classmethod
    def of(cls, hits: Sequence[FamilyHits]) -> _Table:
        families = sorted(hits, key=lambda h: h.signal_type.name)

        sizes = [h.query.shape[0] for h in families]
        offsets = np.cumsum([0, *(len(h.variants) for h in families)]).tolist()
        signals = [h.signal + o for h, o in zip(families, offsets, strict=False)]
        return cls(
            families,
            _stack([h.query for h in families]),
            _stack([h.value_id for h in families]),
            np.concatenate([np.zeros(0), *(h.distance for h in families)]),
            np.repeat(np.arange(len(families), dtype=np.int64), sizes),
            _stack(signals),
            [v for h in families for v in h.variants],
            np.array(
                [w for h in families for w in (h.weak or [False] * len(h.variants))], np.bool_
            ).reshape(-1),
            [d for h, n in zip(families, sizes, strict=True) for d in (h.details or [None] * n)],
        )


def _stack(parts: list[I64]) -> I64:
    return np.concatenate([np.zeros(0, np.int64), *parts]).astype(np.int64)


def match_hits(
    hits: Sequence[FamilyHits],
    live_entries: LiveFetch,
    registry: SignalRegistry,
    banks: Mapping[str, Bank],
    request: Mapping[str, float],
    queries: int,
    wanted_banks: Collection[str] | None = None,
    loosen_banks: Collection[str] | None = None,
) -> list[list[Match]]:
    """Per lookup, its :class:`Match` list (by bank priority, bank name, then entry id), from
    every family's hits.

    ``live_entries`` fetches who carries a list of value ids (the store's ``live_entries``);
    it is called once, for the batch.
    """
    table = _Table.of(hits)
    value_ids = distinct(table.value_id).tolist()
    live = list(live_entries(value_ids)) if value_ids else []
    # Each row meets the live entries of its value, in the store's order: stable sort by value.
    live_value = np.fromiter((e.value_id for e in live), np.int64, len(live))
    by_value = np.argsort(live_value, kind="stable")
    lo = np.searchsorted(live_value[by_value], table.value_id, "left")
    hi = np.searchsorted(live_value[by_value], table.value_id, "right")
    counts = hi - lo
    hit = np.repeat(np.arange(table.query.shape[0], dtype=np.int64), counts)
    first = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    item = by_value[first + np.arange(hit.shape[0], dtype=np.int64)]
    # Rows are in (family, lookup, first seen) order, so candidates are too.
    return merge_rows(
        table, hit, item, live, registry, banks, request, queries, wanted_banks, loosen_banks
    )


def merge_rows(
    table: _Table,
    hit: I64,
    item: I64,
    live: Sequence[LiveEntry],
    registry: SignalRegistry,
    banks: Mapping[str, Bank],
    request: Mapping[str, float],
    queries: int,
    wanted_banks: Collection[str] | None,
    loosen_banks: Collection[str] | None,
) -> list[list[Match]]:
    """The merge proper: candidate ``k`` pairs table row ``hit[k]`` with ``live[item[k]]``;
    candidates come in the order they are seen, which breaks the last ties."""
    types = [h.signal_type for h in table.families]
    bank = _bank_codes(live, banks, wanted_banks)
    keep = bank.usable[bank.code[item]]
    hit, item, seen = hit[keep], item[keep], np.flatnonzero(keep)
    family, distance = table.family[hit], table.distance[hit]
    limits = bank.limits(types, request, loosen_banks)
    pair = family * limits.shape[1] + bank.code[item]
    matched, alone = _verdicts(types, limits, pair, distance)
    hit, item, seen = hit[matched], item[matched], seen[matched]
    family, distance, alone = family[matched], distance[matched], alone[matched]
    weak = table.weak[table.variant[hit]] | _banked_weak(types, live, family, item)
    near = ~weak | _within_weak_threshold(types, family, distance)
    hit, item, seen, weak = hit[near], item[near], seen[near], weak[near]
    family, distance, alone = family[near], distance[near], alone[near] & ~weak
    query = table.query[hit]
    entry = np.fromiter((e.entry_id for e in live), np.int64, len(live))[item]
    derived = np.fromiter((e.variant is not None for e in live), np.bool_, len(live))[item]
    similar = np.array([_similar(t) for t in types], np.bool_).reshape(-1)
    key = np.where(similar[family], -distance, distance)
    # Per (lookup, entry, family) the first row wins: strong before weak, closest, then banked
    # as is, then first seen. Banks sort by name (their codes), so entries come out in the
    # order a result lists.
    order = np.lexsort((seen, derived, key, weak, family, entry, bank.code[item], query))
    begins = np.flatnonzero(_starts(query[order], entry[order]))
    winner = _starts(query[order], entry[order], family[order])
    if not begins.size:
        return [[] for _ in range(queries)]
    counts = np.add.reduceat(winner.astype(np.int64), begins).tolist()
    solo = np.logical_or.reduceat(alone[order], begins).tolist()
    rows = order[winner]
    signals, kind = _signal_hits(
        table, types, live, family[rows], distance[rows], hit[rows], item[rows], weak[rows]
    )
    ends = np.cumsum(counts).tolist()
    firsts = item[order[begins]].tolist()
    lookups = query[order[begins]].tolist()
    results: list[list[Match]] = [[] for _ in range(queries)]
    confidences: dict[tuple[int, ...], float | None] = {}
    start = 0
    for end, count, alone_one, first, lookup in zip(
        ends, counts, solo, firsts, lookups, strict=True
    ):
        if not alone_one and count < 2:
            start = end
            continue
        hits, digest, start = tuple(signals[start:end]), tuple(kind[start:end]), end
        if digest not in confidences:
            confidences[digest] = confidence(registry, hits)
        carrier = live[first]
        results[lookup].append(
            Match(
                bank=carrier.bank,
                entry_id=carrier.entry_id,
                external_id=carrier.external_id,
                labels=carrier.labels,
                signals=hits,
                confidence=confidences[digest],
            )
        )
    if any(bank.priority is not None for bank in banks.values()):
        for matches in results:  # stable: within a priority, by bank name and entry id still
            if len(matches) > 1:
                matches.sort(key=lambda match: priority_rank(banks[match.bank]))
    return results


def _signal_hits(
    table: _Table,
    types: Sequence[SignalType],
    live: Sequence[LiveEntry],
    family: I64,
    distance: F64,
    hit: I64,
    item: I64,
    weak: Bool,
) -> tuple[list[SignalHit], list[int]]:
    """The :class:`SignalHit` of each winning candidate, and a number per (family, distance,
    weak).

    Hits are immutable and few are distinct (a family, a distance, two variants), so each
    distinct one is made once and shared. A match's confidence depends only on its (family,
    distance) pairs: the numbers let the caller compute it once per distinct combination.
    """
    variant_code = {v: c for c, v in enumerate(dict.fromkeys([*table.variants, None]))}
    asked = np.array([variant_code[v] for v in table.variants], np.int64).reshape(-1)
    banked = np.fromiter((variant_code.setdefault(e.variant, len(variant_code)) for e in live),
                         np.int64, len(live))  # fmt: skip
    names = list(variant_code)
    _, kind = np.unique(family * 2 + weak + 1j * distance, return_inverse=True)
    kind = kind.reshape(-1)
    width = len(names)
    code = (kind * width + asked[table.variant[hit]]) * width + banked[item]
    distinct, which = np.unique(code, return_inverse=True)
    made = []
    one = _firsts(which, distinct.shape[0])
    for c, f, d, w in zip(
        distinct.tolist(),
        family[one].tolist(),
        distance[one].tolist(),
        weak[one].tolist(),
        strict=True,
    ):
        rest, b = divmod(c, width)
        made.append(SignalHit(types[f].name, d, names[rest % width], names[b], weak=w))
    signal_hits = [made[w] for w in which.reshape(-1).tolist()]
    if any(d is not None for d in table.details):
        for number, row in enumerate(hit.tolist()):
            if table.details[row] is not None:
                signal_hits[number] = replace(signal_hits[number], detail=table.details[row])
    return signal_hits, kind.tolist()


def _banked_weak(
    types: Sequence[SignalType], live: Sequence[LiveEntry], family: I64, item: I64
) -> Bool:
    """Per candidate: whether the banked value it hit is weak in its family (by its quality)."""
    if all(t.solo_min_quality is None for t in types):
        return np.zeros(family.shape[0], np.bool_)  # no quality rule: skip the per-entry pass
    quality = np.fromiter(
        (-1 if e.quality is None else e.quality for e in live), np.int64, len(live)
    )
    floors = [t.solo_min_quality for t in types]
    floor = np.array([-1 if f is None else f for f in floors], np.int64).reshape(-1)
    banked = quality[item]
    weak: Bool = (banked >= 0) & (banked < floor[family])
    return weak


def _within_weak_threshold(types: Sequence[SignalType], family: I64, distance: F64) -> Bool:
    """Per candidate: whether its result is within its family's ``weak_threshold`` (every
    result is, for a family without one)."""
    within = np.ones(family.shape[0], np.bool_)
    for number, signal_type in enumerate(types):
        limit = signal_type.weak_threshold
        if limit is None:
            continue
        rows = family == number
        if signal_type.metric is Metric.SIMILARITY:
            within[rows] = distance[rows] >= limit
        else:
            within[rows] = distance[rows] <= limit
    return within


def _firsts(which: I64, n: int) -> I64:
    """For each of ``n`` groups numbered in ``which``, one row of that group."""
    first = np.zeros(n, np.int64)
    first[which.reshape(-1)[::-1]] = np.arange(which.size - 1, -1, -1, dtype=np.int64)
    return first


@dataclass(frozen=True, slots=True)
class _Banks:
    """Banks numbered in name order (one more number for a bank no longer known)."""

    names: list[str]
    code: I64  # per live entry
    usable: Bool  # per bank number: enabled and wanted
    banks: Mapping[str, Bank]

    def limits(
        self,
        types: Sequence[SignalType],
        request: Mapping[str, float],
        loosen_banks: Collection[str] | None,
    ) -> F64:
        """The threshold in force per (family, bank number)."""
        table = [
            [*(threshold_for(t, self.banks[n], request, loosen_banks) for n in self.names), 0.0]
            for t in types
        ]
        return np.array(table, np.float64).reshape(len(types), len(self.names) + 1)


def _bank_codes(
    live: Sequence[LiveEntry], banks: Mapping[str, Bank], wanted: Collection[str] | None
) -> _Banks:
    names = sorted(banks)
    number = {name: b for b, name in enumerate(names)}
    code = np.fromiter((number.get(e.bank, len(names)) for e in live), np.int64, len(live))
    usable = [banks[n].enabled and (wanted is None or n in wanted) for n in names]
    return _Banks(names, code, np.array([*usable, False], np.bool_), banks)


def _verdicts(
    types: Sequence[SignalType], limits: F64, pair: I64, distance: F64
) -> tuple[Bool, Bool]:
    """Per candidate: whether it matches at its bank's limit, and whether it stands alone.

    ``pair`` numbers the candidate's (family, bank): ``limits.flat[pair]`` is its threshold.
    The family's own ``is_match`` decides (a plugin may override it), called once per distinct
    (family, bank, distance): a handful per batch.
    """
    if not pair.size:
        return np.zeros(0, np.bool_), np.zeros(0, np.bool_)
    distances, at = np.unique(distance, return_inverse=True)
    combined, which = np.unique(pair * distances.shape[0] + at.reshape(-1), return_inverse=True)
    verdicts = []
    for code in combined.tolist():
        p, d = divmod(code, distances.shape[0])
        signal_type, value, limit = types[p // limits.shape[1]], distances[d], limits.flat[p]
        value, limit = float(value), float(limit)
        verdicts.append(
            (signal_type.is_match(value, limit), stands_alone(signal_type, value, limit))
        )
    which = which.reshape(-1)
    matched = np.array([m for m, _ in verdicts], np.bool_).reshape(-1)[which]
    alone = np.array([a for _, a in verdicts], np.bool_).reshape(-1)[which]
    return matched, alone & matched


# -- one lookup at a time, from Python objects (callers and tests of the rules) --------------


@dataclass(frozen=True, slots=True)
class ValueHit:
    """The best a stored value did against any variant of the query."""

    distance: float
    variant: str | None


def best_per_value(
    signal_type: SignalType, hits: Iterable[tuple[int, float, str | None]]
) -> dict[int, ValueHit]:
    """Collapse ``(value_id, distance, variant)`` triples to the best per value id.

    Ties keep the first seen, so the untransformed query (searched first) wins them.
    """
    triples = list(hits)
    ids = np.fromiter((t[0] for t in triples), np.int64, len(triples))
    distances = np.fromiter((t[1] for t in triples), np.float64, len(triples))
    rows = best_rows(signal_type, np.zeros(len(triples), np.int64), ids, distances)
    return {triples[r][0]: ValueHit(triples[r][1], triples[r][2]) for r in rows.tolist()}


def merge_matches(
    value_hits: Mapping[str, Mapping[int, ValueHit]],
    live: Sequence[LiveEntry],
    registry: SignalRegistry,
    banks: Mapping[str, Bank],
    request: Mapping[str, float],
    wanted_banks: Collection[str] | None = None,
    loosen_banks: Collection[str] | None = None,
) -> list[Match]:
    """One lookup's :class:`Match` list from its best hit per family and value id, with the
    entries carrying those values in the order they are seen (see :func:`match_hits`)."""
    families = []
    for family, per_value in value_hits.items():
        n = len(per_value)
        families.append(
            FamilyHits(
                registry.get(family),
                np.zeros(n, np.int64),
                np.fromiter(per_value.keys(), np.int64, n),
                np.fromiter((h.distance for h in per_value.values()), np.float64, n),
                np.arange(n, dtype=np.int64),
                [h.variant for h in per_value.values()],
            )
        )
    table = _Table.of(families)
    row_of = {value_id: t for t, value_id in enumerate(table.value_id.tolist())}
    pairs = [(row_of[e.value_id], i) for i, e in enumerate(live) if e.value_id in row_of]
    hit = np.array([t for t, _ in pairs], np.int64).reshape(-1)
    item = np.array([i for _, i in pairs], np.int64).reshape(-1)
    args = (registry, banks, request, 1, wanted_banks, loosen_banks)
    return merge_rows(table, hit, item, live, *args)[0]
