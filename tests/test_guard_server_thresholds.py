"""Guards on who may loosen a lookup's thresholds, and how far (server/thresholds.py)."""

from __future__ import annotations

from typing import Any

import pytest

from hashcore.errors import InvalidInput
from hashcore.registry import SignalRegistry
from hashcore.signals import Metric
from hashcore_server.auth import ADMIN, ALL, LOOKUP, Principal
from hashcore_server.thresholds import check_admin_bounds, loosen_banks
from tests.test_guard_thresholds import Registry, Sim


def test_only_admins_of_a_bank_may_loosen_it() -> None:
    p = Principal("p", {"a": LOOKUP, "b": ADMIN})
    assert loosen_banks(p, ["a", "b", "c"]) == ["b"]
    assert loosen_banks(Principal("s", {ALL: LOOKUP}), ["a", "b"]) == []
    assert loosen_banks(Principal("s", {ALL: ADMIN}), ["a", "b"]) == ["a", "b"]


def test_admin_bounds_are_inclusive_and_default_to_the_family_default(
    registry: SignalRegistry,
) -> None:
    pdq_default = float(registry.get("pdq").default_threshold)
    check_admin_bounds({"pdq": 40}, {"pdq": 40}, registry)
    check_admin_bounds({"pdq": 0}, {"pdq": 40}, registry)
    with pytest.raises(InvalidInput, match="above"):
        check_admin_bounds({"pdq": 41}, {"pdq": 40}, registry)
    check_admin_bounds({"pdq": pdq_default}, {}, registry)
    with pytest.raises(InvalidInput):
        check_admin_bounds({"pdq": pdq_default + 1}, {}, registry)
    check_admin_bounds({"md5": 1000}, {}, registry)  # exact families have no threshold
    check_admin_bounds({}, {}, registry)


def test_similarity_bounds_are_floors_and_inclusive() -> None:
    registry: Any = Registry(Sim())
    assert Sim.metric is Metric.SIMILARITY and Sim.default_threshold == 0.7
    check_admin_bounds({"sim": 0.5}, {"sim": 0.5}, registry)
    check_admin_bounds({"sim": 0.9}, {"sim": 0.5}, registry)
    with pytest.raises(InvalidInput, match="below"):
        check_admin_bounds({"sim": 0.49}, {"sim": 0.5}, registry)
    check_admin_bounds({"sim": 0.7}, {}, registry)
    with pytest.raises(InvalidInput, match="below"):
        check_admin_bounds({"sim": 0.69}, {}, registry)
