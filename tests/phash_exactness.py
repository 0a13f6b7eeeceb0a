"""The pHash plugin against imagehash on one picture: shared by the plugin's tests and
``bench/phash_exact.py``, so the corpus is checked exactly as the tests check."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import imagehash
from PIL import Image

from hashcore import Media
from hashcore_phash.plugin import (
    DIHEDRAL,
    PhashSignal,
    decided,
    grey_pixels,
    hash_bits,
    product_low_frequencies,
    scipy_low_frequencies,
)


class Exactness(NamedTuple):
    plain: bool
    """The plain hash equals ``imagehash.phash``."""
    variants: bool
    """The eight variants equal the bits of scipy's block transformed (what the plugin
    computed before the matrix product)."""
    needs_scipy: bool
    """A coefficient lies within ``UNDECIDED`` of a median: the block came from scipy."""


def exactness(image: Image.Image) -> Exactness:
    media = Media.derived(Path("picture"), image, "decoded")
    pixels = grey_pixels(image)
    exact = scipy_low_frequencies(pixels)
    wanted = [hash_bits(transform(exact)) for transform in DIHEDRAL.values()]
    return Exactness(
        plain=PhashSignal().hash(media).value == bytes.fromhex(str(imagehash.phash(image))),
        variants=[s.value for s in PhashSignal().hash_variants(media)] == wanted,
        needs_scipy=not decided(product_low_frequencies(pixels)),
    )
