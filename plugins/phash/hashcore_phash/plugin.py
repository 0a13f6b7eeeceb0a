"""pHash via ``imagehash.phash``; the hex is exactly what ``str(imagehash.phash(img))`` prints."""

from __future__ import annotations

from typing import ClassVar

import imagehash

import hashcore
from hashcore import BitSignalType, ContentKind, Media, Signal, bits_to_bytes

DEFAULT_THRESHOLD = 8
"""Hamming distance at which two pHashes are taken as the same picture (see docs/thresholds.md)."""


class PhashSignal(BitSignalType):
    name: ClassVar[str] = "phash"
    description: ClassVar[str] = "pHash 64-bit perceptual image hash (imagehash)"
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})
    bits: ClassVar[int] = 64
    default_threshold: ClassVar[float] = DEFAULT_THRESHOLD

    def hash(self, media: Media) -> Signal:
        image_hash = imagehash.phash(media.rgb_image)
        return Signal(self.name, bits_to_bytes(image_hash.hash.flatten().tolist()))


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [PhashSignal]
