"""PDQ, bit-compatible with python-threatexchange and Hasher-Matcher-Actioner.

The picture's image-domain steps run in a compiled kernel (:mod:`hashcore_pdq.kernel`, C built
with the plugin), equal to ``pdqhash.compute`` bit for bit on every picture checked and ~15x
faster (1 MP); ``HASHCORE_IMAGE_PATH=reference`` hashes with ``pdqhash`` itself, the C++
reference python-threatexchange calls (and decodes every picture at full resolution), for
whoever needs that very code path. An install that could not compile the kernel (no C compiler)
hashes with ``pdqhash`` too: the same hashes, several times slower; ``hashcore plugins`` says
so.

The hex form is a big-endian 256-bit number; the bit vector is most significant bit first, as
``pdqhash`` returns it, so packing it in order gives exactly the published reference hashes.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pdqhash

import hashcore
from hashcore import BitSignalType, ContentKind, Media, Signal, bits_to_bytes
from hashcore_pdq import turned

try:
    from hashcore_pdq import kernel
except ImportError:  # built without a C compiler: pdqhash computes the same values
    kernel = None  # type: ignore[assignment]

SOLO_MIN_QUALITY = 50
"""Below this PDQ quality (the published cut-off) a hash is featureless enough to collide with
other featureless pictures: it still matches, but only where another family agrees."""

MIN_USABLE_QUALITY = 1
"""Quality 0 is a picture without a single gradient (one colour): nothing to match on."""

SMALL_SIDE = 64
"""Under 64 px a side, PDQ's 64 samples repeat pixels, and its DCT coefficients tie at the
median (exact zeros), where float rounding picks the bits: such pictures go to ``pdqhash``,
whose rounding is the reference's (it costs microseconds at that size). From 17 px up the
compiled path agreed on every random picture checked; 64 leaves a margin."""

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
        + ("" if kernel else "; no compiled kernel in this install: hashing with pdqhash, slower")
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
        vector, quality = pdq_of_pixels(_pixels(media))
        return self._signal(vector, quality, "orig")

    def hash_variants(self, media: Media) -> list[Signal]:
        """All eight rotations and flips, so a rotated or mirrored copy still matches.

        Each is the hash of the turned pixels (:mod:`hashcore_pdq.turned`), not pdqhash's DCT
        shortcut, which misses a quarter of re-encoded rotations; ``orig`` is :meth:`hash`
        exactly, and every variant carries the picture's quality.
        """
        pixels = _pixels(media)
        if _use_pdqhash(pixels):
            turns = _turned_pixels(pixels)
            computed = {name: pdqhash.compute(turns[name]) for name in DIHEDRAL_VARIANTS}
            quality = int(computed["orig"][1])
            found = {name: vector for name, (vector, _) in computed.items()}
        else:
            buffers = kernel.buffers(pixels, mirrored=True)
            quality = kernel.quality(buffers[0, 0])
            found = turned.from_buffers(buffers)
        return [self._signal(found[variant], quality, variant) for variant in DIHEDRAL_VARIANTS]

    def _signal(self, vector: np.ndarray, quality: int, variant: str) -> Signal:
        return Signal(
            self.name,
            bits_to_bytes(vector),
            quality=quality,
            usable=quality >= MIN_USABLE_QUALITY,
            variant=variant,
        )


def pdq_of_pixels(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ's 256 bits (most significant first, as ``pdqhash`` returns them) and quality of
    H x W x 3 ``uint8`` pixels: the compiled kernel, else ``pdqhash`` (the same values). For
    other families built on PDQ, such as vPDQ's frames."""
    if _use_pdqhash(pixels):
        vector, quality = pdqhash.compute(np.ascontiguousarray(pixels))
        return vector, int(quality)
    buffer = kernel.buffers(pixels)[0, 0]
    return turned.bits(buffer), kernel.quality(buffer)


def _pixels(media: Media) -> np.ndarray:
    return media.rgb_array


def compiled_kernel() -> bool:
    """Whether this install has the compiled kernel (else every picture goes to ``pdqhash``)."""
    return kernel is not None


def _use_pdqhash(pixels: np.ndarray) -> bool:
    """Whether ``pdqhash`` hashes this picture: on the reference path, without the compiled
    kernel, and under :data:`SMALL_SIDE`."""
    return kernel is None or hashcore.reference_hashing() or min(pixels.shape[:2]) < SMALL_SIDE


def _turned_pixels(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The picture turned each way, by pdqhash variant name (``rot90`` is ``numpy.rot90``)."""
    turns = {
        "orig": pixels,
        "rot90": np.rot90(pixels, 1),
        "rot180": pixels[::-1, ::-1],
        "rot270": np.rot90(pixels, -1),
        "flipx": pixels[::-1],
        "flipy": pixels[:, ::-1],
        "flipplus1": pixels.transpose(1, 0, 2),
        "flipminus1": pixels[::-1, ::-1].transpose(1, 0, 2),
    }
    return {name: np.ascontiguousarray(turn) for name, turn in turns.items()}


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [PdqSignal]
