"""pHash, bit for bit ``imagehash.phash``: the hex is exactly what ``str(imagehash.phash(img))``
prints, without importing scipy (~0.3 s of a command's start): an ordinary picture's block is a
matrix product, a featureless one's scipy's own DCT loaded directly (:mod:`hashcore_phash.dct`),
and its 32x32 Lanczos picture comes from hashcore's compiled resampler
(:mod:`hashcore.resample`: Pillow's values, ~1.9 ms instead of ~5.8 for a 1 MP photo).

Lookups also try the picture's eight rotations and flips, named as PDQ names them. They cost
next to nothing: flipping a picture along an axis multiplies its DCT-II coefficient ``k`` along
that axis by ``(-1)**k``, and transposing it transposes the coefficients, so every variant comes
from the one 8x8 block of DCT coefficients the plain hash computes (:func:`low_frequencies`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from PIL import Image

import hashcore
from hashcore import NEVER_ALONE, BitSignalType, ContentKind, Media, Signal, bits_to_bytes
from hashcore.resample import Filter, Pixels, resized

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
        return Signal(self.name, hash_bits(low_frequencies(media.rgb_array)))

    def warm_up(self) -> None:
        """scipy's DCT, which a featureless picture's block needs (:func:`low_frequencies`):
        loaded (and checked, :mod:`hashcore_phash.dct`) before a server's first request."""
        from hashcore_phash.dct import scipy_dct  # only where a tie needs it

        scipy_dct()

    def hash_variants(self, media: Media) -> list[Signal]:
        """All eight rotations and flips (``orig`` is exactly :meth:`hash`), so a rotated or
        mirrored copy whose PDQ is too weak to query (quality < 50) can still be found."""
        low = low_frequencies(media.rgb_array)
        return [
            Signal(self.name, hash_bits(transform(low)), variant=name)
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


def dct_rows(count: int, size: int) -> np.ndarray:
    """The first ``count`` rows of scipy's unnormalised DCT-II of length ``size``, ``C[k, m] =
    2 cos(pi k (2m + 1) / 2 size)``: ``C @ x`` is ``scipy.fftpack.dct(x)[:count]``."""
    k = np.arange(count)[:, None]
    m = np.arange(size)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * m + 1) / (2 * size))


_DCT = dct_rows(HASH_SIZE, IMAGE_SIZE)

UNDECIDED = 1e-9
"""How close to the median, relative to the DC term, a coefficient may lie before the block is
recomputed with scipy. Pixels are >= 0, so the DC term ``4 * sum(pixels)`` bounds the sum of the
absolute terms of every coefficient: the matrix product errs by at most ~2 * 33 * 2**-53 (~1e-14)
of it and scipy's FFT by the same order (they differed by 1.3e-16 of it at most over 2,000
random blocks). A median moves by at most the largest error, so a coefficient's distance to the
median differs between the two by at most four times the bound (~4e-14): with every coefficient
more than 1e-9 of the DC term from the median, both give the same bits. Closer than that means
a tie in the picture (one colour, a mirror symmetry: coefficients exactly 0 or equal), where
rounding would decide."""

_SIGNS = np.stack(
    [np.broadcast_to(x, (HASH_SIZE, HASH_SIZE)) for x in (1, _ROWS, _COLS, _ROWS * _COLS)]
)
"""The sign changes the variants apply (:data:`DIHEDRAL`): a transpose keeps the set of values,
so these four give every variant's median."""
_MIDDLE = HASH_SIZE * HASH_SIZE // 2
"""The median of the 64 coefficients lies halfway between the 32nd and 33rd smallest."""


def low_frequencies(image: Image.Image | Pixels) -> np.ndarray:
    """The 8x8 low-frequency DCT block that ``imagehash.phash`` thresholds, giving its bits and
    every variant's.

    Only the block is computed, as ``C @ pixels @ C.T`` (C the 8x32 DCT-II rows); it differs
    from scipy's full 32x32 DCT by rounding alone, so it is used when no coefficient of any
    variant is within :data:`UNDECIDED` of its median. Otherwise the block is scipy's, computed
    exactly as imagehash does (scipy's DCT is loaded then, and only then).
    """
    pixels = grey_pixels(image)
    low = product_low_frequencies(pixels)
    return low if decided(low) else scipy_low_frequencies(pixels)


def grey_pixels(image: Image.Image | Pixels) -> np.ndarray:
    """imagehash's 32x32 greyscale picture (Lanczos), as floats, of a picture or of its H x W
    x 3 RGB array (the compiled resampler's input; another mode of picture goes to Pillow)."""
    size = (IMAGE_SIZE, IMAGE_SIZE)
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            small = image.convert("L").resize(size, Image.Resampling.LANCZOS)
            return np.asarray(small, dtype=np.float64)
        image = np.asarray(image)
    return resized(image, size, Filter.LANCZOS, grey=True).astype(np.float64)


def product_low_frequencies(pixels: np.ndarray) -> np.ndarray:
    """The 8x8 low block of the DCT of ``pixels`` as a matrix product (within rounding of
    scipy's)."""
    low: np.ndarray = _DCT @ pixels @ _DCT.T
    return low


def decided(low: np.ndarray) -> bool:
    """Whether every coefficient of every variant lies more than :data:`UNDECIDED` of the DC
    term from its median, so rounding cannot change a bit: the nearest lie on each side of it,
    the 32nd and 33rd smallest, so their gap must exceed twice that. One sort for the four
    variants' sets of values (four ``numpy.median`` calls cost twice the whole DCT)."""
    ordered = np.sort((low * _SIGNS).reshape(len(_SIGNS), -1), axis=1)
    gaps = ordered[:, _MIDDLE] - ordered[:, _MIDDLE - 1]
    return bool(np.min(gaps) > 2 * UNDECIDED * np.max(np.abs(low)))


def scipy_low_frequencies(pixels: np.ndarray) -> np.ndarray:
    """imagehash's own computation: scipy's 32x32 DCT along axis 0, then axis 1 (loaded when
    first needed, without importing scipy's packages: :mod:`hashcore_phash.dct`)."""
    from hashcore_phash.dct import scipy_dct  # only where a tie needs it

    dct = scipy_dct()
    block = dct(dct(pixels, 0), 1)
    return np.asarray(block[:HASH_SIZE, :HASH_SIZE], dtype=np.float64)


def hash_bits(low: np.ndarray) -> bytes:
    """imagehash's bits: 1 where a coefficient exceeds the median, row by row.

    The median is ``numpy.median``'s value, (32nd + 33rd smallest) / 2, computed the same way;
    ``numpy.median`` itself imports ``numpy.ma`` on its first call (~15 ms of every process and
    hashing worker)."""
    values = low.flatten()
    middle = np.partition(values, (_MIDDLE - 1, _MIDDLE))
    median = (middle[_MIDDLE - 1] + middle[_MIDDLE]) / 2
    return bits_to_bytes(values > median)


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [PhashSignal]
