"""pHash via ``imagehash.phash``; the hex is exactly what ``str(imagehash.phash(img))`` prints.

Lookups also try the picture's eight rotations and flips, named as PDQ names them. They cost
next to nothing: flipping a picture along an axis multiplies its DCT-II coefficient ``k`` along
that axis by ``(-1)**k``, and transposing it transposes the coefficients, so every variant comes
from the one 32x32 DCT the plain hash computes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from PIL import Image

import hashcore
from hashcore import NEVER_ALONE, BitSignalType, ContentKind, Media, Signal, bits_to_bytes

DEFAULT_THRESHOLD = 8
"""Hamming distance at which two pHashes are taken as the same picture (see docs/thresholds.md)."""

SOLO_THRESHOLD = NEVER_ALONE
"""A pHash hit never matches on its own word: it counts for an entry another family recognises
too. Its 8x8 DCT signs capture the layout, and distinct pictures with a similar layout collide:
among 340 distinct photographs and wallpapers, 5 pairs with full PDQ quality lie within 4 bits
(8.7e-5 a pair: 870 accidents a lookup at 10M), 28 featureless pairs at 0 (docs/thresholds.md)."""


class PhashSignal(BitSignalType):
    name: ClassVar[str] = "phash"
    description: ClassVar[str] = "pHash 64-bit perceptual image hash (imagehash)"
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})
    bits: ClassVar[int] = 64
    default_threshold: ClassVar[float] = DEFAULT_THRESHOLD
    solo_threshold: ClassVar[float | None] = SOLO_THRESHOLD
    border_variants: ClassVar[bool] = True

    def hash(self, media: Media) -> Signal:
        import imagehash  # with scipy, ~0.6 s: paid by the first picture, not every command

        image_hash = imagehash.phash(media.rgb_image)
        return Signal(self.name, bits_to_bytes(image_hash.hash.flatten().tolist()))

    def hash_variants(self, media: Media) -> list[Signal]:
        """All eight rotations and flips (``orig`` is exactly :meth:`hash`), so a rotated or
        mirrored copy whose PDQ is too weak to query (quality < 50) can still be found."""
        low = low_frequencies(media.rgb_image)
        return [
            Signal(self.name, _bits(transform(low)), variant=name)
            for name, transform in DIHEDRAL.items()
        ]


HASH_SIZE = 8
IMAGE_SIZE = HASH_SIZE * 4
"""imagehash's defaults: an 8x8 hash from the DCT of a 32x32 greyscale picture."""

_ALTERNATING = np.array([(-1.0) ** k for k in range(HASH_SIZE)])
_ROWS = _ALTERNATING[:, None]  # a flip top to bottom negates the odd rows of coefficients
_COLS = _ALTERNATING[None, :]  # a flip left to right negates the odd columns

DIHEDRAL: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "orig": lambda low: low,
    "rot90": lambda low: low.T * _ROWS,
    "rot180": lambda low: low * _ROWS * _COLS,
    "rot270": lambda low: low.T * _COLS,
    "flipx": lambda low: low * _ROWS,
    "flipy": lambda low: low * _COLS,
    "flipplus1": lambda low: low.T,
    "flipminus1": lambda low: low.T * _ROWS * _COLS,
}
"""The low-frequency block of each transformed picture, by PDQ's variant names: ``rot90`` is
``numpy.rot90`` of the picture, ``flipx`` a flip top to bottom, ``flipplus1`` the transpose."""


def low_frequencies(image: Image.Image) -> np.ndarray:
    """The 8x8 low-frequency DCT block exactly as ``imagehash.phash`` computes it."""
    import scipy.fftpack  # here, not at the top: importing it cost 0.6 s of every start

    small = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(small)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
    return np.asarray(dct[:HASH_SIZE, :HASH_SIZE], dtype=np.float64)


def _bits(low: np.ndarray) -> bytes:
    return bits_to_bytes((low > np.median(low)).flatten().tolist())


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [PhashSignal]
