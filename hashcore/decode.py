"""Decoding a picture within a memory budget.

The pixel cap (``HASHCORE_MAX_IMAGE_PIXELS``) stops decompression bombs, but a picture under it
can still cost gigabytes: an 11000x11000 PNG of 352 KB peaked at 3.9 GB while hashed, because
the decoded image, its RGB copy and the perceptual hashers' own working copies (PDQ's
floating-point luminance and filter buffers, pHash's greyscale copy) are each full size, about
32 bytes a pixel in all. So a picture whose hashing would cost more than the budget
(``HASHCORE_MAX_DECODE_MB``, default 1024 MB per decode) is reduced while decoded:

- a JPEG is decoded at 1/2, 1/4 or 1/8 scale by the decoder itself (``Image.draft``), which
  costs only the smaller image;
- any other format is decoded whole, then box-reduced by a whole factor (``Image.reduce``)
  before the RGB conversion; the full decode must itself fit the budget, else the picture is
  refused with a :class:`~hashcore.errors.ContentError` saying how much it needs.

Pictures within the budget (every reference picture in the tests, and any photo up to about
5,700x5,700) are decoded exactly as before, so their hashes do not change. A reduced picture's
PDQ and pHash come from the smaller copy: both scale the picture down to 64x64 and 32x32 pixels
anyway, so they stay within a few bits of the full-size hashes (MD5 is of the file and never
changes).
"""

from __future__ import annotations

import math
import os

from PIL import Image

from hashcore.errors import ContentError

DEFAULT_MAX_DECODE_MB = 1024
HASH_BYTES_PER_PIXEL = 32
"""Peak bytes per pixel of decoding and hashing a picture (measured: 3.9 GB for 121 MP)."""
REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBa", "La", "I", "F", "CMYK", "YCbCr"})
MB = 1 << 20


def max_decode_bytes() -> int:
    """The memory budget of one decode, from ``HASHCORE_MAX_DECODE_MB``."""
    value = os.environ.get("HASHCORE_MAX_DECODE_MB")
    try:
        megabytes = float(value) if value else DEFAULT_MAX_DECODE_MB
    except ValueError:
        megabytes = DEFAULT_MAX_DECODE_MB
    return max(1, int(megabytes * MB))


def decode_bytes_per_pixel(mode: str) -> int:
    """What the decoded image costs a pixel in ``mode`` (Pillow stores 1 or 4 bytes a band)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith(("I", "F")):
        return 4
    return 4  # RGB, RGBA, CMYK, YCbCr, LA...: 4 bytes a pixel in Pillow's memory


def reduce_factor(pixels: int, budget: int) -> int:
    """The whole factor per side that brings hashing ``pixels`` within ``budget`` (1: none)."""
    need = pixels * HASH_BYTES_PER_PIXEL
    if need <= budget:
        return 1
    return math.ceil(math.sqrt(need / budget))


def decode_rgb(image: Image.Image, name: str) -> Image.Image:
    """``image`` (opened, not yet loaded) decoded and converted to RGB within the budget;
    ``image`` itself when it is RGB already, so its caller must not close it."""
    budget = max_decode_bytes()
    width, height = image.size
    factor = reduce_factor(width * height, budget)
    if factor == 1:
        if image.mode == "RGB":  # most JPEGs: no converted copy (~4 ms a 1 MP photo)
            image.load()
            return image
        rgb = image.convert("RGB")
        rgb.load()
        return rgb
    if image.format == "JPEG":  # the decoder scales by 1/2, 1/4 or 1/8 for free
        image.draft("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
        factor = reduce_factor(image.size[0] * image.size[1], budget)
    decoded = image.size[0] * image.size[1] * decode_bytes_per_pixel(image.mode)
    if image.mode not in REDUCIBLE_MODES:  # palette and bit images: converted first
        decoded += image.size[0] * image.size[1] * 4
    reduced = (image.size[0] // factor or 1) * (image.size[1] // factor or 1) * 4
    if decoded + reduced > budget:
        raise ContentError(
            f"{name}: image is too large to decode within the memory budget: {width}x{height} "
            f"px needs ~{math.ceil((decoded + reduced) / MB):,} MB, the budget is "
            f"{budget // MB:,} MB; raise HASHCORE_MAX_DECODE_MB"
        )
    image.load()
    source = image if image.mode in REDUCIBLE_MODES else image.convert("RGB")
    small = source.reduce(factor) if factor > 1 else source
    del source
    rgb = small.convert("RGB")
    rgb.load()
    return rgb
