"""Level-1 / level-2 scoring: properties and agreement with a direct evaluation of the doc."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashcore_tmk import (
    TmkError,
    TmkFeature,
    level1,
    level1_many,
    level2,
    level2_many,
    normalized_average,
)
from hashcore_tmk.constants import FOURIER_COEFFS, PERIODS
from hashcore_tmk.feature import TmkAccumulator

Get = Callable[[str], TmkFeature]

REFS = ["chair-19-sd-bar", "chair-orig-22-hd-no-bar", "doorknob-hd-no-bar", "pattern-hd-no-bar"]


def level2_direct(a: TmkFeature, b: TmkFeature) -> float:
    """Level 2 exactly as written in the doc: every offset of every period, float64."""
    a_cos, a_sin = a.cos.astype(np.float64), a.sin.astype(np.float64)
    b_cos, b_sin = b.cos.astype(np.float64), b.sin.astype(np.float64)
    best = -np.inf
    j = np.arange(1, 32)
    for p, period in enumerate(PERIODS):
        cc = np.sum(a_cos[p] * b_cos[p], axis=1)
        ss = np.sum(a_sin[p] * b_sin[p], axis=1)
        sc = np.sum(a_sin[p] * b_cos[p], axis=1)
        cs = np.sum(a_cos[p] * b_sin[p], axis=1)
        d = 2 * np.pi * np.arange(period) / period
        k = (
            cc[0]
            + np.cos(np.outer(d, j)) @ (cc[1:] + ss[1:])
            + np.sin(np.outer(d, j)) @ (sc[1:] - cs[1:])
        )
        best = max(best, float(k.max()))
    a64 = FOURIER_COEFFS.astype(np.float64)
    return best / (a64[0] + 2 * a64[1:].sum())


def random_feature(seed: int, frames: int) -> TmkFeature:
    rng = np.random.default_rng(seed)
    acc = TmkAccumulator()
    base = rng.normal(size=256)
    drift = rng.normal(size=(frames, 256)).cumsum(axis=0) * 0.3
    acc.add((base + drift).astype(np.float32))
    return acc.finish()


def test_self_score_is_one(ref_feature: Get) -> None:
    for stem in REFS:
        feature = ref_feature(stem)
        assert level1(feature, feature) == pytest.approx(1.0, abs=1e-6)
        assert level2(feature, feature) == pytest.approx(1.0, abs=1e-5)


def test_symmetry_and_direct_agreement(ref_feature: Get) -> None:
    for a in REFS:
        for b in REFS:
            fa, fb = ref_feature(a), ref_feature(b)
            assert level1(fa, fb) == pytest.approx(level1(fb, fa), abs=1e-12)
            assert level2(fa, fb) == pytest.approx(level2(fb, fa), abs=1e-6)
            assert level2(fa, fb) == pytest.approx(level2_direct(fa, fb), abs=1e-5)


def test_level2_many_agrees_with_level2(ref_feature: Get) -> None:
    features = [ref_feature(stem) for stem in REFS] * 70  # 280 candidates: several batches
    cos = np.stack([f.cos for f in features])
    sin = np.stack([f.sin for f in features])
    query = ref_feature("chair-20-sd-bar")
    many = level2_many(query, cos, sin)
    assert many.shape == (len(features),)
    single = [level2(query, ref_feature(stem)) for stem in REFS]
    np.testing.assert_allclose(many, single * 70, atol=1e-6)
    averages = np.stack([f.average for f in features])
    np.testing.assert_allclose(
        level1_many(query, averages), [level1(query, f) for f in features], atol=1e-6
    )


def test_level2_many_empty_and_bad_shapes(ref_feature: Get) -> None:
    query = ref_feature("chair-19-sd-bar")
    empty = np.zeros((0, 4, 32, 256), dtype=np.float32)
    assert level2_many(query, empty, empty).shape == (0,)
    with pytest.raises(TmkError):
        level2_many(query, query.cos, query.sin)
    with pytest.raises(TmkError):
        level2_many(query, query.cos[None], query.sin[None, :, :16])
    with pytest.raises(TmkError):
        level1_many(query, query.average)


@settings(max_examples=15, deadline=None)
@given(
    seed_a=st.integers(0, 2**32 - 1),
    seed_b=st.integers(0, 2**32 - 1),
    frames_a=st.integers(1, 300),
    frames_b=st.integers(1, 300),
)
def test_random_features_match_direct(
    seed_a: int, seed_b: int, frames_a: int, frames_b: int
) -> None:
    fa, fb = random_feature(seed_a, frames_a), random_feature(seed_b, frames_b)
    score = level2(fa, fb)
    assert score == pytest.approx(level2_direct(fa, fb), abs=1e-5)
    assert score == pytest.approx(level2(fb, fa), abs=1e-6)
    assert -1.0 - 1e-5 <= score <= 1.0 + 1e-5
    assert -1.0 - 1e-6 <= level1(fa, fb) <= 1.0 + 1e-6


def test_zero_vectors() -> None:
    zero = TmkFeature(
        frame_count=0,
        average=np.zeros(256),
        cos=np.zeros((4, 32, 256)),
        sin=np.zeros((4, 32, 256)),
    )
    other = random_feature(3, 20)
    assert level1(zero, other) == 0.0
    assert level1(zero, zero) == 0.0
    assert level2(zero, other) == 0.0
    assert not normalized_average(zero).any()
    np.testing.assert_array_equal(level1_many(other, np.zeros((3, 256))), [0.0, 0.0, 0.0])


def test_normalized_average(ref_feature: Get) -> None:
    feature = ref_feature("pattern-hd-no-bar")
    unit = normalized_average(feature)
    assert unit.dtype == np.float32
    assert float(np.linalg.norm(unit)) == pytest.approx(1.0, abs=1e-6)
    other = ref_feature("pattern-sd-grey-bar")
    inner = float(unit.astype(np.float64) @ normalized_average(other))
    assert inner == pytest.approx(level1(feature, other), abs=1e-6)
