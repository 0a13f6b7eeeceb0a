"""Hash a video's frames as the reference vPDQ tool reads them.

The reference (ThreatExchange ``vpdq/cpp``) decodes the first video stream, numbers frames in
decoding-output order, keeps every ``int(seconds_per_hash * fps)``-th one (every frame when that
is 0), converts it with swscale to RGB24 at the video's size or a given one, hashes it with PDQ,
and stamps it ``frame / fps`` seconds (float32). We do the same with PyAV and ``pdqhash``. At
the video's own size the scaler only converts colours; for a ``-128x128``-style downscale the
Lanczos scaler reproduces the published sample hashes best (median 0 bits apart on the
samples; swscale's area filter, the reference's stated choice, gives a median of 4-6).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, BinaryIO

import av
import av.container
import av.stream
import av.video.stream
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import Interpolation, VideoReformatter
from numpy.typing import NDArray

from hashcore.cancel import cancellable
from hashcore.content import is_video_demuxer, open_av_container
from hashcore_pdq.plugin import pdq_of_pixels
from hashcore_vpdq.errors import VpdqError
from hashcore_vpdq.feature import HASH_BYTES, VpdqFeature

_log = logging.getLogger(__name__)

ACCURATE_ROUNDING = 0x40000
"""swscale's ``SWS_ACCURATE_RND``: with it our RGB24 frames equal the reference's. Without it an
unscaled YUV 4:2:0 -> RGB24 conversion takes swscale's fast table path, whose rounding moved the
doorknob's fade-in frames (near black, where RGB clips) by up to 22 bits; with it every one of
those frames equals the reference (``bench/vpdq_reference.py``). PyAV passes the interpolation
value to ``sws_getContext`` as its flags, so the flag is or-ed into it."""
MIN_SIDE = 5
"""The reference refuses frames narrower or lower than this (``MIN_HASHABLE_DIM``)."""


def compute_vpdq(
    path: str | os.PathLike[str],
    *,
    seconds_per_hash: float = 0.0,
    size: tuple[int, int] | None = None,
    prune_distance: int | None = None,
    strict: bool = False,
    max_frames: int | None = None,
) -> VpdqFeature:
    """The video's vPDQ feature.

    ``seconds_per_hash`` 0 hashes every frame (the reference files); pytx hashes one a second
    (1.0). ``size`` (width, height) downscales each frame first, as the reference's
    ``-128x128`` files. ``prune_distance`` drops a frame within that many bits of the last
    frame kept (consecutive near-identical frames). Damage is tolerated like ffmpeg (frames
    before a read error are hashed) unless ``strict``; an unusable file raises
    :class:`VpdqError`, a missing path ``OSError``. A video with more than ``max_frames`` frames
    to hash raises :class:`VpdqError`, before decoding when its header says so.
    """
    hashes: list[bytes] = []
    quality: list[int] = []
    numbers: list[int] = []
    last: NDArray[np.uint8] | None = None
    with decoded_frames(path, strict=strict) as (fps, stream, decoded):
        every = max(1, int(seconds_per_hash * fps))
        _check_length(path, stream, every, max_frames)
        scaler = FrameScaler(os.fspath(path), stream, size)
        for number, frame in enumerate(decoded):
            if number % every:
                continue
            if max_frames is not None and len(numbers) >= max_frames:
                raise _too_long(path, max_frames)
            packed, score = pdq_of(scaler.rgb(frame))
            if _pruned(packed, last, prune_distance):
                continue
            last = packed
            hashes.append(packed.tobytes())
            quality.append(score)
            numbers.append(number)
    return feature_of(hashes, quality, numbers, fps)


def _check_length(
    path: str | os.PathLike[str],
    stream: av.video.stream.VideoStream,
    every: int,
    max_frames: int | None,
) -> None:
    """Refuse at once a video whose header promises more than ``max_frames`` hashed frames."""
    if max_frames is None:
        return
    total = stream.frames
    if not total and stream.duration is not None and stream.time_base is not None:
        total = int(float(stream.duration * stream.time_base) * float(stream.average_rate or 0))
    if total and -(-total // every) > max_frames:
        raise _too_long(path, max_frames)


def _too_long(path: str | os.PathLike[str], max_frames: int) -> VpdqError:
    return VpdqError(
        f"{os.fspath(path)!r} is too long for vPDQ: more than {max_frames} frames to hash "
        "(HASHCORE_VPDQ_MAX_FRAMES, HASHCORE_VPDQ_SECONDS)"
    )


def _pruned(packed: NDArray[np.uint8], last: NDArray[np.uint8] | None, limit: int | None) -> bool:
    """Whether a frame is within ``limit`` bits of the frame kept before it."""
    if limit is None or last is None:
        return False
    return int(np.unpackbits(packed ^ last).sum()) <= limit


def pdq_of(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], int]:
    """A frame's PDQ hash (32 bytes, big-endian bits) and quality: the PDQ plugin's compiled
    kernel once the process has warmed up (``pdqhash``'s values, ~7x faster), else
    ``pdqhash``."""
    bits, score = pdq_of_pixels(rgb)
    return np.packbits(np.asarray(bits, np.uint8)), int(score)


def feature_of(
    hashes: list[bytes], quality: list[int], numbers: list[int], fps: float
) -> VpdqFeature:
    """The feature of hashed frames ``numbers``, stamped ``frame / fps`` as the reference
    does (in float32)."""
    if not numbers:
        raise VpdqError("no video frames could be decoded")
    frames = np.array(numbers, np.int64)
    seconds = frames.astype(np.float32) / np.float32(fps)
    return VpdqFeature(
        np.frombuffer(b"".join(hashes), np.uint8).reshape(-1, HASH_BYTES).copy(),
        np.array(quality, np.uint8),
        np.rint(seconds.astype(np.float64) * 1000).astype(np.int64),
        frames,
    )


@contextmanager
def decoded_frames(
    path: str | os.PathLike[str], *, strict: bool = False
) -> Iterator[tuple[float, av.video.stream.VideoStream, Iterator[VideoFrame]]]:
    """The video's frame rate, stream and decoded frames (stopping at the caller's deadline:
    :mod:`hashcore.cancel`). :class:`VpdqError` for a file that is no usable video, also when
    no frame decodes."""
    name = os.fspath(path)
    with open(name, "rb") as handle:  # a missing or unreadable path raises OSError here
        container = _open(handle, name)
        try:
            stream = _video_stream(container, name)
            fps = _frame_rate(stream, name)
            counted = _Counted(cancellable(_decoded(container, stream, name, strict)))
            yield fps, stream, iter(counted)
            if not counted.seen:
                raise VpdqError(f"no video frames could be decoded from {name!r}")
        finally:
            container.close()


class _Counted:
    """Frames passed through, counted, so an empty video is reported once decoding ends."""

    def __init__(self, frames: Iterator[VideoFrame]) -> None:
        self._frames = frames
        self.seen = 0

    def __iter__(self) -> Iterator[VideoFrame]:
        for frame in self._frames:
            self.seen += 1
            yield frame


def _open(handle: BinaryIO, name: str) -> av.container.InputContainer:
    """The core's sandboxed opener: no protocols, so a playlist reaches no other file."""
    try:
        container: av.container.InputContainer = open_av_container(handle)
    except (av.FFmpegError, OSError) as exc:
        raise VpdqError(f"cannot read {name!r} as a video: {exc}") from exc
    return container


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    if not is_video_demuxer(container.format.name):
        raise VpdqError(f"{name!r} is a still image or text ({container.format.name}), not a video")
    stills = av.stream.Disposition.attached_pic | av.stream.Disposition.still_image
    found = [s for s in container.streams.video if not s.disposition & stills]
    if not found or found[0].codec_context is None:
        raise VpdqError(f"{name!r} has no video stream")
    stream = found[0]
    if stream.codec_context.width < MIN_SIDE or stream.codec_context.height < MIN_SIDE:
        raise VpdqError(f"{name!r}: frames smaller than {MIN_SIDE} pixels cannot be hashed")
    return stream


def _frame_rate(stream: av.video.stream.VideoStream, name: str) -> float:
    """The average frame rate, else the stream's base rate, as the reference reads it."""
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(rate)
    raise VpdqError(f"{name!r} has no frame rate")


def _decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    name: str,
    strict: bool,
) -> Iterator[VideoFrame]:
    """Every decoded frame; undecodable packets are skipped and a read error ends the stream,
    as ffmpeg does, unless ``strict``."""
    skipped = 0
    for packet in _until_read_error(container.demux(stream), name, strict):
        try:
            yield from stream.decode(packet)
        except av.FFmpegError as exc:
            if strict:
                raise VpdqError(f"undecodable packet in {name!r}: {exc}") from exc
            skipped += 1
    if skipped:
        _log.warning("skipped %d undecodable packet(s) in %r", skipped, name)


def _until_read_error(
    packets: Iterator[av.Packet[Any]], name: str, strict: bool
) -> Iterator[av.Packet[Any]]:
    """The packets up to a read error, which ends them (or, if ``strict``, is raised)."""
    try:
        yield from packets
    except (av.FFmpegError, OSError) as exc:
        if strict:
            raise VpdqError(f"read error in {name!r}: {exc}") from exc
        _log.warning("read error in %r, hashing the frames before it", name)


class FrameScaler:
    """One reusable swscale context to RGB24 at the stream's size or a requested one."""

    def __init__(
        self, name: str, stream: av.video.stream.VideoStream, size: tuple[int, int] | None
    ) -> None:
        self._name = name
        self._reformatter = VideoReformatter()
        context = stream.codec_context
        width, height = size or (context.width, context.height)
        self._reformat = partial(
            self._reformatter.reformat,
            width=width,
            height=height,
            format="rgb24",
            interpolation=(Interpolation.LANCZOS if size else Interpolation.AREA)
            | ACCURATE_ROUNDING,
            threads=1,
        )

    def rgb(self, frame: VideoFrame) -> NDArray[np.uint8]:
        """The frame as an (height, width, 3) uint8 array."""
        try:
            scaled = self._reformat(frame)
        except av.FFmpegError as exc:
            raise VpdqError(f"cannot convert a frame of {self._name!r} to RGB: {exc}") from exc
        return np.ascontiguousarray(scaled.to_ndarray(), dtype=np.uint8)
