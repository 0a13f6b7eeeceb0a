"""Videos: a re-encoded copy matches through TMK+PDQF, a byte copy through MD5 (slow: hashing)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import registry
from media_data import media

from hashcore.engine import Engine

pytest.importorskip("hashcore_tmk")
pytestmark = pytest.mark.slow

TMK = "tmk_pdqf"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    if TMK not in registry():
        pytest.skip("the tmk_pdqf plugin is not installed")
    with Engine(tmp_path / "store", registry()) as opened:
        if TMK not in opened.index_status():
            pytest.skip(f"no {TMK} index: {opened.unindexed_families().get(TMK)}")
        opened.create_bank("videos")
        yield opened


def test_video_variant_matches_through_tmk(engine: Engine) -> None:
    entry = engine.add_file("videos", media("tmk/videos/chair-19-sd-bar.mp4"))
    result = engine.lookup_file(media("tmk/videos/chair-20-sd-bar.mp4"))
    [match] = result.matches
    assert match.entry_id == entry.id
    families = {hit.type: hit for hit in match.signals}
    assert TMK in families and "md5" not in families
    assert families[TMK].distance >= registry().get(TMK).default_threshold


def test_video_byte_copy_matches_through_md5(engine: Engine, tmp_path: Path) -> None:
    original = media("tmk/videos/chair-19-sd-bar.mp4")
    entry = engine.add_file("videos", original)
    copy = tmp_path / "copy.mp4"
    shutil.copy(original, copy)
    [match] = engine.lookup_file(copy).matches
    assert match.entry_id == entry.id
    assert {hit.type for hit in match.signals} >= {"md5", TMK}
