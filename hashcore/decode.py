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

A reduced picture's PDQ and pHash come from the smaller copy: both scale the picture down to
64x64 and 32x32 pixels anyway, so they stay within a few bits of the full-size hashes (MD5 is
of the file and never changes).

Speed uses the same decoder feature: a JPEG whose shorter side is 1440 px or more is decoded
at the smallest scale that keeps that side at 720 px or more (:data:`DRAFT_MIN_SIDE`), so a 12
MP photo (4032x3024 or 4000x3000) is decoded at 1/4 scale, a sixteenth of the pixels. On the
191 robustness-corpus JPEGs of 1280 px and more on their shorter side, PDQ moved at most 8 bits
from the full-resolution hash (median 2, 95% within 8) and pHash at most 2; keeping 1024 px
moved PDQ at most 4 bits but cost twice the time on 12 MP photos (docs/thresholds.md).
``HASHCORE_IMAGE_PATH=reference`` decodes every picture at full resolution (and has PDQ use
``pdqhash``): python-threatexchange's exact hashes, slower.
"""

from __future__ import annotations

import math
import os

from PIL import Image

from hashcore.errors import ContentError, InvalidInput

DEFAULT_MAX_DECODE_MB = 1024
HASH_BYTES_PER_PIXEL = 32
"""Peak bytes per pixel of decoding and hashing a picture (measured: 3.9 GB for 121 MP)."""
REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBa", "La", "I", "F", "CMYK", "YCbCr"})
MB = 1 << 20
DRAFT_MIN_SIDE = 720
"""The shorter side a JPEG keeps when decoded at reduced scale for speed. 640 let one corpus
picture move 10 bits (1920x1280 at half scale), the issue's limit; 720 kept every one within 8."""
IMAGE_PATH_ENV = "HASHCORE_IMAGE_PATH"
IMAGE_PATHS = ("fast", "reference")


def reference_hashing() -> bool:
    """Whether ``HASHCORE_IMAGE_PATH`` asks for the reference path (``fast`` is the default):
    full-resolution decoding, and ``pdqhash`` for PDQ, as python-threatexchange hashes. Read at
    each call, so a running process can switch."""
    chosen = os.environ.get(IMAGE_PATH_ENV, "").strip().lower() or "fast"
    if chosen not in IMAGE_PATHS:
        raise InvalidInput(f"{IMAGE_PATH_ENV}={chosen!r}: choose one of {', '.join(IMAGE_PATHS)}")
    return chosen == "reference"


def draft_scale(image: Image.Image) -> int:
    """1, 2, 4 or 8: the JPEG decoder's scale for speed (1: full resolution)."""
    if image.format != "JPEG" or reference_hashing():
        return 1
    shorter = min(image.size)
    return next((k for k in (8, 4, 2) if shorter // k >= DRAFT_MIN_SIDE), 1)


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
    scale = draft_scale(image)
    if scale > 1:
        width, height = image.size
        image.draft("RGB", (width // scale, height // scale))  # Pillow scales by at most this
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
