"""The signal model: what every hash algorithm ("signal type") declares and does.

A *signal type* is an algorithm with a stable short name (``pdq``, ``md5``) that partners use
too. A *signal* is one hash value it produced. Values are ``bytes`` everywhere inside hashcore
(and on the wire); the canonical text form (lower-case hex for bit hashes) is only for people and
files. Plugins subclass :class:`SignalType` (or :class:`BitSignalType`) and return the class from
the ``hashcore_signal_types`` hook.
"""

from __future__ import annotations

import binascii
import functools
import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from hashcore.content import ContentKind
from hashcore.crops import BANKED
from hashcore.errors import InvalidInput, PluginError
from hashcore.media import TRIMMED, TRIMMED_STRICT, Media

if TYPE_CHECKING:
    from hashcore.index.base import SignalIndex

IDENTITY_VARIANTS = frozenset({"orig", "original"})
"""Variant names that mean "the picture as it is" (PDQ's dihedral ``orig``)."""

DERIVED_VARIANTS = frozenset({TRIMMED, TRIMMED_STRICT, *BANKED})
"""Variants naming another picture made from the file (its trimmed form, a banked standard crop
such as ``centre90``), rather than a lookup-time transformation of the same picture: the only
variants a store keeps."""


NEVER_ALONE = float("-inf")
"""A ``solo_threshold`` no result meets: the family only ever seconds another family's match."""


class Metric(StrEnum):
    """How two values of a family compare, which also decides the kind of index it gets."""

    HAMMING = "hamming"  # bit distance; a match is distance <= threshold
    EXACT = "exact"  # byte equality; threshold unused
    SIMILARITY = "similarity"  # a score; a match is score >= threshold


@dataclass(frozen=True, slots=True)
class Signal:
    """One hash value of one family.

    ``quality`` is the algorithm's own confidence (PDQ: 0-100) where it has one; ``usable`` is
    false when the value is too weak to match on at all (PDQ quality 0: a blank picture); a
    usable value below the family's ``solo_min_quality`` only seconds another family.
    ``variant`` names a transformation of the content (``rot90``) for lookup-time variants, and
    the picture hashed when it is not the file as it is: ``trimmed`` (borders cut off),
    ``trimmed+rot90``.
    """

    type: str
    value: bytes
    quality: int | None = None
    usable: bool = True
    variant: str | None = None

    def __reduce__(self) -> tuple[Callable[..., Signal], tuple[object, ...]]:
        """Pickled as its constructor's arguments: every hashed file's signals cross a pipe
        from a hashing process, and the frozen dataclass's default ``__setstate__`` looked its
        fields up again for each one (twice the time, ~1.5 us a signal). The arguments are
        every field, in order (:data:`_signal_arguments`), so a new field travels too."""
        return (Signal, _signal_arguments(self))


_signal_arguments = operator.attrgetter(*(field.name for field in fields(Signal)))


class SignalType(ABC):
    """The contract of a hash algorithm. Subclass it, fill the class attributes, implement."""

    name: ClassVar[str]
    """Stable short name, lower-case, as partners spell it (``pdq``, ``md5``, ``tmk_pdqf``)."""

    content_kinds: ClassVar[frozenset[ContentKind]]
    """The content kinds it hashes; ``ContentKind.FILE`` means every file."""

    metric: ClassVar[Metric]
    """How values compare; decides the index family."""

    default_threshold: ClassVar[float]
    """Default match threshold: a distance for HAMMING, a score for SIMILARITY, 0 for EXACT."""

    description: ClassVar[str] = ""
    """One line for ``hashcore plugins``."""

    border_variants: ClassVar[bool] = False
    """Image families: also hash the picture with its uniform borders cut off, when it has
    some (:mod:`hashcore.borders`), as variant ``trimmed``: looked up beside the plain hash, and
    banked beside it in the same entry. For algorithms that read ``media.rgb_image``."""

    crop_variants: ClassVar[tuple[str, ...]] = ()
    """Image families: standard crops (:data:`hashcore.crops.CROPS`) also hashed, so cropped
    and captioned copies match: ``crops.BANKED`` ones (``centre90``, ``top80``, ``bottom80``)
    when a file is hashed or banked, stored in the same entry; ``crops.LOOKUP_ONLY`` ones
    (``centre90-right``...) only for lookups. Each is hashed with :meth:`hash` (no lookup
    variants) from ``media.cropped(name)``. For algorithms that read ``media.rgb_image``."""

    solo_threshold: ClassVar[float | None] = None
    """The loosest result that matches on this family's word alone (``None``: the threshold;
    :data:`NEVER_ALONE`: none, as for pHash).

    A hit between this and the threshold in force still counts, but only for an entry that
    another family recognises too: a weak family's loose matches are where accidental matches
    at scale come from (pHash: docs/thresholds.md)."""

    solo_min_quality: ClassVar[int | None] = None
    """Values whose quality (query or banked) is below this match like hits beyond the
    ``solo_threshold``: only for an entry another family recognises too, and they add nothing
    to the match's confidence (``None``: quality never weakens a hit). PDQ: 50, its published
    cut-off; quality 1-49 hashes (smooth gradients, dark skies) still find their own picture
    but cluster (docs/thresholds.md)."""

    weak_threshold: ClassVar[float | None] = None
    """The loosest result at which a weak value's hit (see ``solo_min_quality``) counts at all
    (``None``: the threshold in force). Featureless pictures cluster, so two of them edited
    can come as near as a loose threshold; PDQ: 16 (docs/thresholds.md)."""

    def is_weak(self, quality: int | None) -> bool:
        """Whether a value of this ``quality`` may only second another family's match."""
        floor = self.solo_min_quality
        return floor is not None and quality is not None and quality < floor

    def applies_to(self, kind: ContentKind) -> bool:
        """Whether this algorithm hashes content of ``kind``."""
        return ContentKind.FILE in self.content_kinds or kind in self.content_kinds

    @abstractmethod
    def hash(self, media: Media) -> Signal:
        """Hash a file. Raise :class:`~hashcore.errors.ContentError` with the reason on failure."""

    def hash_variants(self, media: Media) -> list[Signal]:
        """The signals to look up for ``media``: the plain hash unless the family has variants."""
        return [self.hash(media)]

    def warm_up(self) -> None:
        """Load now what the first :meth:`hash` would load (compiled kernels, lazy imports), so
        no request waits for it: the server calls it before it reports ready, and each hashing
        worker process before its first file. The default loads nothing."""
        return None

    @abstractmethod
    def parse(self, text: str) -> bytes:
        """Canonical text to value bytes; :class:`~hashcore.errors.InvalidInput` if malformed."""

    @abstractmethod
    def format(self, value: bytes) -> str:
        """Value bytes to canonical text."""

    @abstractmethod
    def validate(self, value: bytes) -> bytes:
        """Check raw value bytes (from the wire or a store) and return them, or raise."""

    @abstractmethod
    def compare(self, a: bytes, b: bytes) -> float:
        """Distance (HAMMING, EXACT: 0 or 1) or similarity (SIMILARITY) of two values."""

    def is_match(self, score: float, threshold: float | None = None) -> bool:
        """Whether a :meth:`compare` result is a match at ``threshold`` (default if None)."""
        limit = self.default_threshold if threshold is None else threshold
        if self.metric is Metric.SIMILARITY:
            return score >= limit
        if self.metric is Metric.EXACT:
            return score == 0
        return score <= limit

    def accidental_probability(self, score: float) -> float | None:
        """The chance that an unrelated value compares at least this close (``None``: unknown).

        Feeds a match's confidence; the default knows nothing, bit hashes use the binomial law.
        """
        return None

    def signal_from_text(self, text: str) -> Signal:
        """A signal parsed from its canonical text (hash-only lookups)."""
        return Signal(self.name, self.parse(text))

    def describe_hits(
        self, index: SignalIndex, query: bytes, value_ids: Sequence[int]
    ) -> Sequence[Mapping[str, float]] | None:
        """Figures that say more about a hit than its score, one mapping per value id found
        for ``query`` (vPDQ: both matched percentages, the frames compared, the matched
        segments); shown as ``SignalHit.detail``. Called within the lookup's read of ``index``.
        Default ``None``: the score says it all."""
        return None

    def create_index(self) -> SignalIndex:
        """A new, empty index for this family's values (the engine keeps one per family).

        :class:`BitSignalType` gives one from the metric (HAMMING: a Hamming range index, EXACT:
        a sorted-array equality index); any other family, and every SIMILARITY one, returns its
        own :class:`~hashcore.index.base.SignalIndex` subclass.
        """
        raise PluginError(
            f"{self.name}: {self.metric} signal types must provide create_index() "
            "returning a SignalIndex"
        )


class BitSignalType(SignalType):
    """A fixed-length bit hash written as lower-case hex: PDQ, pHash, MD5 and the like."""

    bits: ClassVar[int]
    """Hash length in bits (a multiple of 8)."""

    metric: ClassVar[Metric] = Metric.HAMMING

    @property
    def nbytes(self) -> int:
        return self.bits // 8

    def parse(self, text: str) -> bytes:
        if not isinstance(text, str):
            raise InvalidInput(f"{self.name}: expected hex text, got {type(text).__name__}")
        cleaned = text.strip().lower()
        want = self.bits // 4
        if len(cleaned) != want:
            raise InvalidInput(
                f"{self.name}: expected {want} hex characters, got {len(cleaned)}", field="value"
            )
        try:
            return binascii.unhexlify(cleaned)  # hex digits only: no regex pass needed
        except ValueError:  # binascii.Error, or text that is not ASCII
            raise InvalidInput(
                f"{self.name}: not hexadecimal: {cleaned[:80]!r}", field="value"
            ) from None

    def format(self, value: bytes) -> str:
        return self.validate(value).hex()

    def validate(self, value: bytes) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise InvalidInput(f"{self.name}: expected bytes, got {type(value).__name__}")
        value = bytes(value)
        if len(value) != self.nbytes:
            raise InvalidInput(
                f"{self.name}: expected {self.nbytes} bytes, got {len(value)}", field="value"
            )
        return value

    def compare(self, a: bytes, b: bytes) -> float:
        if self.metric is Metric.EXACT:
            return 0.0 if self.validate(a) == self.validate(b) else 1.0
        return float(hamming_distance(self.validate(a), self.validate(b)))

    def create_index(self) -> SignalIndex:
        """HAMMING: a :class:`~hashcore.index.hamming.HammingIndex` of ``bits``; EXACT: an
        :class:`~hashcore.index.exact.ExactIndex` of ``bits / 8`` bytes. SIMILARITY bit hashes
        must still bring their own (the base class's error)."""
        # Imported here: the indexes pull in FAISS and numba, which ``import hashcore`` (every
        # CLI start, every plugin) should not pay for.
        from hashcore.index.exact import ExactIndex
        from hashcore.index.hamming import HammingIndex

        if self.metric is Metric.SIMILARITY:
            return super().create_index()
        bits = self.bits
        if not isinstance(bits, int) or bits <= 0 or bits % 8:
            raise PluginError(
                f"{self.name}: {self.metric} signal types need `bits`, "
                f"a positive multiple of 8 (got {bits!r})"
            )
        return HammingIndex(bits) if self.metric is Metric.HAMMING else ExactIndex(bits // 8)

    def accidental_probability(self, score: float) -> float | None:
        """For uniformly random codes: ``P(Binomial(bits, 1/2) <= distance)``; ``2**-bits`` exact.

        Real perceptual hashes cluster more than uniform codes, so a family may override this
        with a measured law; this is the floor any ``bits``-bit hash can claim.
        """
        if self.metric is Metric.EXACT:
            return 2.0**-self.bits if score == 0 else 1.0
        return uniform_hamming_tail(self.bits, int(score))


@functools.cache
def uniform_hamming_tail(bits: int, distance: int) -> float:
    """``P(d <= distance)`` between two independent uniformly random ``bits``-bit codes."""
    if distance < 0:
        return 0.0
    return min(1.0, sum(math.comb(bits, k) for k in range(min(distance, bits) + 1)) / 2.0**bits)


def derived_variant(picture: str, variant: str | None) -> str:
    """The variant name of ``variant`` applied to a derived ``picture``: ``trimmed``,
    ``trimmed+rot90``."""
    if variant is None or variant in IDENTITY_VARIANTS:
        return picture
    return f"{picture}+{variant}"


def stored_variant(variant: str | None) -> str | None:
    """What a store keeps of a banked signal's variant: a derived picture's name
    (``trimmed``), or None for the file as it is (lookup-time names such as PDQ's ``orig``
    describe the query, not the banked file)."""
    if variant is None or variant.split("+", 1)[0] not in DERIVED_VARIANTS:
        return None
    return variant


def hamming_distance(a: bytes, b: bytes) -> int:
    """Number of differing bits between two equal-length byte strings."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def bits_to_bytes(bits: Sequence[int] | npt.NDArray[Any]) -> bytes:
    """Pack a bit vector, first bit most significant (the order python-threatexchange uses);
    any true value is a 1. A numpy array is packed by numpy (~1 us for PDQ's 256 bits, against
    ~17 us bit by bit from a list). The length is a whole number of bytes."""
    if isinstance(bits, np.ndarray) and bits.size % 8 == 0:
        return np.packbits(bits.reshape(-1).astype(bool)).tobytes()
    number = 0
    for bit in bits:
        number = (number << 1) | (1 if bit else 0)
    return number.to_bytes(len(bits) // 8, "big")
