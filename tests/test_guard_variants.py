"""Guards on variant names: what a lookup reports and what a store keeps (``make mutate``)."""

from __future__ import annotations

from hashcore.signals import derived_variant, stored_variant


def test_derived_variant_names() -> None:
    assert derived_variant("trimmed", None) == "trimmed"
    assert derived_variant("trimmed", "orig") == "trimmed"
    assert derived_variant("trimmed", "original") == "trimmed"
    assert derived_variant("trimmed", "rot90") == "trimmed+rot90"


def test_only_derived_pictures_are_stored() -> None:
    assert stored_variant(None) is None
    assert stored_variant("orig") is None
    assert stored_variant("rot90") is None
    assert stored_variant("trimmed") == "trimmed"
    assert stored_variant("trimmed+rot90") == "trimmed+rot90"
    assert stored_variant("rot90+trimmed") is None
