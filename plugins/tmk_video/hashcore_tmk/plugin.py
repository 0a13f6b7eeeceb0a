"""The ``tmk_pdqf`` signal type: TMK+PDQF video hashes, exact to Meta's reference.

Values are the feature in the reference ``.tmk`` layout (263,344 bytes), the form partners
(NCMEC ``TMK_PDQF``, StopNCII ``VideoTMK``) exchange; the text form is its base64.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, ClassVar

import hashcore
from hashcore import ContentKind, InvalidInput, Media, Metric, Signal, SignalType
from hashcore.cancel import cancellable
from hashcore_tmk.errors import TmkError
from hashcore_tmk.feature import TmkFeature, feature_from_frames
from hashcore_tmk.score import MATCH_THRESHOLD, level1, level2

if TYPE_CHECKING:
    from hashcore_tmk.index import TmkIndex


class TmkSignal(SignalType):
    name: ClassVar[str] = "tmk_pdqf"
    description: ClassVar[str] = "TMK+PDQF video hash (score = min(level-1, level-2))"
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.VIDEO})
    metric: ClassVar[Metric] = Metric.SIMILARITY
    default_threshold: ClassVar[float] = MATCH_THRESHOLD

    def hash(self, media: Media) -> Signal:
        from hashcore_tmk.frames import iter_frames  # PyAV loads for videos only

        # The frame loop stops once the caller's deadline passes (hashcore.cancel).
        frames = cancellable(iter_frames(media.path))
        return Signal(self.name, feature_from_frames(frames).to_bytes())

    def parse(self, text: str) -> bytes:
        if not isinstance(text, str):
            raise InvalidInput(f"{self.name}: expected base64 text, got {type(text).__name__}")
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidInput(f"{self.name}: not base64: {error}", field="value") from None
        return self.validate(raw)

    def format(self, value: bytes) -> str:
        return base64.b64encode(self.validate(value)).decode("ascii")

    def validate(self, value: bytes) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise InvalidInput(f"{self.name}: expected bytes, got {type(value).__name__}")
        try:
            TmkFeature.from_bytes(bytes(value))
        except TmkError as error:
            raise InvalidInput(f"{self.name}: {error.message}", field="value") from None
        return bytes(value)

    def compare(self, a: bytes, b: bytes) -> float:
        """``min(level1, level2)``: at or above the threshold exactly when both levels are."""
        fa = TmkFeature.from_bytes(self.validate(a))
        fb = TmkFeature.from_bytes(self.validate(b))
        return min(level1(fa, fb), level2(fa, fb))

    def create_index(self) -> TmkIndex:
        """The feature index; imported here, as FAISS is slow to load and hashing never
        needs it."""
        from hashcore_tmk.index import TmkIndex

        return TmkIndex()


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [TmkSignal]
