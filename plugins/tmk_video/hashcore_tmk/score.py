"""Comparing TMK+PDQF features: level 1 (averages) and level 2 (temporal match).

Level 2 is, per period T, the best over all T circular offsets of a degree-31 trigonometric
polynomial. The polynomial's cos part is even and its sin part odd in the offset, so only
offsets 0..(T-1)/2 are evaluated: K(o) = E(o) + O(o) and K(T-o) = E(o) - O(o), whose larger
value is E(o) + |O(o)|. The cos/sin tables for those offsets are built once per process, and
the evaluation is one matrix product per period for any number of candidates.
"""

from __future__ import annotations

from functools import cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hashcore_tmk.constants import FEATURE_DIM, FOURIER_COEFFS, NUM_COEFFS, NUM_PERIODS, PERIODS
from hashcore_tmk.errors import TmkError
from hashcore_tmk.feature import TmkFeature
from hashcore_tmk.tables import unit_circle

LEVEL2_NORMALIZER: Final[float] = float(
    FOURIER_COEFFS[0].astype(np.float64) + 2.0 * FOURIER_COEFFS[1:].astype(np.float64).sum()
)
"""a_0 + 2 * sum_{j>=1} a_j (about 1.9291958): level 2 of a video against itself."""

MATCH_THRESHOLD: Final[float] = 0.7
"""The reference's relaxed threshold for both levels (inclusive); 0.9+ for near-exact copies."""

_BATCH: Final[int] = 128
"""Candidates scored per matrix product in ``level2_many`` (bounds temporary memory)."""

_SHAPE: Final[tuple[int, int, int]] = (NUM_PERIODS, NUM_COEFFS, FEATURE_DIM)
_ROWS: Final[int] = NUM_PERIODS * NUM_COEFFS


@cache
def _offset_tables(period: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """cos(j*d), sin(j*d) for d = 2*pi*o/T, o = 0..(T-1)/2, j = 1..31: float32 (H, 31)."""
    offsets = np.arange(period // 2 + 1, dtype=np.int64)[:, None]
    coefs = np.arange(1, NUM_COEFFS, dtype=np.int64)[None, :]
    cos_table, sin_table = unit_circle(period)
    index = (offsets * coefs) % period
    cos = np.ascontiguousarray(cos_table[index], dtype=np.float32)
    sin = np.ascontiguousarray(sin_table[index], dtype=np.float32)
    cos.setflags(write=False)
    sin.setflags(write=False)
    return cos, sin


def offset_tables() -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    """Build (once) and return the per-period offset tables; call early to warm up."""
    return [_offset_tables(period) for period in PERIODS]


def level1(a: TmkFeature, b: TmkFeature) -> float:
    """Cosine similarity of the two average features (0 if either is all zeros)."""
    x = a.average.astype(np.float64)
    y = b.average.astype(np.float64)
    norms = float(np.linalg.norm(x) * np.linalg.norm(y))
    if norms == 0.0:
        return 0.0
    return float(np.dot(x, y) / norms)


def normalized_average(feature: TmkFeature) -> NDArray[np.float32]:
    """L2-normalised average (zero stays zero), for an inner-product level-1 pre-filter."""
    x = feature.average.astype(np.float64)
    norm = float(np.linalg.norm(x))
    if norm == 0.0:
        return np.zeros(FEATURE_DIM, dtype=np.float32)
    return (x / norm).astype(np.float32)


def level1_many(query: TmkFeature, averages: NDArray[np.floating]) -> NDArray[np.float64]:
    """Level 1 of ``query`` against N raw (not normalised) averages of shape (N, 256)."""
    averages = np.asarray(averages)
    if averages.ndim != 2 or averages.shape[1] != FEATURE_DIM:
        raise TmkError(f"averages must have shape (N, {FEATURE_DIM}), got {averages.shape}")
    q = normalized_average(query).astype(np.float64)
    x = averages.astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    dots = x @ q
    out: NDArray[np.float64] = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return out


def level2(a: TmkFeature, b: TmkFeature) -> float:
    """Best temporally-aligned match of the two features, about [0, 1]; a video vs itself is 1."""
    return float(level2_many(a, b.cos[None], b.sin[None])[0])


def level2_many(
    query: TmkFeature,
    candidates_cos: NDArray[np.float32],
    candidates_sin: NDArray[np.float32],
) -> NDArray[np.float64]:
    """Level 2 of ``query`` against N candidates given as stacked cos/sin arrays (N, 4, 32, 256).

    Same value as ``level2`` for each candidate, computed in a few matrix products per batch.
    """
    c_cos = np.asarray(candidates_cos)
    c_sin = np.asarray(candidates_sin)
    if c_cos.ndim != 4 or c_cos.shape[1:] != _SHAPE or c_sin.shape != c_cos.shape:
        raise TmkError(
            f"candidate arrays must both have shape (N, {', '.join(map(str, _SHAPE))}), "
            f"got {c_cos.shape} and {c_sin.shape}"
        )
    n = len(c_cos)
    out = np.empty(n, dtype=np.float64)
    # Query (cos, sin) side by side: one pass over each candidate array yields two dot products.
    query_pair = np.stack(
        [query.cos.reshape(_ROWS, FEATURE_DIM), query.sin.reshape(_ROWS, FEATURE_DIM)], axis=-1
    )
    for start in range(0, n, _BATCH):
        stop = min(start + _BATCH, n)
        out[start:stop] = _level2_batch(
            query_pair,
            np.asarray(c_cos[start:stop], dtype=np.float32),
            np.asarray(c_sin[start:stop], dtype=np.float32),
        )
    return out


def _level2_batch(
    query_pair: NDArray[np.float32], c_cos: NDArray[np.float32], c_sin: NDArray[np.float32]
) -> NDArray[np.float64]:
    n = len(c_cos)
    # (rows, n, 2) dot products over the 256 dimensions, rows = (period, coefficient).
    with_cos = np.matmul(c_cos.reshape(n, _ROWS, FEATURE_DIM).transpose(1, 0, 2), query_pair)
    with_sin = np.matmul(c_sin.reshape(n, _ROWS, FEATURE_DIM).transpose(1, 0, 2), query_pair)
    cc, sc = with_cos[..., 0], with_cos[..., 1]  # cosQ.cosC, sinQ.cosC
    cs, ss = with_sin[..., 0], with_sin[..., 1]  # cosQ.sinC, sinQ.sinC
    even = (cc + ss).reshape(NUM_PERIODS, NUM_COEFFS, n)
    odd = (sc - cs).reshape(NUM_PERIODS, NUM_COEFFS, n)
    constant = cc.reshape(NUM_PERIODS, NUM_COEFFS, n)[:, 0, :]
    best = np.full(n, -np.inf, dtype=np.float64)
    for p, period in enumerate(PERIODS):
        cos_t, sin_t = _offset_tables(period)
        k = cos_t @ even[p, 1:]  # (H, n) even part at offsets 0..(T-1)/2
        o = sin_t @ odd[p, 1:]  # odd part
        np.abs(o, out=o)
        k += o
        np.maximum(best, k.max(axis=0) + constant[p], out=best)
    result: NDArray[np.float64] = best / LEVEL2_NORMALIZER
    return result
