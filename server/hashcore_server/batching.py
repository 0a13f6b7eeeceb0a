"""Many lookups at once: one index search per family for a whole ``LookupBatch`` message.

``Engine.lookup_signals`` answers one query; called once per query it pays the per-call costs
(bank list, change-log check, index probe setup, numpy dispatch) every time, which caps a batch
at a couple of thousand lookups per second on a 1M-hash bank. Here every query of a message is
searched in one ``index.search`` call per family and the hits are split back per query, which is
what the multi-index-hashing index is built for.

This mirrors ``Engine.lookup_signals`` step by step using the engine's own helpers
(``hashcore.matching``) and a few of its internals; when the engine grows a public
``lookup_many`` with the same signature it is used instead (see :func:`lookup_many`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from hashcore.engine import Engine
from hashcore.errors import NotFound
from hashcore.matching import (
    ValueHit,
    best_per_value,
    check_thresholds,
    loosest_threshold,
    merge_matches,
)
from hashcore.model import LookupResult
from hashcore.signals import Signal


def bank_names(engine: Engine) -> list[str]:
    """Every bank's name, cheaply: ``Engine.list_banks`` also counts every bank's entries and
    signals (seconds on a 1M-entry bank), far too slow for each lookup or metrics scrape."""
    names = getattr(engine, "bank_names", None)
    if callable(names):
        result: list[str] = names()
        return result
    return [bank.name for bank in engine.store.list_banks()]


def lookup_many(
    engine: Engine,
    queries: Sequence[Sequence[Signal]],
    *,
    thresholds: Mapping[str, float] | None = None,
    banks: Collection[str] | None = None,
) -> list[LookupResult]:
    """One :class:`LookupResult` per query, equal to ``engine.lookup_signals`` on each."""
    native = getattr(engine, "lookup_many", None)
    if callable(native):
        results: list[LookupResult] = native(queries, thresholds=thresholds, banks=banks)
        return results
    return _lookup_many(engine, queries, thresholds, banks)


def _lookup_many(
    engine: Any,
    queries: Sequence[Sequence[Signal]],
    thresholds: Mapping[str, float] | None,
    banks: Collection[str] | None,
) -> list[LookupResult]:
    registry = engine.registry
    request = check_thresholds(registry, thresholds)
    all_banks = {bank.name: bank for bank in engine.store.list_banks()}
    wanted = None if banks is None else set(banks)
    unknown = sorted((wanted or set()) - all_banks.keys())
    if unknown:
        raise NotFound(f"no bank named {', '.join(map(repr, unknown))}", field="banks")
    candidates = [
        bank
        for bank in all_banks.values()
        if bank.enabled and (wanted is None or bank.name in wanted)
    ]
    results = [LookupResult() for _ in queries]
    grouped: list[dict[str, list[Signal]]] = [
        engine._queries(signals, result) for signals, result in zip(queries, results, strict=True)
    ]
    if not candidates or not any(grouped):
        return results
    engine._catch_up()
    hits_per_query: list[dict[str, dict[int, ValueHit]]] = [{} for _ in queries]
    with engine._lock.read():
        for family in sorted({family for group in grouped for family in group}):
            signal_type = registry.get(family)
            threshold = loosest_threshold(signal_type, candidates, request)
            owners: list[int] = []
            signals: list[Signal] = []
            for number, group in enumerate(grouped):
                for signal in group.get(family, ()):
                    owners.append(number)
                    signals.append(signal)
            found = engine._states[family].index.search([s.value for s in signals], threshold)
            triples: dict[int, list[tuple[int, float, str | None]]] = defaultdict(list)
            for number, signal, hits in zip(owners, signals, found, strict=True):
                triples[number].extend((hit.value_id, hit.distance, signal.variant) for hit in hits)
            for number, items in triples.items():
                hits_per_query[number][family] = best_per_value(signal_type, items)
    value_ids = {value_id for hits in hits_per_query for per in hits.values() for value_id in per}
    live_by_value = defaultdict(list)
    for item in engine.store.live_entries(sorted(value_ids)) if value_ids else []:
        live_by_value[item.value_id].append(item)
    for number, hits in enumerate(hits_per_query):
        if hits:
            live = [item for per in hits.values() for v in per for item in live_by_value.get(v, ())]
            results[number].matches = merge_matches(
                hits, live, registry, all_banks, request, wanted
            )
    return results
