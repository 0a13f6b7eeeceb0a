"""The frame stream: ffmpeg's CFR rule, timestamps, and the decoded pixels."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from av.video.reformatter import Interpolation

from hashcore_tmk import TmkError, compute_tmk
from hashcore_tmk.frames import CfrSampler, frame_time, iter_frames


def plan(times: list[float], fps: float) -> list[tuple[int, int]]:
    sampler = CfrSampler(fps)
    return [sampler.step(t) for t in times]


def test_cfr_30fps_keeps_0_1_2_3_then_odd() -> None:
    steps = plan([i / 30 for i in range(564)], 30.0)
    kept = [i for i, (count, _) in enumerate(steps) if count]
    assert sum(count for count, _ in steps) == 284
    assert kept[:6] == [0, 1, 2, 3, 5, 7]
    assert all(count <= 1 and prev == 0 for count, prev in steps)


def test_cfr_15fps_is_identity() -> None:
    assert plan([i / 15 for i in range(100)], 15.0) == [(1, 0)] * 100


def test_cfr_10fps_duplicates() -> None:
    # delta alternates 1.5 -> round half to even = 2, then 1.0 -> 1.
    assert plan([i / 10 for i in range(6)], 10.0) == [(2, 0), (1, 0)] * 3


def test_cfr_gap_uses_previous_frame() -> None:
    steps = plan([0.0, 1 / 30, 1.0], 30.0)
    # Third frame: delta0 = 15 - 2 = 13, delta = 13.5 -> 14 copies, round(12.4) = 12 of previous.
    assert steps == [(1, 0), (1, 0), (14, 12)]


def test_cfr_drops_late_frames() -> None:
    # Same timestamp repeated: delta goes 1, 0, -1 (kept: not below -1.1), then -2 (dropped).
    assert plan([0.0, 0.0, 0.0, 0.0], 15.0) == [(1, 0), (1, 0), (1, 0), (0, 0)]


@pytest.mark.parametrize("fps", [0.0, -1.0, float("nan"), float("inf")])
def test_cfr_rejects_bad_rate(fps: float) -> None:
    with pytest.raises(TmkError):
        CfrSampler(fps)


def test_frame_time_without_pts() -> None:
    tb = Fraction(1, 1000)
    assert frame_time(SimpleNamespace(pts=2000, time_base=tb), 0.5, None, 30.0) == 1.5
    assert frame_time(SimpleNamespace(pts=None, time_base=tb), 0.0, None, 30.0) == 0.0
    assert frame_time(SimpleNamespace(pts=None, time_base=tb), 0.0, 1.0, 25.0) == 1.04
    assert frame_time(SimpleNamespace(pts=5, time_base=None), 0.0, 2.0, 10.0) == 2.1


def write_video(path: Path, pts: list[int], rate: int, size: tuple[int, int] = (96, 80)) -> None:
    """A small mpeg4 clip whose frames carry the given timestamps (in 1/rate units)."""
    width, height = size
    rng = np.random.default_rng(7)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, rate)
        for i, stamp in enumerate(pts):
            image = rng.integers(0, 255, size=(height // 8, width // 8, 3), dtype=np.uint8)
            image = np.kron(image, np.ones((8, 8, 1), dtype=np.uint8)) // (1 + i % 3)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = stamp
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def expected_frames(path: Path) -> list[np.ndarray]:
    """The doc's rule applied directly to every decoded frame (no streaming, no caching)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        start = (container.start_time or 0) / 1_000_000
        decoded = [
            (
                float(f.pts * f.time_base) - start,
                f.to_ndarray(width=64, height=64, format="rgb24",
                             interpolation=Interpolation.BICUBIC),
            )
            for f in container.decode(stream)
        ]  # fmt: skip
    out: list[np.ndarray] = []
    next_out, previous = 0, None
    for t, image in decoded:
        delta0 = t * 15 - next_out
        delta = delta0 + 15 / fps
        if delta >= -1.1:
            count = round(delta) if delta > 1.1 else 1
            copies = round(delta0 - 0.6) if delta > 1.1 and delta0 > 1.1 else 0
            if previous is None:
                copies = 0
            out += [previous] * copies + [image] * (count - copies)
            next_out += count
        previous = image
    return out


@pytest.mark.parametrize(
    ("name", "pts", "rate"),
    [
        ("cfr25", list(range(40)), 25),
        ("cfr10", list(range(12)), 10),
        ("gap", [0, 1, 2, 3, 20, 21, 22], 10),
    ],
)
def test_stream_matches_rule(tmp_path: Path, name: str, pts: list[int], rate: int) -> None:
    path = tmp_path / f"{name}.mp4"
    write_video(path, pts, rate)
    want = expected_frames(path)
    got = list(iter_frames(path))
    assert len(got) == len(want) > 0
    for a, b in zip(got, want, strict=True):
        assert a.shape == (64, 64, 3) and a.dtype == np.uint8
        assert not a.flags.writeable
        np.testing.assert_array_equal(a, b)
    assert compute_tmk(path).frame_count == len(want)


def test_iter_frames_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "lazy.mp4"
    write_video(path, list(range(30)), 15)
    frames = iter_frames(path)
    first = next(frames)
    assert first.shape == (64, 64, 3)
    frames.close()  # closing early releases the container


def test_decoder_threads_give_same_feature(tmp_path: Path) -> None:
    path = tmp_path / "threads.mp4"
    write_video(path, list(range(50)), 30)
    a = compute_tmk(path)
    b = compute_tmk(path, decoder_threads=2)
    assert a.to_bytes() == b.to_bytes()
