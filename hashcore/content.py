"""Content kinds, and telling them apart by what is inside a file, never by its name."""

from __future__ import annotations

import warnings
from enum import StrEnum
from pathlib import Path

from PIL import Image


class ContentKind(StrEnum):
    """What a file is, as far as hashing goes.

    ``FILE`` is every file: algorithms that apply to it (MD5) hash images and videos too.
    """

    IMAGE = "image"
    VIDEO = "video"
    FILE = "file"


def detect_kind(path: Path) -> ContentKind:
    """Classify a file by decoding its header.

    An image is whatever Pillow recognises; a video is whatever PyAV finds a real video stream in
    (cover art in an audio file does not count). Pillow goes first because FFmpeg also opens
    still images as one-frame "videos".
    """
    if _is_image(path):
        return ContentKind.IMAGE
    if _has_video_stream(path):
        return ContentKind.VIDEO
    return ContentKind.FILE


def _is_image(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image.size  # noqa: B018 - the header parsed; decoding happens later
        return True
    except Image.DecompressionBombError:
        return True  # an image, just too large: the hasher reports it clearly
    except Exception:  # noqa: BLE001 - any decoder failure means "not an image"
        return False


def _has_video_stream(path: Path) -> bool:
    import av  # imported lazily: it is slow to import and only videos need it

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return any(not _is_attached_picture(stream) for stream in container.streams.video)
    except Exception:  # noqa: BLE001 - any demuxer failure means "not a video"
        return False


def _is_attached_picture(stream: object) -> bool:
    import av

    disposition = getattr(stream, "disposition", 0)
    return bool(disposition & av.stream.Disposition.attached_pic)
