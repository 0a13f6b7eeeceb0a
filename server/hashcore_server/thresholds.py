"""Who may move a lookup's thresholds, and how far.

A threshold is part of a bank's sharing terms: the partner who shares a bank decides how close a
query must come before an entry is disclosed. A lookup-only caller may therefore only *tighten*
it (the engine clamps its request to each bank's own threshold); otherwise one LookupBatch at a
PDQ threshold of 256 lists every entry with its distance, and 257 queries recover any stored
hash, which the admin-only ``GetEntry`` rule is there to prevent. An admin of a bank may loosen
its threshold to investigate near misses, but only up to the server's configured bound, so a
stolen admin token still cannot dump hashes wholesale through the lookup path.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from hashcore.errors import InvalidInput
from hashcore.registry import SignalRegistry
from hashcore.signals import Metric
from hashcore_server.auth import ADMIN, Principal


def loosen_banks(principal: Principal, banks: Collection[str]) -> list[str]:
    """The banks of ``banks`` whose thresholds this caller may loosen: those it administers."""
    return [bank for bank in banks if principal.can(bank, ADMIN)]


def check_admin_bounds(
    thresholds: Mapping[str, float], bounds: Mapping[str, float], registry: SignalRegistry
) -> None:
    """Refuse a request that loosens a family past the server's bound for admins.

    Raised as an error rather than clamped: an admin set the number on purpose and should learn
    that the server will not honour it. A family without a configured bound has its default.
    """
    for family, value in thresholds.items():
        signal_type = registry.get(family)
        if signal_type.metric is Metric.EXACT:
            continue
        bound = float(bounds.get(family, signal_type.default_threshold))
        too_loose = value < bound if signal_type.metric is Metric.SIMILARITY else value > bound
        if too_loose:
            side = "below" if signal_type.metric is Metric.SIMILARITY else "above"
            raise InvalidInput(
                f"threshold {value:g} for {family} is {side} this server's bound of {bound:g} "
                "(admin_threshold_bounds in the server config)",
                field=f"thresholds[{family}]",
            )
