"""Leaving undecoded the H.264 pictures nothing needs changes no frame TMK sees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hashcore_tmk.frames as frames
from hashcore_tmk.frames import CfrSampler, iter_frames
from hashcore_tmk.skipping import avcc_length_size, droppable, is_unreferenced

AVCC_HEADER = bytes([1, 100, 0, 31, 0xFF, 0xE1])
"""The start of an avcC record: version 1, profile, level, 4-byte NAL lengths."""


def nal(header: int, body: bytes = b"\x88\x84") -> bytes:
    return (1 + len(body)).to_bytes(4, "big") + bytes([header]) + body


def test_avcc_length_size_only_for_h264_in_avcc_form() -> None:
    assert avcc_length_size("h264", AVCC_HEADER + b"\x00") == 4
    assert avcc_length_size("h264", bytes([1, 100, 0, 31, 0xFD, 0xE1, 0])) == 2
    assert avcc_length_size("h264", b"\x00\x00\x00\x01\x67\x64\x00") is None  # Annex B
    assert avcc_length_size("hevc", AVCC_HEADER + b"\x00") is None
    assert avcc_length_size("h264", None) is None


@pytest.mark.parametrize(
    ("packet", "unreferenced"),
    [
        (nal(0x01), True),  # a slice with nal_ref_idc 0
        (nal(0x06) + nal(0x01), True),  # SEI, then such a slice
        (nal(0x21), False),  # nal_ref_idc 1
        (nal(0x65), False),  # an IDR slice
        (nal(0x01) + nal(0x41), False),  # one referenced slice is enough
        (nal(0x06), False),  # no slice at all
        (b"\x00\x00\x01\x00\x01", False),  # a length past the end
    ],
)
def test_is_unreferenced(packet: bytes, unreferenced: bool) -> None:
    assert is_unreferenced(packet, 4) is unreferenced


def test_droppable_are_the_unreferenced_pictures_the_resampling_drops() -> None:
    times = [number / 30 for number in range(40)]
    sampler = CfrSampler(30.0)
    dropped = {number for number, t in enumerate(times) if not sampler.step(t)[0]}
    pictures = [(number, t, number % 2 == 0) for number, t in enumerate(times)]  # even: unref.
    got = droppable(reversed(pictures), CfrSampler(30.0))  # any order: sorted by time
    assert got == {number for number in dropped if number % 2 == 0}
    assert got and all(number >= 4 for number in got)  # 0-3 are all kept (ffmpeg's rule)


def test_a_picture_copied_into_a_gap_is_kept() -> None:
    # 10 fps: each frame is shown 1.5 times at 15 fps, so some are copied as "previous".
    times = [number / 10 for number in range(20)]
    sampler = CfrSampler(10.0)
    needed = set()
    for number, t in enumerate(times):
        count, previous = sampler.step(t)
        if count:
            needed.add(number)
        if previous:
            needed.add(number - 1)
    pictures = [(number, t, True) for number, t in enumerate(times)]
    assert droppable(pictures, CfrSampler(10.0)) == set(range(20)) - needed


def test_skipping_leaves_the_frames_bit_identical(
    tmk_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = tmk_data / "videos" / "pattern-sd-grey-bar.mp4"
    with video.open("rb") as handle:
        assert len(frames._undecoded(handle, str(video))) >= 10  # something is skipped
    skipping = [frame.copy() for frame in iter_frames(video)]
    monkeypatch.setattr(frames, "_undecoded", lambda handle, name: frozenset())
    decoding_all = [frame.copy() for frame in iter_frames(video)]
    assert len(skipping) == len(decoding_all) == 105
    assert all(np.array_equal(a, b) for a, b in zip(skipping, decoding_all, strict=True))
