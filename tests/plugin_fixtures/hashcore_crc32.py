"""A third-party plugin as someone outside the project would write it: imports only hashcore."""

from __future__ import annotations

import zlib
from typing import ClassVar

import hashcore


class Crc32Signal(hashcore.BitSignalType):
    name: ClassVar[str] = "crc32"
    description: ClassVar[str] = "CRC-32 of the file's bytes (test plugin)"
    content_kinds: ClassVar[frozenset[hashcore.ContentKind]] = frozenset(
        {hashcore.ContentKind.FILE}
    )
    bits: ClassVar[int] = 32
    metric: ClassVar[hashcore.Metric] = hashcore.Metric.EXACT
    default_threshold: ClassVar[float] = 0

    def hash(self, media: hashcore.Media) -> hashcore.Signal:
        crc = zlib.crc32(media.path.read_bytes())
        return hashcore.Signal(self.name, crc.to_bytes(4, "big"))


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [Crc32Signal]
