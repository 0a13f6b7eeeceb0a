"""Issue 11, finding 5: hashing stops once the caller's deadline passes; the worker is freed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import grpc
import numpy as np
import pytest
from server_support import ORIGINAL, running_server

import hashcore_tmk.frames as tmk_frames  # the plugin imports iter_frames from it per hash
from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.cancel import CHECK_EVERY, stop_when
from hashcore.errors import Cancelled
from hashcore.hashing import hash_file
from hashcore_server.config import Limits

FRAMES = 9000
"""Ten minutes at 15 fps, 32x32 pixels: a few seconds to hash, two to write."""


def long_video(path: Path, frames: int = FRAMES) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=15)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        image = np.zeros((32, 32, 3), np.uint8)
        for number in range(frames):
            image[:] = (number * 7) % 256
            image[number % 32, :, 1] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return long_video(tmp_path_factory.mktemp("video") / "long.mp4")


class FrameCounter:
    """Counts the frames the TMK hasher pulls from the decoder."""

    def __init__(self) -> None:
        self.frames = 0
        self.lock = threading.Lock()

    def wrap(self, real):  # type: ignore[no-untyped-def]
        def counted(*args, **kwargs) -> Iterator[object]:  # type: ignore[no-untyped-def]
            for frame in real(*args, **kwargs):
                with self.lock:
                    self.frames += 1
                yield frame

        return counted


@pytest.fixture
def counter(monkeypatch) -> FrameCounter:
    counter = FrameCounter()
    monkeypatch.setattr(tmk_frames, "iter_frames", counter.wrap(tmk_frames.iter_frames))
    return counter


def test_hashing_stops_soon_after_the_stop_condition(video, registry, counter):
    stop_at = 100
    with stop_when(lambda: counter.frames >= stop_at), pytest.raises(Cancelled):
        hash_file(video, registry)
    assert stop_at <= counter.frames <= stop_at + CHECK_EVERY


def test_without_a_stop_condition_the_whole_video_is_hashed(tmp_path, registry, counter):
    short = long_video(tmp_path / "short.mp4", frames=60)
    hashes = hash_file(short, registry)
    assert {s.type for s in hashes.signals} == {"md5", "tmk_pdqf", "vpdq"}
    assert counter.frames == 60


def test_deadline_frees_the_worker_for_the_next_call(tmp_path, video, counter):
    """The finding: a long video with a short deadline held the CPU slot to the end."""
    # Hashing in the call's thread, where the counter sees the frames (the hashing processes'
    # stop: tests/test_hash_pool.py).
    with running_server(tmp_path, limits=Limits(workers=1, hash_processes=0)) as srv:
        matching, _ = srv.stubs()
        with pytest.raises(grpc.RpcError) as info:
            matching.Hash(pb.HashRequest(content=video.read_bytes()), timeout=0.5)
        assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        # The only worker is free again: a small image gets hashed (generous deadline).
        small = matching.Hash(pb.HashRequest(content=ORIGINAL.read_bytes()), timeout=120)
        assert {s.type for s in small.signals} >= {"pdq", "md5"}
        stopped_at = counter.frames
        assert 0 < stopped_at < FRAMES, "the video was hashed to the end for nobody"
        time.sleep(0.5)
        assert counter.frames == stopped_at  # and nothing hashes it in the background


def test_client_cancel_stops_hashing(tmp_path, video, counter):
    # Hashing in the call's thread, where the counter sees the frames (the hashing processes'
    # stop: tests/test_hash_pool.py).
    with running_server(tmp_path, limits=Limits(workers=1, hash_processes=0)) as srv:
        matching, _ = srv.stubs()
        future = matching.Hash.future(pb.HashRequest(content=video.read_bytes()), timeout=300)
        for _ in range(600):
            if counter.frames > 0:
                break
            time.sleep(0.05)
        future.cancel()
        small = matching.Hash(pb.HashRequest(content=ORIGINAL.read_bytes()), timeout=120)
        assert small.signals
        assert counter.frames < FRAMES
