"""The signal model: what every hash algorithm ("signal type") declares and does.

A *signal type* is an algorithm with a stable short name (``pdq``, ``md5``) that partners use
too. A *signal* is one hash value it produced. Values are ``bytes`` everywhere inside hashcore
(and on the wire); the canonical text form (lower-case hex for bit hashes) is only for people and
files. Plugins subclass :class:`SignalType` (or :class:`BitSignalType`) and return the class from
the ``hashcore_signal_types`` hook.
"""

from __future__ import annotations

import binascii
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from hashcore.content import ContentKind
from hashcore.errors import InvalidInput
from hashcore.media import Media


class Metric(StrEnum):
    """How two values of a family compare, which also decides the kind of index it gets."""

    HAMMING = "hamming"  # bit distance; a match is distance <= threshold
    EXACT = "exact"  # byte equality; threshold unused
    SIMILARITY = "similarity"  # a score; a match is score >= threshold


@dataclass(frozen=True, slots=True)
class Signal:
    """One hash value of one family.

    ``quality`` is the algorithm's own confidence (PDQ: 0-100) where it has one; ``usable`` is
    false when the value is too weak to match on (PDQ quality < 50). ``variant`` names a
    transformation of the content (``rot90``) for lookup-time variants.
    """

    type: str
    value: bytes
    quality: int | None = None
    usable: bool = True
    variant: str | None = None


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

    def applies_to(self, kind: ContentKind) -> bool:
        """Whether this algorithm hashes content of ``kind``."""
        return ContentKind.FILE in self.content_kinds or kind in self.content_kinds

    @abstractmethod
    def hash(self, media: Media) -> Signal:
        """Hash a file. Raise :class:`~hashcore.errors.ContentError` with the reason on failure."""

    def hash_variants(self, media: Media) -> list[Signal]:
        """The signals to look up for ``media``: the plain hash unless the family has variants."""
        return [self.hash(media)]

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

    def signal_from_text(self, text: str) -> Signal:
        """A signal parsed from its canonical text (hash-only lookups)."""
        return Signal(self.name, self.parse(text))


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


def hamming_distance(a: bytes, b: bytes) -> int:
    """Number of differing bits between two equal-length byte strings."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def bits_to_bytes(bits: Sequence[int]) -> bytes:
    """Pack a bit vector, first bit most significant (the order python-threatexchange uses)."""
    number = 0
    for bit in bits:
        number = (number << 1) | (1 if bit else 0)
    return number.to_bytes(len(bits) // 8, "big")
