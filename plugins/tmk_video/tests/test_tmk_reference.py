"""Our hashes of the sample videos against the reference hasher's ``.tmk`` files."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from hashcore_tmk import TmkFeature, level1, level2
from hashcore_tmk.score import MATCH_THRESHOLD

pytestmark = pytest.mark.slow  # hashes the ten sample videos (about 6 s in all, once per session)

Get = Callable[[str], TmkFeature]


def test_matches_reference(video_stem: str, our_feature: Get, ref_feature: Get) -> None:
    ours, ref = our_feature(video_stem), ref_feature(video_stem)
    assert ours.frame_count == ref.frame_count
    assert level1(ours, ref) >= 0.999
    assert level2(ours, ref) >= 0.999


def _family(stem: str) -> str:
    return stem.split("-")[0]


def _matches(a: TmkFeature, b: TmkFeature) -> bool:
    return level1(a, b) >= MATCH_THRESHOLD and level2(a, b) >= MATCH_THRESHOLD


# (a, b, level-1, level-2) reported by the reference for variants of one clip.
KNOWN_PAIRS = [
    ("chair-22-sd-grey-bar", "chair-orig-22-sd-bar", 0.99996, 0.99996),
    ("chair-19-sd-bar", "chair-20-sd-bar", 0.98908, 0.99114),
    ("chair-22-with-small-logo-bar", "chair-orig-22-sd-bar", 0.92640, 0.95307),
    ("doorknob-hd-no-bar", "pattern-sd-with-large-logo-bar", -0.310, 0.018),
]


@pytest.mark.parametrize(("a", "b", "want1", "want2"), KNOWN_PAIRS)
def test_known_pair_scores(a: str, b: str, want1: float, want2: float, our_feature: Get) -> None:
    fa, fb = our_feature(a), our_feature(b)
    assert level1(fa, fb) == pytest.approx(want1, abs=0.002)
    assert level2(fa, fb) == pytest.approx(want2, abs=0.002)


def test_pattern_variants_in_family_range(our_feature: Get) -> None:
    score = level1(our_feature("pattern-hd-no-bar"), our_feature("pattern-sd-grey-bar"))
    assert 0.77 <= score <= 0.98


@pytest.mark.parametrize("logo", ["chair-22-with-large-logo-bar", "pattern-sd-with-large-logo-bar"])
def test_large_logo_below_threshold(logo: str, our_feature: Get, video_stems: list[str]) -> None:
    siblings = [s for s in video_stems if _family(s) == _family(logo) and s != logo]
    assert siblings
    for sibling in siblings:
        assert level1(our_feature(logo), our_feature(sibling)) < MATCH_THRESHOLD, sibling
        assert not _matches(our_feature(logo), our_feature(sibling)), sibling


def test_doorknob_matches_nothing(our_feature: Get, video_stems: list[str]) -> None:
    door = our_feature("doorknob-hd-no-bar")
    for other in video_stems:
        if other != "doorknob-hd-no-bar":
            assert not _matches(door, our_feature(other)), other


def test_cross_family_level1_low(our_feature: Get, video_stems: list[str]) -> None:
    for a, b in itertools.combinations(video_stems, 2):
        if _family(a) != _family(b):
            assert level1(our_feature(a), our_feature(b)) < 0.2, (a, b)


def test_pairwise_scores_agree_with_reference(
    our_feature: Get, ref_feature: Get, video_stems: list[str]
) -> None:
    """Every pair scores as the reference's own features do (the whole score matrix)."""
    for a, b in itertools.combinations(video_stems, 2):
        ours = (level1(our_feature(a), our_feature(b)), level2(our_feature(a), our_feature(b)))
        refs = (level1(ref_feature(a), ref_feature(b)), level2(ref_feature(a), ref_feature(b)))
        assert ours == pytest.approx(refs, abs=1e-3), (a, b)
