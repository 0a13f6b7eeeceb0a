"""Which H.264 packets need no decoding: pictures nothing references that the resampling drops.

Most of TMK's time is decoding, and the 15 fps resampling drops about half of a 30 fps video's
frames. A picture that no other picture references (``nal_ref_idc`` 0, e.g. a non-reference B
frame) can be left undecoded without changing any other picture, so when the resampling would
drop it anyway, leaving it out changes nothing: the frames TMK sees are bit-identical. Which
frames are dropped follows from the timestamps alone (the same rule on the same times), so it
is decided from the packets before decoding.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashcore_tmk.frames import CfrSampler

H264_SLICE_TYPES = frozenset({1, 5})
"""NAL unit types that carry a picture's slices (non-IDR and IDR)."""


def avcc_length_size(codec: str, extradata: bytes | None) -> int | None:
    """The NAL length-prefix size of H.264 in AVCC form (MP4, MOV, MKV), or None for
    anything else (another codec, or Annex B start codes), which is then decoded whole."""
    if codec != "h264" or not extradata or len(extradata) < 7 or extradata[0] != 1:
        return None
    return (extradata[4] & 3) + 1


def is_unreferenced(data: bytes | memoryview, length_size: int) -> bool:
    """Whether an AVCC packet's picture is one no other picture references: every slice has
    ``nal_ref_idc`` 0. A malformed packet counts as referenced (decoded, as before)."""
    position, slices = 0, False
    while position + length_size <= len(data):
        size = int.from_bytes(data[position : position + length_size], "big")
        position += length_size
        if size <= 0 or position + size > len(data):
            return False
        header = data[position]
        if header & 0x1F in H264_SLICE_TYPES:
            if header >> 5:  # nal_ref_idc: some picture predicts from this one
                return False
            slices = True
        position += size
    return slices


def droppable(pictures: Iterable[tuple[int, float, bool]], sampler: CfrSampler) -> frozenset[int]:
    """The pts of the unreferenced pictures that ``sampler`` drops.

    ``pictures`` are ``(pts, seconds from the start, unreferenced)`` in any order; the sampler
    sees them in presentation order, as the decoder's frames come. A picture is needed when it
    is emitted, or when the next one emits copies of it (``previous``)."""
    ordered = sorted(pictures, key=lambda picture: picture[1])
    needed: set[int] = set()
    for number, (pts, seconds, _) in enumerate(ordered):
        count, previous = sampler.step(seconds)
        if count:
            needed.add(pts)
        if previous and number:
            needed.add(ordered[number - 1][0])
    return frozenset(pts for pts, _, unreferenced in ordered if unreferenced and pts not in needed)
