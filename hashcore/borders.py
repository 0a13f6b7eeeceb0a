"""Finding uniform borders (letterboxing, pillarboxing, frames) so the picture inside is hashed.

A border added around a picture moves every perceptual hash far from the original's (a black
border of 5% of the width: pHash 17 bits median, PDQ beyond its threshold), and borders are the
commonest re-upload edit after re-encoding. :func:`content_box` finds, on each side on its own,
the run of outer lines (rows or columns) that are all nearly one colour, any colour, and returns
the box of what is inside. Image families that opt in (``SignalType.border_variants``) then hash
the trimmed picture as an extra variant.

A line belongs to the border when nearly all its pixels (``MIN_FRACTION``) are within
``TOLERANCE`` of the side's border colour (the median of its outermost line, per channel) *and*
its mean luma deviation from that colour is at most ``MAX_MEAN_DEVIATION``. The first test
tolerates JPEG noise and a few stray pixels (a watermark dot, ringing); the second keeps dark
but textured photo content (a night scene: every pixel near black, but not uniformly so) from
being taken for a black bar. Lines are read at full resolution, from the edge inwards, a few at
a time, so the cost is proportional to the border found (plus a few lines per side), and boxes
are exact on lossless pictures (long lines are sampled every few pixels, never skipped). On
JPEG pictures the block noise next to the content can end a border a few pixels (at most a JPEG
block) early: the trimmed picture then keeps a thin strip of border, which the perceptual hashes
mostly tolerate.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from hashcore.resample import rgb_pixels

try:
    from hashcore import _borders  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: numpy scans the same lines
    _borders = None

TOLERANCE = 24
"""Largest per-channel difference (0-255) from the border colour for a pixel to count as it
(JPEG ringing next to the content reaches about 20 at quality 75)."""

MIN_FRACTION = 0.98
"""Share of a line's pixels that must be within ``TOLERANCE`` for the line to be border."""

MAX_MEAN_DEVIATION = 2.5
"""Largest mean luma deviation (0-255) of a border line from the border colour's luma.

Luma, because JPEG's subsampled chroma rings much more than its luma next to the content (mean
channel deviations of 4-6 in a black border at quality 75, luma under 2). Flat borders stay
under it; textured content near the border colour (a dark photo's edge) does not. Tuned on the
shared PDQ sample photos: JPEG borders (q40, q75) end at most 7 px (one block) early, and none
of the photos at full or 35% brightness is trimmed except where it has a real flat band."""

STRICT_MEAN_DEVIATION = 1.0
"""``MAX_MEAN_DEVIATION`` of the strict reading (:func:`content_boxes`).

A dark photo's own margins (a night sky with faint stars, a vignette) read as border at 2.5 on
one copy and not on another once JPEG has moved the noise, so the box of a letterboxed copy and
the box of its original can differ by a few percent of a side, which moves PDQ past its
threshold. At 1.0 only flat bars count (a JPEG black bar deviates 0.2-0.6; sky noise more), so
the strict box lands on the bar's edge whatever the picture's own margins do; it misses
coloured bars whose chroma ringing reaches the luma, which the tolerant reading finds. Reading
both and hashing each distinct box, at bank time and at lookup time, found 1,952 of 2,009
bordered copies (the robustness corpus's 287 pictures of PDQ quality >= 50, its 7 border
edits; plain orientation, PDQ <= 31), against 1,861 for the tolerant box alone and 1,893 for
the strict one alone."""

MIN_BORDER_FRACTION = 0.02
"""A picture is trimmed only when some side's border is at least this share of its dimension
(and at least ``MIN_BORDER_PIXELS``); smaller sides are trimmed along with it."""

MIN_BORDER_PIXELS = 2

MIN_CONTENT_FRACTION = 0.25
"""What is inside must keep at least this share of the picture's area..."""

MIN_CONTENT_SIDE = 8
"""...and this many pixels a side (``media.MIN_IMAGE_SIDE``), else the picture is not trimmed."""

_FIRST_CHUNK = 8
_MAX_SAMPLES = 512
"""Pixels read per line: every line is read (so depths are exact), but long lines only every
n-th pixel; 2% of 512 samples still leaves room for ten stray pixels."""
_LUMA = (299, 587, 114)  # ITU-R 601 in thousandths, as Pillow convert("L"); also in _borders.c
_MAX_CHUNK = 256


class Box(NamedTuple):
    """A rectangle in pixels, as Pillow's ``crop`` takes it: right and bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def content_boxes(image: Image.Image, pixels: np.ndarray | None = None) -> list[Box]:
    """The distinct boxes of :func:`content_box`'s tolerant and strict readings, tolerant
    first (see ``STRICT_MEAN_DEVIATION``); empty when neither finds a border worth trimming.

    Distinct boxes even a JPEG block apart are both kept: dropping the strict box when it lay
    within 8 px of the tolerant one lost 27 of the 1,952 bordered copies below.

    ``pixels``: ``image`` as an RGB array when the caller has one (it is read, never copied)."""
    if pixels is None:
        pixels = rgb_array(image)
    boxes: list[Box] = []
    for box in _content_boxes(pixels, (MAX_MEAN_DEVIATION, STRICT_MEAN_DEVIATION)):
        if box is not None and box not in boxes:
            boxes.append(box)
    return boxes


def content_box(image: Image.Image, max_mean_deviation: float | None = None) -> Box | None:
    """The box inside ``image``'s uniform borders, or None when there is nothing to trim.

    None when no side has a border worth trimming (``MIN_BORDER_FRACTION``), when the picture
    is all one colour, or when what would remain is too small (``MIN_CONTENT_FRACTION``,
    ``MIN_CONTENT_SIDE``). Any mode is accepted (converted to RGB; alpha is dropped as
    ``convert("RGB")`` drops it, which is what the hashes see). ``max_mean_deviation``:
    ``MAX_MEAN_DEVIATION`` unless given.
    """
    deviation = MAX_MEAN_DEVIATION if max_mean_deviation is None else max_mean_deviation
    return _content_boxes(rgb_array(image), (deviation,))[0]


def rgb_array(image: Image.Image) -> np.ndarray:
    """``image`` as a height x width x 3 ``uint8`` array, converted to RGB first if need be.

    One conversion for the whole picture: the border scan then slices it, where cropping and
    converting each strip cost ~4 ms a 1 MP photo in Pillow's per-call overhead."""
    return rgb_pixels(image if image.mode == "RGB" else image.convert("RGB"))


def _content_boxes(pixels: np.ndarray, deviations: tuple[float, ...]) -> list[Box | None]:
    """The box of each reading (``deviations``: their ``max_mean_deviation``), the lines of
    each side read once for all of them: only the final luma test differs between readings."""
    height, width = pixels.shape[:2]
    if width < MIN_CONTENT_SIDE or height < MIN_CONTENT_SIDE:
        return [None] * len(deviations)
    tops = _depths(pixels, "top", deviations)
    if all(top >= height for top in tops):  # every row is the border colour: one colour
        return [None] * len(deviations)
    sides = [tops] + [_depths(pixels, side, deviations) for side in ("bottom", "left", "right")]
    return [_box(height, width, *depths) for depths in zip(*sides, strict=True)]


def _box(height: int, width: int, top: int, bottom: int, left: int, right: int) -> Box | None:
    """The box inside borders of these depths, or None (see :func:`content_box`)."""
    if top >= height:  # every row is the border colour: the picture is all one colour
        return None
    box = Box(left, top, width - right, height - bottom)
    if box.width < MIN_CONTENT_SIDE or box.height < MIN_CONTENT_SIDE:
        return None
    if box.width * box.height < MIN_CONTENT_FRACTION * width * height:
        return None
    worth = [
        depth >= max(MIN_BORDER_PIXELS, MIN_BORDER_FRACTION * size)
        for depth, size in ((top, height), (bottom, height), (left, width), (right, width))
    ]
    return box if any(worth) else None


def _median(values: np.ndarray) -> np.ndarray:
    """``numpy.median(values, axis=1)``, the same float64 values, without the ``numpy.ma``
    import its first call costs (~15 ms of every process and hashing worker)."""
    middle = values.shape[1] // 2
    if values.shape[1] % 2:
        return np.partition(values, middle, axis=1)[:, middle].astype(np.float64)
    parted = np.partition(values, (middle - 1, middle), axis=1)
    return (parted[:, middle - 1].astype(np.float64) + parted[:, middle]) / 2


SIDES = ("top", "bottom", "left", "right")
"""The sides, in the order ``_borders.c`` numbers them."""


def _depths(pixels: np.ndarray, side: str, deviations: tuple[float, ...]) -> list[int]:
    """How many lines from ``side`` inwards belong to the border (0: none), for each reading's
    ``max_mean_deviation``: the lines are read until every reading has found its end. The
    compiled scan (``_borders.c``) when built, else :func:`_numpy_depths`: the same depths."""
    if _borders is None:
        return _numpy_depths(pixels, side, deviations)
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    found: list[int] = _borders.depths(
        pixels,
        height,
        width,
        SIDES.index(side),
        tuple(float(deviation) for deviation in deviations),
        TOLERANCE,
        MIN_FRACTION,
        _MAX_SAMPLES,
    )
    return found


def _numpy_depths(pixels: np.ndarray, side: str, deviations: tuple[float, ...]) -> list[int]:
    """:func:`_depths` in numpy, a few lines at a time."""
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    length = height if side in ("top", "bottom") else width
    colour: np.ndarray | None = None
    found: list[int | None] = [None] * len(deviations)
    depth, chunk = 0, _FIRST_CHUNK
    while depth < length and None in found:
        count = min(chunk, length - depth)
        lines = _lines(pixels, side, depth, count)
        if colour is None:
            colour = _median(lines[:, 0]).round().astype(np.int32)
        red, green, blue = (lines[n] - colour[n] for n in range(3))
        deviation = np.maximum(np.maximum(np.abs(red), np.abs(green)), np.abs(blue))
        luma = np.abs(_LUMA[0] * red + _LUMA[1] * green + _LUMA[2] * blue).mean(axis=1)
        within = np.count_nonzero(deviation <= TOLERANCE, axis=1)
        uniform = within >= MIN_FRACTION * lines.shape[2]
        for reading, max_mean_deviation in enumerate(deviations):
            if found[reading] is None:
                border = uniform & (luma <= max_mean_deviation * 1000)
                if not border.all():
                    found[reading] = depth + int(np.argmin(border))
        depth += count
        chunk = min(chunk * 2, _MAX_CHUNK)
    return [length if depth_found is None else depth_found for depth_found in found]


def _lines(pixels: np.ndarray, side: str, start: int, count: int) -> np.ndarray:
    """Lines ``start .. start + count`` from ``side`` inwards, as ``3 x count x length`` int32:
    one contiguous plane per channel (numpy reduces slowly over a 3-long last axis)."""
    height, width = pixels.shape[:2]
    if side == "top":
        strip = pixels[start : start + count]
    elif side == "bottom":
        strip = pixels[height - start - count : height - start][::-1]
    elif side == "left":
        strip = pixels[:, start : start + count].transpose(1, 0, 2)
    else:
        strip = pixels[:, width - start - count : width - start][:, ::-1].transpose(1, 0, 2)
    step = -(-strip.shape[1] // _MAX_SAMPLES)
    if step > 1:
        strip = strip[:, ::step]
    return np.ascontiguousarray(strip.transpose(2, 0, 1), dtype=np.int32)
