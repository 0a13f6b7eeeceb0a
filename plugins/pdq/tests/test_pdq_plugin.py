"""PDQ against the reference hashes, plus the conformance kit."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hashcore import Media
from hashcore.signals import hamming_distance
from hashcore.testing import SignalTypeConformance
from hashcore_pdq.plugin import DIHEDRAL_VARIANTS, PdqSignal

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "pdq"
REFERENCE_TOLERANCE = 10
"""JPEG decoders differ by a few bits; the reference data promises <= 10 at quality >= 80."""


def reference_rows() -> list[dict[str, str]]:
    with (DATA / "reference-hashes.csv").open() as handle:
        return list(csv.DictReader(handle))


class TestPdqConformance(SignalTypeConformance):
    signal_type = PdqSignal
    sample_files = [DATA / "dih" / "bridge-1-original.jpg", DATA / "misc" / "wee.jpg"]


@pytest.mark.parametrize(
    "row",
    [r for r in reference_rows() if r["xform"] == "orig" and (DATA / r["file"]).exists()],
    ids=lambda r: r["file"],
)
def test_hash_is_within_tolerance_of_reference(row: dict[str, str]) -> None:
    signal = PdqSignal().hash(Media(DATA / row["file"]))
    distance = hamming_distance(signal.value, bytes.fromhex(row["pdq_hex"]))
    assert distance <= REFERENCE_TOLERANCE, f"{row['file']}: {distance} bits from reference"
    if row["quality"]:
        assert signal.quality == int(row["quality"])


def test_dihedral_variants_match_reference_rows() -> None:
    variants = PdqSignal().hash_variants(Media(DATA / "dih" / "bridge-1-original.jpg"))
    by_name = {v.variant: v for v in variants}
    assert [v.variant for v in variants] == list(DIHEDRAL_VARIANTS)
    checked = 0
    for row in reference_rows():
        if row["file"] == "dih/bridge-1-original.jpg":
            got = by_name[row["xform"]].value
            assert hamming_distance(got, bytes.fromhex(row["pdq_hex"])) <= REFERENCE_TOLERANCE
            checked += 1
    assert checked == 6  # orig, rot90, rot180, rot270, flipx, flipy


def test_rotated_file_is_close_to_the_matching_variant_of_the_original() -> None:
    variants = PdqSignal().hash_variants(Media(DATA / "dih" / "bridge-1-original.jpg"))
    rotated = PdqSignal().hash(Media(DATA / "dih" / "bridge-2-rotate-90.jpg"))
    best = min(variants, key=lambda v: hamming_distance(v.value, rotated.value))
    assert best.variant == "rot90"
    assert hamming_distance(best.value, rotated.value) <= 31


def test_low_quality_hash_is_marked_unusable() -> None:
    signal = PdqSignal().hash(Media(DATA / "misc" / "small.jpg"))
    assert signal.quality == 0
    assert not signal.usable


def test_hex_is_lower_case_256_bit() -> None:
    text = PdqSignal().format(PdqSignal().hash(Media(DATA / "misc" / "wee.jpg")).value)
    assert len(text) == 64 and text == text.lower()
