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

_TRANSPOSE = DIHEDRAL_VARIANTS.index("flipplus1")

_PIXEL_FLIPS: tuple[tuple[tuple[slice, slice], str, str], ...] = (
    ((slice(None), slice(None)), "orig", "flipplus1"),
    ((slice(None), slice(None, None, -1)), "flipy", "rot90"),
    ((slice(None, None, -1), slice(None)), "flipx", "rot270"),
    ((slice(None, None, -1), slice(None, None, -1)), "rot180", "flipminus1"),
)
"""The four mirror images of the pixels, and what their plain and transposed hashes are.

PDQ's blur and 64x64 sampling are aligned to the top-left corner, so the DCT-domain dihedral
variants ``compute_dihedral`` derives from one picture are only near the hash of the turned
picture: 6-10 bits off a median on the robustness corpus, 32-92 bits for a quarter of the
pictures once the turned copy is re-encoded (rot180 missed 77 of 301 at the threshold). A
transpose keeps the alignment, so it is exact; hashing the four mirror images and taking each
one's plain and transposed output gives all eight orientations exactly."""


class PdqSignal(BitSignalType):
    name: ClassVar[str] = "pdq"
    description: ClassVar[str] = (
        "PDQ 256-bit perceptual image hash (quality < 50 only seconds another family)"
    )
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})
    bits: ClassVar[int] = 256
    default_threshold: ClassVar[float] = 31
    solo_min_quality: ClassVar[int | None] = SOLO_MIN_QUALITY
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

        Each is the hash of the turned pixels (see ``_PIXEL_FLIPS``), not the DCT shortcut: four
        PDQ computations instead of one, for lookups only. ``orig`` is :meth:`hash` exactly.
        """
        pixels = _pixels(media)
        found: dict[str, Signal] = {}
        quality: int | None = None  # the picture's, from its plain hash: one verdict for all
        for rows_cols, plain, transposed in _PIXEL_FLIPS:
            flipped = np.ascontiguousarray(pixels[rows_cols])
            vectors, own_quality = pdqhash.compute_dihedral(flipped)
            quality = int(own_quality) if quality is None else quality
            found[plain] = self._signal(vectors[0], quality, plain)
            found[transposed] = self._signal(vectors[_TRANSPOSE], quality, transposed)
        return [found[variant] for variant in DIHEDRAL_VARIANTS]

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
