"""The matching rules: thresholds in force, the solo rule, a match's confidence.

Each family's index is searched once at the loosest threshold any candidate bank allows; the
per-bank threshold is applied when hits are attributed to entries (:mod:`hashcore.hits`, which
merges the hits of a whole batch as arrays with these rules). An entry reports, per family, its
best distance or score and which query variant (a PDQ rotation or flip) produced it.

A bank's threshold is its own override, else the family default. A request's threshold replaces
it only in the banks the caller may *loosen* (``loosen_banks``: the store's owner, or a server
admin of that bank); everywhere else a request can only make the bank's threshold stricter. A
caller who could loosen a bank it may only search would turn lookups into reads: with the PDQ
threshold at 256 every entry comes back with its distance, and 257 such queries recover any
stored hash (see docs/server.md).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

from hashcore.errors import InvalidInput
from hashcore.model import PRIORITIES, Bank, SignalHit
from hashcore.registry import SignalRegistry
from hashcore.signals import BitSignalType, Metric, SignalType
from hashcore.store.rows import clean_thresholds


def check_thresholds(
    registry: SignalRegistry, thresholds: Mapping[str, float] | None
) -> dict[str, float]:
    """Validated threshold overrides: known families, sensible numbers."""
    for family in thresholds or {}:
        registry.get(family)  # NotFound names an unknown family first
    checked = clean_thresholds(thresholds)
    for family, value in checked.items():
        signal_type = registry.get(family)
        if signal_type.metric is Metric.HAMMING and value < 0:
            raise InvalidInput(f"threshold for {family!r} must be >= 0", field="thresholds")
        if signal_type.metric is Metric.EXACT and value != 0:  # md5=5 read as a loosening
            raise InvalidInput(
                f"{family!r} matches exactly: its threshold can only be 0, got {value:g}",
                field="thresholds",
            )
        bits = signal_type.bits if isinstance(signal_type, BitSignalType) else None
        if bits is not None and value > bits:  # past every distance: a typo, never a policy
            raise InvalidInput(
                f"threshold for {family!r} must be 0 to {bits} (its hashes' bits), got {value:g}",
                field="thresholds",
            )
    return checked


def bank_threshold(signal_type: SignalType, bank: Bank) -> float:
    """The bank's own threshold for a family: its override, else the family default."""
    if signal_type.name in bank.thresholds:
        return float(bank.thresholds[signal_type.name])
    return float(signal_type.default_threshold)


def stricter(signal_type: SignalType, a: float, b: float) -> float:
    """The stricter of two thresholds: the smaller distance, or the larger score."""
    return max(a, b) if signal_type.metric is Metric.SIMILARITY else min(a, b)


def threshold_for(
    signal_type: SignalType,
    bank: Bank,
    request: Mapping[str, float],
    loosen_banks: Collection[str] | None = None,
) -> float:
    """The threshold in force for one bank.

    ``loosen_banks`` names the banks where the request's threshold replaces the bank's (``None``:
    every bank, as for the owner of a local store); in the others the request can only tighten.
    """
    own = bank_threshold(signal_type, bank)
    wanted = request.get(signal_type.name)
    if wanted is None:
        return own
    if loosen_banks is None or bank.name in loosen_banks:
        return float(wanted)
    return stricter(signal_type, float(wanted), own)


def loosest_threshold(
    signal_type: SignalType,
    banks: Iterable[Bank],
    request: Mapping[str, float],
    loosen_banks: Collection[str] | None = None,
) -> float:
    """The threshold to search the index with so that no bank misses a hit it wants."""
    limits = [threshold_for(signal_type, bank, request, loosen_banks) for bank in banks]
    if not limits:
        return float(signal_type.default_threshold)
    return min(limits) if signal_type.metric is Metric.SIMILARITY else max(limits)


def better(signal_type: SignalType, a: float, b: float) -> bool:
    """Whether result ``a`` is a strictly closer match than ``b``."""
    return a > b if signal_type.metric is Metric.SIMILARITY else a < b


def priority_rank(bank: Bank) -> int:
    """Where a bank's matches go in a lookup's answer: priority 1 first, unset last."""
    return bank.priority if bank.priority is not None else PRIORITIES[-1] + 1


def stands_alone(signal_type: SignalType, score: float, limit: float) -> bool:
    """Whether a hit within ``limit`` is close enough to match without another family."""
    solo = signal_type.solo_threshold
    if solo is None:
        return True
    return signal_type.is_match(score, stricter(signal_type, float(solo), limit))


MAX_CONFIDENCE_DIGITS = 300.0
"""Where a float's probability runs out; an exact MD5 plus PDQ and pHash is about 134."""


def confidence(registry: SignalRegistry, hits: Iterable[SignalHit]) -> float | None:
    """``-log10`` of the chance that an unrelated item matches this closely in every family.

    Families are taken as independent, so their chances multiply (their digits add). A family
    that cannot say (``accidental_probability`` is None) and a weak hit add nothing.
    """
    digits: float | None = None
    for hit in hits:
        if hit.weak:
            continue  # a featureless hash's bits are not independent: it cannot vouch
        chance = registry.get(hit.type).accidental_probability(hit.distance)
        if chance is None:
            continue
        digits = (digits or 0.0) + (-math.log10(chance) if chance > 0 else MAX_CONFIDENCE_DIGITS)
    return None if digits is None else round(min(digits, MAX_CONFIDENCE_DIGITS), 2)
