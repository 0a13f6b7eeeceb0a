"""PDQ against the reference hashes, plus the conformance kit."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from hashcore import Media
from hashcore.signals import hamming_distance
from hashcore.testing import SignalTypeConformance
from hashcore_pdq import turned
from hashcore_pdq.plugin import DIHEDRAL_VARIANTS, PdqSignal, _turned_pixels

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


@pytest.mark.parametrize(
    "size",
    [(64, 64), (100, 37), (129, 257), (300, 200), (640, 427), (1023, 768)],
    ids=lambda size: f"{size[0]}x{size[1]}",
)
def test_turned_orientations_equal_pdqhash_on_the_turned_pixels(size: tuple[int, int]) -> None:
    """Odd and even Jarosz windows (ceil(side / 128): 1, 1, 2-3, 3-2, 5-4, 8-6), sides where
    the window is the whole line: every orientation is bit for bit pdqhash's of the turned
    pixels, and the plain one is pdqhash's of the picture."""
    rng = np.random.default_rng(size[0] * 7 + size[1])
    coarse = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    picture = Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(picture)
    noise = rng.integers(-12, 13, pixels.shape)
    pixels = np.clip(pixels.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    found = turned.orientations(pixels)
    turns = _turned_pixels(pixels)
    assert set(found) == set(DIHEDRAL_VARIANTS)
    for name, turned_pixels in turns.items():
        expected, _ = pdqhash.compute(turned_pixels)
        assert np.array_equal(found[name], expected.astype(np.uint8)), name
