"""pHash's dihedral lookup variants: exact where the algebra is exact, named as PDQ names them.

The rotated and flipped bridge pictures are ThreatExchange's PDQ dihedral samples; PDQ reports
``rot270`` for the picture rotated by 90 degrees (the variant that undoes it), and so must pHash.
"""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from hashcore import Media
from hashcore.engine import Engine
from hashcore.registry import load_registry
from hashcore.signals import Signal, hamming_distance
from hashcore_phash.plugin import DIHEDRAL, PhashSignal

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "pdq"
DIH = DATA / "dih"
ORIGINAL = DIH / "bridge-1-original.jpg"
UNDOES = {
    "bridge-2-rotate-90.jpg": "rot270",
    "bridge-3-rotate-180.jpg": "rot180",
    "bridge-4-rotate-270.jpg": "rot90",
    "bridge-5-flipx.jpg": "flipx",
    "bridge-6-flipy.jpg": "flipy",
    "bridge-7-flip-plus-1.jpg": "flipplus1",
    "bridge-8-flip-minus-1.jpg": "flipminus1",
}
PIXEL_OPS = {
    "orig": lambda a: a,
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 3),
    "flipx": lambda a: a[::-1, :],
    "flipy": lambda a: a[:, ::-1],
    "flipplus1": lambda a: np.swapaxes(a, 0, 1),
    "flipminus1": lambda a: np.swapaxes(np.rot90(a, 2), 0, 1),
}


def variants(path: Path) -> dict[str, bytes]:
    return {s.variant: s.value for s in PhashSignal().hash_variants(Media(path)) if s.variant}


def test_eight_variants_and_orig_is_the_plain_hash() -> None:
    for path in sorted(DATA.rglob("*.jpg")):
        found = PhashSignal().hash_variants(Media(path))
        assert [s.variant for s in found] == list(DIHEDRAL)
        assert found[0].value == PhashSignal().hash(Media(path)).value, path.name


@pytest.mark.parametrize("name", list(PIXEL_OPS))
def test_each_variant_is_the_phash_of_the_transformed_picture(name: str) -> None:
    """Computed from the coefficients, checked against hashing the transformed pixels."""
    picture = Image.open(ORIGINAL).convert("RGB")
    pixels = PIXEL_OPS[name](np.asarray(picture))
    expected = imagehash.phash(Image.fromarray(np.ascontiguousarray(pixels)))
    got = variants(ORIGINAL)[name]
    # Flips commute with the resize exactly; a transpose may move a pixel's rounding.
    limit = 0 if name in ("orig", "rot180", "flipx", "flipy") else 2
    wanted = bytes.fromhex(str(expected))
    assert hamming_distance(got, wanted) <= limit


@pytest.mark.parametrize(("file", "variant"), sorted(UNDOES.items()))
def test_the_variant_that_undoes_the_edit_matches_the_original(file: str, variant: str) -> None:
    plain = PhashSignal().hash(Media(ORIGINAL)).value
    found = variants(DIH / file)
    distances = {name: hamming_distance(value, plain) for name, value in found.items()}
    assert min(distances, key=lambda name: distances[name]) == variant
    assert distances[variant] <= 2
    assert distances["orig"] > 16  # the plain hash of the edited file is far away


def test_a_mirrored_copy_is_seconded_by_phash_through_its_variant(tmp_path: Path) -> None:
    """pHash never matches alone, but its flipped variant joins PDQ's match of a mirrored copy."""
    registry = load_registry()
    pdq = registry.get("pdq")
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("b")
        banked = [PhashSignal().hash(Media(ORIGINAL)), pdq.hash(Media(ORIGINAL))]
        engine.add_entry("b", banked, external_id="bridge")
        flipped = Media(DIH / "bridge-6-flipy.jpg")
        query = PhashSignal().hash_variants(flipped)
        assert not engine.lookup_signals(query).matched  # pHash alone: no claim
        (match,) = engine.lookup_signals([*query, *pdq.hash_variants(flipped)]).matches
        by_type = {hit.type: hit for hit in match.signals}
        assert by_type["phash"].variant == "flipy" and by_type["phash"].distance <= 2
        assert by_type["pdq"].variant == "flipy"
        plain_only = [Signal("phash", query[0].value), *pdq.hash_variants(flipped)]
        (match,) = engine.lookup_signals(plain_only).matches
        assert [hit.type for hit in match.signals] == ["pdq"]
