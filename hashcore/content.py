"""Content kinds, and telling them apart by what is inside a file, never by its name."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image


class ContentKind(StrEnum):
    """What a file is, as far as hashing goes.

    ``FILE`` is every file: algorithms that apply to it (MD5) hash images and videos too.
    """

    IMAGE = "image"
    VIDEO = "video"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Probe:
    """A file's kind, and why it is not a video when it looked like one."""

    kind: ContentKind
    problem: str | None = None


def detect_kind(path: Path) -> ContentKind:
    """Classify a file by decoding its header (see :func:`probe`)."""
    return probe(path).kind


def probe(path: Path) -> Probe:
    """Classify a file by what decodes, never by its name.

    An image is whatever Pillow recognises; a video is whatever PyAV finds a real video stream in
    (cover art in an audio file does not count). Pillow goes first because FFmpeg also opens
    still images as one-frame "videos". A media container without a decodable video stream is
    a plain file, with ``problem`` saying why, so users learn why no video hash was made.
    """
    opened = _open_image(path)
    if opened is None:
        return Probe(ContentKind.IMAGE)
    if _starts_like_an_image(path):
        reason = getattr(opened, "strerror", None) or opened
        return Probe(
            ContentKind.FILE, f"image file does not open (truncated or corrupt?): {reason}"
        )
    return _probe_video(path)


IMAGE_SIGNATURES = (
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"II*\x00"),  # TIFF, little-endian
    (0, b"MM\x00*"),  # TIFF, big-endian
)
"""Where a picture's first bytes say what it is: a file that starts so but does not open is a
damaged picture (an upload cut short), not "some other file" to hash by MD5 in silence."""


def _starts_like_an_image(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    return _riff_form(head) == b"WEBP" or _signed(head, IMAGE_SIGNATURES)


def _signed(head: bytes, signatures: tuple[tuple[int, bytes], ...]) -> bool:
    """Whether ``head`` (a file's first 16 bytes) carries one of ``(offset, magic)``."""
    return any(head[at : at + len(magic)] == magic for at, magic in signatures)


def _riff_form(head: bytes) -> bytes | None:
    """A RIFF file's form type (``WEBP``, ``AVI ``), None for any other file."""
    return head[8:12] if head[:4] == b"RIFF" else None


NOT_IMAGES = frozenset({"MPEG"})
"""Pillow formats that are really video: Pillow recognises an MPEG header but cannot decode it."""


def _open_image(path: Path) -> Exception | None:
    """None when Pillow opens ``path`` as a picture, else why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                if image.format in NOT_IMAGES:
                    return ValueError(f"{image.format} is a video format")
                return None
    except Image.DecompressionBombError:
        return None  # an image, just too large: the hasher reports it clearly
    except Exception as error:  # noqa: BLE001 - any decoder failure means "not an image"
        return error


def _probe_video(path: Path) -> Probe:
    """A video when a video demuxer finds a real video stream and its first frame decodes.

    FFmpeg guesses demuxers from the file name too ("x.jpg" -> image2), and opens still images
    as one-frame streams, so a stream alone proves nothing: the demuxer must be a video one and
    a frame must decode.
    """
    try:
        handle = path.open("rb")
    except OSError:
        return Probe(ContentKind.FILE)
    with handle:
        head = handle.read(16)
        handle.seek(0)
        try:
            container = open_av_container(handle)
        except Exception as error:  # noqa: BLE001 - a demuxer failure: not a media file, or
            if looks_like_video(head):  # one too damaged to open, which the user is told
                reason = getattr(error, "strerror", None) or error  # not FFmpeg's errno
                return Probe(
                    ContentKind.FILE, f"video file does not open (truncated or corrupt?): {reason}"
                )
            return Probe(ContentKind.FILE)
        with container:
            return _probe_container(container)


VIDEO_SIGNATURES = (
    *((4, box) for box in (b"ftyp", b"moov", b"mdat", b"wide")),  # ISO media: MP4, MOV, M4V
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF: WMV
    (0, b"FLV\x01"),
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
)
"""Where a video container's first bytes say what it is: a file that starts so but does not
open is a damaged video, not "some other file" to hash by MD5 in silence."""


def looks_like_video(head: bytes) -> bool:
    """Whether a file's first 16 bytes are a video container's signature."""
    return _riff_form(head) == b"AVI " or _signed(head, VIDEO_SIGNATURES)


def _probe_container(container: Any) -> Probe:
    if not is_video_demuxer(container.format.name):
        return Probe(ContentKind.FILE)
    streams = [s for s in container.streams.video if not _is_attached_picture(s)]
    if not streams:
        return Probe(
            ContentKind.FILE, "media file without a video stream (audio only, or truncated?)"
        )
    try:
        for _frame in container.decode(streams[0]):
            return Probe(ContentKind.VIDEO)
    except Exception as error:  # noqa: BLE001 - the reason is reported to the user
        return Probe(ContentKind.FILE, f"video stream does not decode: {error}")
    return Probe(ContentKind.FILE, "video stream has no frames (truncated or corrupt?)")


NOT_VIDEO_DEMUXERS = frozenset({"image2", "tty", "bin", "xbin", "adf", "idf"})
"""FFmpeg demuxers that read still pictures or render text (any plain text probes as "tty")."""


def is_video_demuxer(names: str) -> bool:
    """False for FFmpeg's still-image (``image2``, ``*_pipe``) and text-art demuxers."""
    return not any(
        name in NOT_VIDEO_DEMUXERS or name.endswith("_pipe") for name in names.split(",")
    )


def open_av_container(handle: BinaryIO) -> Any:
    """Open an untrusted file for demuxing without letting it reach anything else.

    FFmpeg gets a file object, never a path, so a name is never parsed as a protocol
    (``concat:``, ``http:``), and no protocol is whitelisted, so playlist formats (HLS, DASH,
    concat lists) cannot pull in other local files or URLs.
    """
    import av  # imported lazily: it is slow to import and only videos need it

    return av.open(
        handle,
        mode="r",
        container_options={"protocol_whitelist": "none"},
        metadata_errors="replace",
    )


def _is_attached_picture(stream: object) -> bool:
    import av

    disposition = getattr(stream, "disposition", 0)
    return bool(disposition & av.stream.Disposition.attached_pic)
