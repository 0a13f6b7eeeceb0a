"""The ``vpdq`` signal type: videos as PDQ hashes of their frames, matched by pytx's rule.

Values are a whole video's feature (:mod:`hashcore_vpdq.feature`); the text form is
python-threatexchange's JSON, so pytx, HMA and ThreatExchange features import unchanged. The
score of a pair is the larger of its query-matched and banked-matched percentages
(:mod:`hashcore_vpdq.matching`); the default threshold 80 keeps pytx's 80%. pytx's index asks
only the query side to reach 80% (a clip of a banked video matches); the larger of the two is
the same test made symmetric, as ``SignalType.compare`` must be, and it also finds a banked clip
inside a longer upload. Both percentages, the frames compared and the matched segments are
what :func:`hashcore_vpdq.match_features` reports for a pair.

Frames: one every 0.1 s by default, or every ``HASHCORE_VPDQ_SECONDS`` (0: every frame; 1:
pytx's default). Not pytx's one a second: two encodes of one video sample different instants at
1 s, and the chair samples' variants then share 16-37% of their frames (31 bits apart at most),
against 82-100% at 0.1 s. A pytx feature at 1 s still matches a banked 0.1 s one (its frames
all find a close banked frame: the query-matched side) and the other way round (the
banked-matched side). ``HASHCORE_VPDQ_PRUNE_BITS`` drops frames within that many bits of the
frame kept before them; ``HASHCORE_VPDQ_MAX_FRAMES`` caps the frames hashed per video.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import hashcore
from hashcore import ContentKind, InvalidInput, Media, Metric, Signal, SignalIndex, SignalType
from hashcore_vpdq.errors import VpdqError
from hashcore_vpdq.feature import VpdqFeature
from hashcore_vpdq.matching import (
    QUERY_MATCH_PERCENT,
    compare_prepared,
    match_features,
    prepare,
)

if TYPE_CHECKING:
    from hashcore_vpdq.index import VpdqIndex

SECONDS_ENV = "HASHCORE_VPDQ_SECONDS"
PRUNE_ENV = "HASHCORE_VPDQ_PRUNE_BITS"
MAX_FRAMES_ENV = "HASHCORE_VPDQ_MAX_FRAMES"
DEFAULT_SECONDS = 0.1
DEFAULT_MAX_FRAMES = 100_000
"""Hashed frames per video (2.8 hours at 0.1 s; a 3.7 MB value): longer videos are refused
with a clear error rather than held for an hour of hashing."""


def hashing_options() -> tuple[float, int | None, int]:
    """Seconds between hashed frames, the pruning distance and the frame cap, from the
    environment."""
    try:
        seconds = float(os.environ.get(SECONDS_ENV, DEFAULT_SECONDS))
        prune_text = os.environ.get(PRUNE_ENV, "").strip()
        prune = int(prune_text) if prune_text else None
        max_frames = int(os.environ.get(MAX_FRAMES_ENV, DEFAULT_MAX_FRAMES))
    except ValueError as error:
        raise InvalidInput(f"{SECONDS_ENV} / {PRUNE_ENV} / {MAX_FRAMES_ENV}: {error}") from None
    if not seconds >= 0 or max_frames < 1:
        raise InvalidInput(f"{SECONDS_ENV} must be 0 or more, {MAX_FRAMES_ENV} 1 or more")
    return seconds, prune, max_frames


class VpdqSignal(SignalType):
    name: ClassVar[str] = "vpdq"
    description: ClassVar[str] = (
        "vPDQ video hash: PDQ per frame (score = best of query- and banked-matched %)"
    )
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.VIDEO})
    metric: ClassVar[Metric] = Metric.SIMILARITY
    default_threshold: ClassVar[float] = QUERY_MATCH_PERCENT

    def hash(self, media: Media) -> Signal:
        from hashcore_vpdq.frames import compute_vpdq  # PyAV loads for videos only

        seconds, prune, max_frames = hashing_options()
        feature = compute_vpdq(
            media.path, seconds_per_hash=seconds, prune_distance=prune, max_frames=max_frames
        )
        return Signal(self.name, feature.to_bytes())

    def parse(self, text: str) -> bytes:
        if not isinstance(text, str):
            raise InvalidInput(f"{self.name}: expected pytx JSON text, got {type(text).__name__}")
        try:
            return VpdqFeature.from_json(text).to_bytes()
        except VpdqError as error:
            raise InvalidInput(f"{self.name}: {error}", field="value") from None

    def format(self, value: bytes) -> str:
        return self.feature(value).to_json()

    def validate(self, value: bytes) -> bytes:
        self.feature(value)
        return bytes(value)

    def feature(self, value: bytes) -> VpdqFeature:
        """The feature a value holds; :class:`InvalidInput` if it is not one."""
        if not isinstance(value, bytes | bytearray | memoryview):
            raise InvalidInput(f"{self.name}: expected bytes, got {type(value).__name__}")
        try:
            return VpdqFeature.from_bytes(bytes(value))
        except VpdqError as error:
            raise InvalidInput(f"{self.name}: {error}", field="value") from None

    def compare(self, a: bytes, b: bytes) -> float:
        """The larger of the two matched percentages (0 when no frame meets)."""
        found = match_features(self.feature(a), self.feature(b))
        if found.query_segment is None:
            return 0.0
        return max(found.query_percent, found.banked_percent)

    def describe_hits(
        self, index: SignalIndex, query: bytes, value_ids: Sequence[int]
    ) -> list[dict[str, float]] | None:
        """Both percentages, the frames compared and the matched segments, per banked value."""
        from hashcore_vpdq.index import VpdqIndex

        if not isinstance(index, VpdqIndex):
            return None
        frames = prepare(self.feature(query))
        found = []
        for value_id in value_ids:
            banked = index.prepared(value_id)
            found.append(compare_prepared(frames, banked).figures() if banked else {})
        return found

    def create_index(self) -> VpdqIndex:
        """The frame index; imported here, as it loads the compiled search (numba, ~0.3 s),
        which commands that search nothing need not pay for."""
        from hashcore_vpdq.index import VpdqIndex

        return VpdqIndex()


@hashcore.hookimpl
def hashcore_signal_types() -> list[type]:
    return [VpdqSignal]
