"""Frame sampling and pruning, on a synthetic video whose pictures come in runs of three."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from hashcore import Media
from hashcore_vpdq import compute_vpdq
from hashcore_vpdq.plugin import PRUNE_ENV, SECONDS_ENV, VpdqSignal

PICTURES, RUN, FPS = 8, 3, 12


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 frames at 12 fps: 8 unrelated textures, each shown three frames running."""
    path = tmp_path_factory.mktemp("frames") / "runs.mkv"
    rng = np.random.default_rng(7)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("ffv1", rate=Fraction(FPS))  # lossless: runs stay equal
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for _ in range(PICTURES):
            blocks = rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)
            pixels = np.kron(blocks, np.ones((8, 8, 1), np.uint8))
            for _ in range(RUN):
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_every_frame_and_sampling(runs: Path) -> None:
    every = compute_vpdq(runs)
    assert every.frames.tolist() == list(range(PICTURES * RUN))
    assert every.ms.tolist() == [round(n * 1000 / FPS) for n in range(PICTURES * RUN)]
    half = compute_vpdq(runs, seconds_per_hash=0.5)  # int(0.5 * 12) = every 6th frame
    assert half.frames.tolist() == list(range(0, PICTURES * RUN, 6))
    assert np.array_equal(half.hashes, every.hashes[::6])


def test_consecutive_near_identical_frames_are_pruned(
    runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pruned = compute_vpdq(runs, prune_distance=8)
    assert pruned.frames.tolist() == list(range(0, PICTURES * RUN, RUN))
    bits = np.unpackbits(pruned.hashes[1:] ^ pruned.hashes[:-1], axis=1).sum(axis=1)
    assert (bits > 8).all()
    monkeypatch.setenv(SECONDS_ENV, "0")
    monkeypatch.setenv(PRUNE_ENV, "8")
    signal = VpdqSignal().hash(Media(runs))
    assert len(VpdqSignal().feature(signal.value)) == PICTURES
