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
from hashcore_pdq import turned

SOLO_MIN_QUALITY = 50
"""Below this PDQ quality (the published cut-off) a hash is featureless enough to collide with
other featureless pictures: it still matches, but only where another family agrees."""

MIN_USABLE_QUALITY = 1
"""Quality 0 is a picture without a single gradient (one colour): nothing to match on."""

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
"""Names of ``pdqhash.compute_dihedral``'s eight outputs, in its order: output ``k`` is the hash
of the picture turned by that transformation (``flipplus1`` is the transpose)."""


class PdqSignal(BitSignalType):
    name: ClassVar[str] = "pdq"
    description: ClassVar[str] = (
        "PDQ 256-bit perceptual image hash (quality < 50 only seconds another family)"
    )
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})
    bits: ClassVar[int] = 256
    default_threshold: ClassVar[float] = 31
    solo_min_quality: ClassVar[int | None] = SOLO_MIN_QUALITY
    weak_threshold: ClassVar[float | None] = 16
    """Low-quality hits beyond 16 bits are dropped: in the robustness corpus the only false
    matches of the seconding rule came at 24 and 26 bits (two dark galaxy pictures, edited),
    while 91% of low-quality pictures' own edits are within 16 (docs/thresholds.md)."""
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
        """All eight rotations and flips, so a rotated or mirrored copy still matches.

        Each is the hash of the turned pixels (:mod:`hashcore_pdq.turned`), not pdqhash's DCT
        shortcut, which misses a quarter of re-encoded rotations; ``orig`` is :meth:`hash`
        exactly, and every variant carries the picture's quality.
        """
        pixels = _pixels(media)
        vector, quality = pdqhash.compute(pixels)
        turned_bits = turned.orientations(pixels)
        turned_bits["orig"] = vector
        return [
            self._signal(turned_bits[variant], int(quality), variant)
            for variant in DIHEDRAL_VARIANTS
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
