"""The local exception list: a false positive stops its entry matching that content, here.

An analyst's ``false_positive`` opinion on a match records the content's hashes; from then on
the entry no longer matches that content, and nothing else changes: the entry stays active and
keeps matching other content, other entries keep matching this content, the partner's data is
untouched. Applied where a lookup's matches are final (:meth:`hashcore.engine.Engine.lookup_many`),
so the CLI and every gRPC lookup see the same answer.

"That content" is the excepted hashes *and their close neighbours*, like PhotoDNA's exception
lists: a false positive comes back re-encoded, resized or screenshotted, and an exact-hash
exception would let every such copy through again (a 40% JPEG, a half-size copy and a 4-pixel
crop of the test pictures move PDQ by 0-12 bits and pHash by 0-2). A family's hit on the entry
is excepted when the query is within the family's exception radius of an excepted hash, *and*
at least as close to it as to the entry: a genuine copy of the banked item, closer to the entry
than to the false positive, still matches. Radii: half the family's default threshold for
Hamming families (PDQ 15 of 31, pHash 4 of 8), exact equality for the others (MD5; the
similarity families, whose scores are not distances between two stored values). A match is
dropped when every hit it has in a family the false positive recorded is excepted; a family the
exception knows nothing about never keeps it alive nor drops it on its own.

Cheap without exceptions: one indexed probe of ``match_exceptions`` per lookup batch that
matched something, for the matched entries only (``bench/opinions_exceptions.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from hashcore.model import Match, SetAside
from hashcore.opinions.book import exceptions_for
from hashcore.registry import SignalRegistry
from hashcore.signals import Metric, Signal, SignalType, hamming_distance
from hashcore.store import Store


def radius(signal_type: SignalType) -> float:
    """How far from an excepted hash a query still counts as the excepted content."""
    if signal_type.metric is Metric.HAMMING:
        return float(int(signal_type.default_threshold) // 2)
    return 0.0


def distance(signal_type: SignalType, a: bytes, b: bytes) -> float | None:
    """The distance the exception rule uses: Hamming bits, else 0 for equal values and
    ``None`` (never within reach) for different ones."""
    if signal_type.metric is Metric.HAMMING and len(a) == len(b):
        return float(hamming_distance(a, b))
    return 0.0 if a == b else None


def drop_excepted(
    store: Store,
    registry: SignalRegistry,
    queries: Sequence[Mapping[str, Sequence[Signal]]],
    matched: list[list[Match]],
) -> tuple[list[list[Match]], list[list[SetAside]]]:
    """``matched`` (per lookup, its matches) without the excepted ones, and per lookup the
    ones dropped; ``queries[n]`` holds lookup ``n``'s signals by family, variants included."""
    none: list[list[SetAside]] = [[] for _ in matched]
    entry_ids = sorted({match.entry_id for matches in matched for match in matches})
    if not entry_ids:
        return matched, none
    excepted = exceptions_for(store, entry_ids)
    if not excepted:
        return matched, none
    by_family: dict[int, dict[str, list[bytes]]] = {}
    for entry_id, hashes in excepted.items():
        families: dict[str, list[bytes]] = defaultdict(list)
        for signal in hashes:
            families[signal.type].append(signal.value)
        by_family[entry_id] = dict(families)
    kept: list[list[Match]] = []
    set_aside: list[list[SetAside]] = []
    for matches, query in zip(matched, queries, strict=True):
        kept.append([])
        set_aside.append([])
        for match in matches:
            exceptions = by_family.get(match.entry_id)
            if exceptions is not None and is_excepted(registry, match, query, exceptions):
                set_aside[-1].append(SetAside(match.bank, match.entry_id, match.external_id))
            else:
                kept[-1].append(match)
    return kept, set_aside


def is_excepted(
    registry: SignalRegistry,
    match: Match,
    query: Mapping[str, Sequence[Signal]],
    exceptions: Mapping[str, Sequence[bytes]],
) -> bool:
    """Whether the exceptions of ``match``'s entry cover this query (the rule above)."""
    relevant = [hit for hit in match.signals if hit.type in exceptions]
    if not relevant:
        return False
    for hit in relevant:
        signal_type = registry.get(hit.type)
        reach = radius(signal_type)
        closest: float | None = None
        for signal in query.get(hit.type, ()):
            for value in exceptions[hit.type]:
                d = distance(signal_type, signal.value, value)
                if d is not None and (closest is None or d < closest):
                    closest = d
        if closest is None or closest > reach:
            return False
        if signal_type.metric is not Metric.SIMILARITY and closest > hit.distance:
            return False  # nearer the banked item than the false positive: a real copy
    return True
