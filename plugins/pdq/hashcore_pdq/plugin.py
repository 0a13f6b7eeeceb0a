"""PDQ via ``pdqhash``, bit-compatible with python-threatexchange and Hasher-Matcher-Actioner.

The hex form is a big-endian 256-bit number; ``pdqhash`` returns the bit vector most
significant bit first, so packing it in order gives exactly the published reference hashes.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pdqhash

import hashcore
from hashcore import BitSignalType, ContentKind, Media, Signal, bits_to_bytes

MIN_USABLE_QUALITY = 50
"""Below this PDQ quality a hash is too featureless to match on (the published guidance)."""

DIHEDRAL_VARIANTS = (
    "orig",
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flipplus1",
    "flipminus1",
)
"""Names of ``pdqhash.compute_dihedral``'s eight outputs, in its order."""


class PdqSignal(BitSignalType):
    name: ClassVar[str] = "pdq"
    description: ClassVar[str] = "PDQ 256-bit perceptual image hash (quality < 50 not matched)"
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})
    bits: ClassVar[int] = 256
    default_threshold: ClassVar[float] = 31
    border_variants: ClassVar[bool] = True
    crop_variants: ClassVar[tuple[str, ...]] = (
        "centre90",
        "top80",
        "bottom80",
        "centre90-left",
        "centre90-top",
        "centre90-right",
        "centre90-bottom",
    )
    """Crops and caption bars: see hashcore.crops and docs/crops.md (PDQ alone: pHash's 64 bits
    leave no room for more comparisons per lookup)."""

    def hash(self, media: Media) -> Signal:
        vector, quality = pdqhash.compute(_pixels(media))
        return self._signal(vector, int(quality), "orig")

    def hash_variants(self, media: Media) -> list[Signal]:
        """All eight rotations and flips, so a rotated or mirrored copy still matches."""
        vectors, quality = pdqhash.compute_dihedral(_pixels(media))
        return [
            self._signal(vector, int(quality), variant)
            for vector, variant in zip(vectors, DIHEDRAL_VARIANTS, strict=True)
        ]

    def _signal(self, vector: np.ndarray, quality: int, variant: str) -> Signal:
        return Signal(
            self.name,
            bits_to_bytes(vector.tolist()),
            quality=quality,
            usable=quality >= MIN_USABLE_QUALITY,
            variant=variant,
        )


def _pixels(media: Media) -> np.ndarray:
    return np.asarray(media.rgb_image)


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [PdqSignal]
