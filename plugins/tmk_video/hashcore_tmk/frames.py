"""Decode a video into the 64x64 RGB, 15 fps frame stream the reference hasher sees.

The reference pipes videos through ``ffmpeg -s 64:64 -an -f rawvideo -pix_fmt rgb24 -r 15``.
Matching its hashes needs the same pixels (one swscale bicubic context straight from the
decoder's pixel format to 64x64 rgb24) and the same frames (ffmpeg's output-side CFR rule,
which is not what the ``fps`` filter does). Frames are streamed, never collected. Pictures the
resampling drops and no other picture needs are not decoded at all (``skipping``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import BinaryIO

import av
import av.container
import av.stream
import av.video.stream
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import Interpolation, VideoReformatter
from numpy.typing import NDArray

from hashcore.content import is_video_demuxer, open_av_container
from hashcore_tmk.constants import FPS, FRAME_SIZE
from hashcore_tmk.errors import TmkError
from hashcore_tmk.skipping import avcc_length_size, droppable, is_unreferenced

_log = logging.getLogger(__name__)

DROP_THRESHOLD = -1.1
"""ffmpeg drops a frame whose CFR ``delta`` is below this."""

H264_OPTIONS = {"skip_loop_filter": "bidir"}
"""Decoder options for H.264: no deblocking of B pictures (a fifth of the decoding time). Only
B pictures change, by less than a 64x64 thumbnail shows, and nothing long-lived predicts from
them, so no error builds up: the samples' features stay >= 0.99999 cosine to the reference."""

DUP_THRESHOLD = 1.1
"""ffmpeg emits a frame several times when its CFR ``delta`` is above this."""


@dataclass
class CfrSampler:
    """ffmpeg's output-side constant-frame-rate rule, one source frame at a time.

    Kept apart from decoding so the rule can be checked on plain timestamps.
    """

    source_fps: float
    """The source stream's average frame rate (its frames' nominal duration is 1/source_fps)."""

    out_fps: int = FPS
    next_out: int = field(default=0, init=False)
    """Index of the next output frame (ffmpeg's ``sync_opts``)."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.source_fps) or self.source_fps <= 0:
            raise TmkError(f"invalid source frame rate {self.source_fps!r}")
        self._duration = self.out_fps / self.source_fps

    def step(self, t: float) -> tuple[int, int]:
        """Decide what to emit for a source frame shown at ``t`` seconds.

        Returns ``(count, previous)``: emit ``count`` frames in total, the first ``previous`` of
        them copies of the previous source frame and the rest copies of this one.
        """
        delta0 = t * self.out_fps - self.next_out
        delta = delta0 + self._duration
        if delta < DROP_THRESHOLD:
            return 0, 0
        count, previous = 1, 0
        if delta > DUP_THRESHOLD:
            count = round(delta)  # llrintf: round half to even, as Python's round()
            if delta0 > DUP_THRESHOLD:
                previous = min(round(delta0 - 0.6), count)
        self.next_out += count
        return count, previous


def source_frame_rate(stream: av.video.stream.VideoStream) -> float:
    """The stream's average frame rate, with ffmpeg-like fallbacks when it is unknown."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return float(FPS)


def iter_frames(
    path: str | os.PathLike[str],
    *,
    strict: bool = False,
    decoder_threads: int | None = None,
) -> Iterator[NDArray[np.uint8]]:
    """Yield the video's frames as read-only ``uint8`` arrays of shape (64, 64, 3), 15 fps.

    A duplicated frame is yielded as the same array object again, hence read-only. Like ffmpeg,
    packets that fail to decode are skipped and a read error ends the stream early, unless
    ``strict`` is set, which turns either into a ``TmkError``. A file with no video stream, an
    unreadable container, a still image, text, a playlist that points elsewhere or no decodable
    frame raises ``TmkError``. Missing or unreadable paths raise the usual ``OSError``.

    ``decoder_threads`` (``0`` = automatic) enables multi-threaded decoding; the pixels are
    identical either way.
    """
    name = os.fspath(path)
    with open(name, "rb") as handle:  # a missing or unreadable path raises OSError here
        undecoded = _undecoded(handle, name)
        handle.seek(0)
        container = _open(handle, name)
        try:
            stream = _video_stream(container, name)
            if stream.codec_context.name == "h264":
                stream.codec_context.options = dict(H264_OPTIONS)
            if decoder_threads is not None:
                stream.thread_type = "AUTO"
                stream.codec_context.thread_count = decoder_threads
            yield from _resample(container, stream, name, strict, undecoded)
        finally:
            container.close()


def _undecoded(handle: BinaryIO, name: str) -> frozenset[int]:
    """The pts of packets whose pictures nothing needs (:mod:`hashcore_tmk.skipping`), from a
    first pass over the packets (milliseconds: no decoding). Empty when unsure: another codec,
    a packet without a timestamp, or a file the decoding pass will report on."""
    try:
        container = _open(handle, name)
    except TmkError:
        return frozenset()
    try:
        stream = _video_stream(container, name)
        context = stream.codec_context
        length_size = avcc_length_size(context.name, context.extradata)
        if length_size is None:
            return frozenset()
        start = container.start_time / av.time_base if container.start_time is not None else 0.0
        pictures = []
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:  # the flush; edit-list pre-roll, which
                continue  # is decoded but never shown, so the sampler never sees it either
            if packet.pts is None or packet.time_base is None:
                return frozenset()
            seconds = float(packet.pts * packet.time_base) - start
            pictures.append((packet.pts, seconds, is_unreferenced(memoryview(packet), length_size)))
        return droppable(pictures, CfrSampler(source_frame_rate(stream)))
    except (TmkError, av.FFmpegError, OSError):
        return frozenset()
    finally:
        container.close()


def _open(handle: BinaryIO, name: str) -> av.container.InputContainer:
    """Open with the core's sandboxed opener: no protocols, so playlists reach nothing else."""
    try:
        container: av.container.InputContainer = open_av_container(handle)
    except (av.FFmpegError, OSError) as exc:  # the path itself opened: this is about content
        raise TmkError(f"cannot read {name!r} as a video: {exc}") from exc
    return container


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    fmt = container.format.name
    if not is_video_demuxer(fmt):
        raise TmkError(f"{name!r} is a still image or text ({fmt}), not a video")
    pictures = av.stream.Disposition.attached_pic | av.stream.Disposition.still_image
    for stream in container.streams.video:
        if not stream.disposition & pictures and stream.codec_context is not None:
            return stream
    raise TmkError(f"{name!r} has no video stream")


def _decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    name: str,
    strict: bool,
    undecoded: frozenset[int],
) -> Iterator[VideoFrame]:
    """Decode the stream's frames but the ``undecoded`` pts, tolerating damage the way ffmpeg
    does unless strict."""
    packets = container.demux(stream)
    skipped = 0
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except (av.FFmpegError, OSError) as exc:
            if strict:
                raise TmkError(f"read error in {name!r}: {exc}") from exc
            _log.warning("read error in %r, hashing the frames before it: %s", name, exc)
            break
        if packet.pts is not None and packet.pts in undecoded:
            continue
        try:
            frames = stream.decode(packet)
        except av.FFmpegError as exc:
            if strict:
                raise TmkError(f"undecodable packet in {name!r}: {exc}") from exc
            skipped += 1
            continue
        yield from frames
    if skipped:
        _log.warning("skipped %d undecodable packet(s) in %r", skipped, name)


def _resample(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    name: str,
    strict: bool,
    undecoded: frozenset[int],
) -> Iterator[NDArray[np.uint8]]:
    source_fps = source_frame_rate(stream)
    sampler = CfrSampler(source_fps)
    # ffmpeg subtracts the container's start time, not the stream's.
    start = container.start_time / av.time_base if container.start_time is not None else 0.0
    scaler = _Scaler(name)
    previous: VideoFrame | None = None
    last_t: float | None = None
    emitted = 0
    for frame in _decoded(container, stream, name, strict, undecoded):
        t = frame_time(frame, start, last_t, source_fps)
        last_t = t
        count, from_previous = sampler.step(t)
        if count:
            if from_previous and previous is not None:
                before = scaler.rgb(previous)
                for _ in range(from_previous):
                    yield before
            else:
                from_previous = 0
            current = scaler.rgb(frame)
            for _ in range(count - from_previous):
                yield current
            emitted += count
        previous = frame
    if emitted == 0:
        raise TmkError(f"no video frames could be decoded from {name!r}")


def frame_time(frame: VideoFrame, start: float, last_t: float | None, source_fps: float) -> float:
    """Presentation time in seconds relative to the container start.

    A frame without a timestamp is placed one nominal frame after the previous one (or at the
    start), which is where ffmpeg's best-effort timestamp would put it.
    """
    pts = frame.pts
    time_base: Fraction | None = frame.time_base
    if pts is not None and time_base is not None:
        return float(pts * time_base) - start
    if last_t is None:
        return 0.0
    return last_t + 1.0 / source_fps


class _Scaler:
    """One reusable swscale context: source pixel format -> 64x64 rgb24, bicubic.

    Reusing the context matters for speed (PyAV otherwise builds one per frame), and the last
    conversion is cached because a previous-frame copy re-uses it.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._reformatter = VideoReformatter()
        self._last: VideoFrame | None = None
        self._last_rgb: NDArray[np.uint8] | None = None

    def rgb(self, frame: VideoFrame) -> NDArray[np.uint8]:
        if frame is self._last and self._last_rgb is not None:
            return self._last_rgb
        try:
            scaled = self._reformatter.reformat(
                frame,
                width=FRAME_SIZE,
                height=FRAME_SIZE,
                format="rgb24",
                interpolation=Interpolation.BICUBIC,
                threads=1,
            )
        except av.FFmpegError as exc:
            raise TmkError(f"cannot convert a frame of {self._name!r} to RGB: {exc}") from exc
        rgb = np.ascontiguousarray(scaled.to_ndarray(), dtype=np.uint8)
        rgb.setflags(write=False)
        self._last, self._last_rgb = frame, rgb
        return rgb
