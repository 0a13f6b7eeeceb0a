"""Standard crops: the parts of a picture that families opting in also hash, so that cropped
copies and copies with a caption bar drawn over them still match.

A perceptual hash describes the whole frame, so removing even a thin strip moves it: PDQ moves
a median 36 bits for 2% off every side and 81 for 5% (threshold 31), and a caption bar over the
bottom 15% moves it 53 (measurements in docs/crops.md). What does survive is the same *part* of
the picture hashed on both sides. So a family with ``crop_variants`` hashes a few fixed crops:

- at bank time the :data:`BANKED` ones, stored as variants of the same entry (like
  ``trimmed``): a copy cropped 5% all round is then, as a whole, the banked ``centre90``;
- at lookup time the same ones plus the :data:`LOOKUP_ONLY` ones: a copy with a caption bar at
  the bottom, cut to its ``top80``, is the banked ``top80``; a copy cut 5% on one side, cut 5% on
  the three others (``centre90-right`` and so on), is the banked ``centre90``.

Crops match copies cut by about their own fractions (within 1-2% of the frame), not arbitrary
crops; that is the price of staying on the families' own hashes and indexes.

Crops are hashed from a working copy of the picture scaled down to at most
:data:`WORKING_SIDE` pixels (the hashes reduce it to 64x64 or 32x32 anyway), made once for every
family, so each crop costs a fraction of a full-size hash; each crop is a view of that array.
Its pixels are Pillow's BILINEAR resize exactly (computed by hashcore.resample), so banked crops
keep their values whichever computes them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from hashcore.borders import Box
from hashcore.resample import Filter, Pixels, resized

WORKING_SIDE = 512
"""Longest side of the picture crops are cut from (PDQ's reference tools downsample to 512 as
well); a smaller picture is used as it is."""

REDUCING_GAP = 2.0
"""The working copy's ``reducing_gap``: a side 4 times its new length or more is box-reduced by
a whole factor first (Pillow's rule)."""


class Crop(NamedTuple):
    """Fractions of the width (left, right) and height (top, bottom) cut off each side."""

    left: float
    top: float
    right: float
    bottom: float


BANKED: dict[str, Crop] = {
    "centre90": Crop(0.05, 0.05, 0.05, 0.05),
    "top80": Crop(0.0, 0.0, 0.0, 0.20),
    "bottom80": Crop(0.0, 0.20, 0.0, 0.0),
}
"""Crops hashed both when a file is banked (stored with the entry) and when it is looked up.

``centre90``: 5% off every side (a banked original is found by a copy cropped about 5% all
round, and a banked crop by the original); ``top80``: the bottom 20% cut (a caption bar, a
watermark strip or a corner logo over the bottom 20% at most); ``bottom80``: the top 20% cut."""

LOOKUP_ONLY: dict[str, Crop] = {
    "centre90-left": Crop(0.0, 0.05, 0.05, 0.05),
    "centre90-top": Crop(0.05, 0.0, 0.05, 0.05),
    "centre90-right": Crop(0.05, 0.05, 0.0, 0.05),
    "centre90-bottom": Crop(0.05, 0.05, 0.05, 0.0),
}
"""Crops hashed only for a lookup: ``centre90-right`` is ``centre90`` of a copy whose right
side is already cut (5% off the left, top and bottom only), so a copy cut about 5% on one side
finds the banked ``centre90``. Never stored: they describe the query, as PDQ's ``rot90`` does."""

CROPS: dict[str, Crop] = {**BANKED, **LOOKUP_ONLY}
"""Every standard crop by name: what ``SignalType.crop_variants`` may name."""


def crop_box(size: tuple[int, int], crop: Crop) -> Box:
    """The pixel box of ``crop`` in a picture of ``size`` (width, height); each cut is rounded
    to the nearest pixel on its own, so opposite cuts are equal."""
    width, height = size
    left, right = round(width * crop.left), round(width * crop.right)
    top, bottom = round(height * crop.top), round(height * crop.bottom)
    return Box(left, top, width - right, height - bottom)


def working_copy(image: Image.Image, pixels: Pixels, side: int = WORKING_SIDE) -> Pixels:
    """``image`` (whose RGB array is ``pixels``) scaled down so its longest side is at most
    ``side``, as a read-only RGB array (``pixels`` itself when it fits already): the pixels of
    ``image.resize(size, BILINEAR, reducing_gap=2.0)``. The compiled resampler computes them
    (hashcore.resample) unless Pillow would box-reduce first (a side 4 times its new length or
    more), which Pillow then does."""
    scale = side / max(image.size)
    if scale >= 1:
        return pixels
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    pairs = zip(image.size, size, strict=True)
    if image.mode != "RGB" or any(int(old / new / REDUCING_GAP) > 1 for old, new in pairs):
        small = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)
        return np.asarray(small)
    copy = resized(pixels, size, Filter.BILINEAR)
    copy.setflags(write=False)  # shared by every family's crops, as np.asarray(image) is
    return copy
