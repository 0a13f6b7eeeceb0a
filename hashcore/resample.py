"""Pillow's ``resize`` of an RGB picture, bit for bit, computed from the pixel array PDQ reads.

Two resizes sat on every picture's path: pHash's 32x32 Lanczos greyscale picture (imagehash's
``convert("L").resize(..., LANCZOS)``) and the standard crops' 512 px working copy (BILINEAR).
In Pillow they cost ~5.8 and ~6.1 ms of a 1155x866 photo, more than PDQ's compiled kernel
(1.7 ms). ``_resample.c``, built with hashcore, does the same arithmetic on the H x W x 3 array
(:attr:`hashcore.media.Media.rgb_array`), vectorised: ~1.5 and ~1.2 ms (1155x866 photos; the
BILINEAR pass 8 rows at a time where the CPU has AVX2, ~3.4 ms without).

The pixel array itself comes from the same file (:func:`rgb_pixels`): ``numpy.asarray(image)``
goes through Pillow's ``tobytes()``, a packed copy of each strip of the picture and one more to
join them (~0.45 ms of a 1155x866 photo); ``_resample.c`` packs Pillow's own 4-byte pixels, read
in place through the Arrow export Pillow >= 11.2 offers, in one pass.

The results are Pillow's exactly (the C file says how); ``tests/test_resample.py`` compares
them with Pillow on photographs, random pictures and every size relation. Whatever the C
code does not cover goes to Pillow itself: an install without a C compiler, a height that
shrinks more than twice as much as the width (Pillow >= 11 then runs its passes the other way
round), and a BILINEAR resize whose ``reducing_gap`` reduces the picture first.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt
from PIL import Image

try:
    from hashcore import _resample  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: Pillow computes the same values
    _resample = None

Pixels = npt.NDArray[np.uint8]


class Filter(IntEnum):
    """The filters ``_resample.c`` computes, by its own numbering."""

    BILINEAR = 0
    LANCZOS = 1


PILLOW_FILTERS = {
    Filter.BILINEAR: Image.Resampling.BILINEAR,
    Filter.LANCZOS: Image.Resampling.LANCZOS,
}


def compiled() -> bool:
    """Whether this install has the compiled resampler (else Pillow resizes)."""
    return _resample is not None


def rgb_pixels(image: Image.Image) -> Pixels:
    """``numpy.asarray(image)`` of an RGB image (H x W x 3, read-only), packed by the compiled
    code from Pillow's memory; ``numpy.asarray`` itself for any other mode, without the
    compiled code or Arrow export, or for a picture Pillow keeps in several blocks of memory
    (over 16 MB)."""
    if _resample is not None and image.mode == "RGB":
        try:
            schema, array = image.__arrow_c_array__()
        except (AttributeError, ValueError):  # Pillow < 11.2; rows in several blocks
            pass
        else:
            pixels = np.empty((image.height, image.width, 3), dtype=np.uint8)
            _resample.rgb_from_arrow(schema, array, pixels)
            pixels.setflags(write=False)
            return pixels
    return np.asarray(image)


def vertical_first(height: int, width: int, size: tuple[int, int]) -> bool:
    """Whether Pillow >= 11 runs the vertical pass first for this resize (the height shrinks
    more than twice as much as the width), which the C code does not: Pillow does those."""
    shrink_y = height - size[1]
    return shrink_y > 0 and shrink_y > (width - size[0]) * 2


def resized(rgb: Pixels, size: tuple[int, int], kind: Filter, *, grey: bool = False) -> Pixels:
    """``Image.fromarray(rgb)`` (optionally ``.convert("L")``) ``.resize(size, kind)`` as an
    array: H x W x 3, or H x W with ``grey``. ``rgb`` is H x W x 3 ``uint8``; ``size`` is
    (width, height) as Pillow takes it."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"resized needs H x W x 3 uint8 pixels, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    out_width, out_height = size
    if out_width < 1 or out_height < 1:
        raise ValueError(f"resized: size must be positive, got {size}")
    if _resample is None or vertical_first(height, width, size):
        return _pillow_resized(rgb, size, kind, grey)
    pixels = np.ascontiguousarray(rgb)
    shape = (out_height, out_width) if grey else (out_height, out_width, 3)
    out = np.empty(shape, dtype=np.uint8)
    _resample.resample(pixels, height, width, 3, grey, out_width, out_height, int(kind), out)
    return out


def _pillow_resized(rgb: Pixels, size: tuple[int, int], kind: Filter, grey: bool) -> Pixels:
    image = Image.fromarray(rgb, "RGB")
    if grey:
        image = image.convert("L")
    return np.asarray(image.resize(size, PILLOW_FILTERS[kind]))
