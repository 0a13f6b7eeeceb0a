"""Streaming MD5: exact matching for any file, including images and videos.

Partners (StopNCII for videos, NCMEC, GIFCT) share MD5s; it recognises only byte-identical
copies, which is why it runs next to the perceptual families, never instead of them.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import hashcore
from hashcore import BitSignalType, ContentError, ContentKind, Media, Metric, Signal

CHUNK_SIZE = 1 << 20
"""Read 1 MiB at a time so a multi-gigabyte video never sits in memory."""


class Md5Signal(BitSignalType):
    name: ClassVar[str] = "md5"
    description: ClassVar[str] = "MD5 of the file's bytes, exact match"
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.FILE})
    bits: ClassVar[int] = 128
    metric: ClassVar[Metric] = Metric.EXACT
    default_threshold: ClassVar[float] = 0

    def hash(self, media: Media) -> Signal:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with media.path.open("rb") as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    digest.update(chunk)
        except OSError as error:
            raise ContentError(f"{media.path}: cannot read: {error.strerror or error}") from error
        return Signal(self.name, digest.digest())


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [Md5Signal]
