"""PDQ against the reference hashes, plus the conformance kit."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

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


TURNED_FILES = {
    "orig": "bridge-1-original.jpg",
    "rot90": "bridge-2-rotate-90.jpg",
    "rot180": "bridge-3-rotate-180.jpg",
    "rot270": "bridge-4-rotate-270.jpg",
    "flipx": "bridge-5-flipx.jpg",
    "flipy": "bridge-6-flipy.jpg",
    "flipplus1": "bridge-7-flip-plus-1.jpg",
    "flipminus1": "bridge-8-flip-minus-1.jpg",
}
"""The reference's turned copies of the bridge, by the variant of the original that is each."""


def test_each_variant_is_the_reference_hash_of_the_turned_file() -> None:
    variants = PdqSignal().hash_variants(Media(DATA / "dih" / "bridge-1-original.jpg"))
    assert [v.variant for v in variants] == list(DIHEDRAL_VARIANTS)
    references = {row["file"]: row["pdq_hex"] for row in reference_rows() if row["xform"] == "orig"}
    for variant in variants:
        reference = bytes.fromhex(references["dih/" + TURNED_FILES[variant.variant]])
        assert hamming_distance(variant.value, reference) <= REFERENCE_TOLERANCE, variant.variant


@pytest.mark.parametrize("variant", DIHEDRAL_VARIANTS)
def test_variants_are_exactly_the_hash_of_the_turned_pixels(variant: str, tmp_path: Path) -> None:
    """Not the DCT shortcut, which is off by up to ~90 bits on re-encoded turned copies."""
    turn = {
        "orig": None,
        "rot90": Image.Transpose.ROTATE_90,
        "rot180": Image.Transpose.ROTATE_180,
        "rot270": Image.Transpose.ROTATE_270,
        "flipx": Image.Transpose.FLIP_TOP_BOTTOM,
        "flipy": Image.Transpose.FLIP_LEFT_RIGHT,
        "flipplus1": Image.Transpose.TRANSPOSE,
        "flipminus1": Image.Transpose.TRANSVERSE,
    }[variant]
    original = Image.open(DATA / "dih" / "bridge-1-original.jpg").convert("RGB")
    turned = original if turn is None else original.transpose(turn)
    turned.save(tmp_path / "turned.png")
    expected = PdqSignal().hash(Media(tmp_path / "turned.png")).value
    original.save(tmp_path / "original.png")
    by_name = {
        v.variant: v.value for v in PdqSignal().hash_variants(Media(tmp_path / "original.png"))
    }
    assert by_name[variant] == expected
    assert hamming_distance(by_name[variant], expected) == 0


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
