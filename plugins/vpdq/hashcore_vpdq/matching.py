"""python-threatexchange's vPDQ matching rule, for one pair of features.

Both sides are first *prepared* as pytx prepares them: frames below quality 50 are dropped,
then repeated hashes (keeping the first). A query frame is matched when some banked frame is
within 31 bits, and the other way round; the query-matched percentage is the share of the
query's prepared frames matched, the banked-matched percentage the share of the banked
video's. pytx's index reports a match when the query-matched percentage reaches 80 and the
banked-matched one reaches 0 (``VPDQ_QUERY_MATCH_THRESHOLD_PERCENT``,
``VPDQ_INDEX_MATCH_THRESHOLD_PERCENT``): a clip of a longer banked video matches, since all its
frames are found, although few of the banked video's are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hashcore_vpdq.feature import VpdqFeature

DISTANCE_THRESHOLD = 31
QUALITY_THRESHOLD = 50
QUERY_MATCH_PERCENT = 80.0
BANKED_MATCH_PERCENT = 0.0


@dataclass(frozen=True)
class Prepared:
    """A feature's frames that take part in matching: quality >= 50, first of each hash."""

    hashes: NDArray[np.uint8]
    ms: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.hashes.shape[0])


def prepare(feature: VpdqFeature, quality: int = QUALITY_THRESHOLD) -> Prepared:
    keep = feature.quality >= quality
    hashes, ms = feature.hashes[keep], feature.ms[keep]
    if not hashes.shape[0]:
        return Prepared(hashes, ms)
    _, first = np.unique(hashes.view(np.dtype((np.void, hashes.shape[1]))), return_index=True)
    first = np.sort(first)
    return Prepared(hashes[first], ms[first])


@dataclass(frozen=True)
class VpdqMatch:
    """How a query video compares with a banked one."""

    query_percent: float
    """Share of the query's prepared frames within the distance of some banked frame."""
    banked_percent: float
    """Share of the banked video's prepared frames within the distance of some query frame."""
    query_frames: int
    """The query's prepared frames (the percentages' denominators: frames compared)."""
    banked_frames: int
    query_segment: tuple[float, float] | None
    """Seconds of the first and last matched query frame; None when nothing matched."""
    banked_segment: tuple[float, float] | None

    def is_match(
        self,
        query_percent: float = QUERY_MATCH_PERCENT,
        banked_percent: float = BANKED_MATCH_PERCENT,
    ) -> bool:
        """pytx's rule: both percentages at least their thresholds, and some frame matched."""
        return (
            self.query_segment is not None
            and self.query_percent >= query_percent
            and self.banked_percent >= banked_percent
        )

    def figures(self) -> dict[str, float]:
        """The match as ``SignalHit.detail`` shows it (segments in seconds; -1 if none)."""
        q = self.query_segment or (-1.0, -1.0)
        b = self.banked_segment or (-1.0, -1.0)
        return {
            "query_percent": self.query_percent,
            "banked_percent": self.banked_percent,
            "query_frames": float(self.query_frames),
            "banked_frames": float(self.banked_frames),
            "query_start": q[0],
            "query_end": q[1],
            "banked_start": b[0],
            "banked_end": b[1],
        }


def distances(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Hamming distances between every row of ``a`` and every row of ``b`` (32-byte hashes)."""
    wa = np.ascontiguousarray(a).view(np.uint64)
    wb = np.ascontiguousarray(b).view(np.uint64)
    total = np.zeros((wa.shape[0], wb.shape[0]), np.int64)
    for word in range(wa.shape[1]):
        total += np.bitwise_count(wa[:, word, None] ^ wb[None, :, word])
    return total


def summarise(
    query: Prepared, banked: Prepared, query_hit: NDArray[np.bool_], banked_hit: NDArray[np.bool_]
) -> VpdqMatch:
    """A :class:`VpdqMatch` from which prepared frames on each side found a partner."""
    return VpdqMatch(
        100.0 * int(query_hit.sum()) / len(query) if len(query) else 0.0,
        100.0 * int(banked_hit.sum()) / len(banked) if len(banked) else 0.0,
        len(query),
        len(banked),
        _segment(query.ms[query_hit]),
        _segment(banked.ms[banked_hit]),
    )


def _segment(ms: NDArray[np.int64]) -> tuple[float, float] | None:
    if not ms.shape[0]:
        return None
    return int(ms.min()) / 1000, int(ms.max()) / 1000


def match_features(
    query: VpdqFeature,
    banked: VpdqFeature,
    *,
    distance: int = DISTANCE_THRESHOLD,
    quality: int = QUALITY_THRESHOLD,
) -> VpdqMatch:
    """Compare two features by pytx's rule (brute force: the index's oracle)."""
    return compare_prepared(prepare(query, quality), prepare(banked, quality), distance)


def compare_prepared(q: Prepared, b: Prepared, distance: int = DISTANCE_THRESHOLD) -> VpdqMatch:
    """:func:`match_features` on frames already prepared."""
    close: NDArray[np.bool_] = distances(q.hashes, b.hashes) <= distance
    query_hit: NDArray[np.bool_] = np.any(close, axis=1)
    banked_hit: NDArray[np.bool_] = np.any(close, axis=0)
    return summarise(q, b, query_hit, banked_hit)
