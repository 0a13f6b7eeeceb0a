"""Videos in the fused lookup through vPDQ: a clip cut from a banked video matches it, where
TMK+PDQF does not; the chair variants match each other, the doorknob nothing (slow: hashing).

Each sample is hashed once (with every family) and banked or looked up by its hashes."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest
from engine_support import registry
from media_data import media

from hashcore.engine import Engine
from hashcore.hashing import hash_file
from hashcore.model import LookupResult
from hashcore.signals import Signal

pytest.importorskip("hashcore_vpdq")
pytestmark = pytest.mark.slow

VPDQ, TMK = "vpdq", "tmk_pdqf"
BANKED = ["chair-19-sd-bar", "chair-20-sd-bar"]


def signals_of(path: Path) -> list[Signal]:
    hashed = hash_file(path, registry(), variants=True)
    assert {s.type for s in hashed.signals} >= {VPDQ, TMK}, hashed.errors
    return hashed.signals


@pytest.fixture(scope="module")
def hashed() -> dict[str, list[Signal]]:
    if VPDQ not in registry():
        pytest.fail("the vpdq plugin is not installed")
    return {stem: signals_of(media(f"tmk/videos/{stem}.mp4")) for stem in BANKED}


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, hashed: dict[str, list[Signal]]
) -> Iterator[Engine]:
    with Engine(tmp_path_factory.mktemp("vpdq") / "store", registry()) as opened:
        opened.create_bank("videos")
        for stem, signals in hashed.items():
            opened.add_hashes("videos", signals, external_id=stem)
        yield opened


def cut(source: Path, target: Path, start: float, seconds: float) -> Path:
    """Re-encode ``seconds`` of ``source`` from ``start`` (MPEG-4 part 2, another codec)."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        video = src.streams.video[0]
        rate = Fraction(video.average_rate or 30)
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 320, 480, "yuv420p"
        stream.bit_rate = 600_000
        written = 0
        for frame in src.decode(video):
            t = float(frame.pts * frame.time_base)
            if start <= t < start + seconds:
                picture = frame.reformat(320, 480, "yuv420p")
                picture.pts, picture.time_base = written, 1 / rate
                written += 1
                for packet in stream.encode(picture):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


def matched_in(result: LookupResult) -> dict[str, set[str]]:
    """External ids matched, per family that recognised them."""
    families: dict[str, set[str]] = {}
    for match in result.matches:
        for hit in match.signals:
            families.setdefault(hit.type, set()).add(match.external_id)
    return families


def test_a_clip_from_the_middle_matches_by_vpdq_not_tmk(engine: Engine, tmp_path: Path) -> None:
    clip = cut(media("tmk/videos/chair-20-sd-bar.mp4"), tmp_path / "clip.mp4", 8.0, 4.0)
    result = engine.lookup_file(clip)
    found = matched_in(result)
    assert "chair-20-sd-bar" in found[VPDQ]
    assert "chair-20-sd-bar" not in found.get(TMK, set())
    [hit] = [
        hit
        for match in result.matches
        if match.external_id == "chair-20-sd-bar"
        for hit in match.signals
        if hit.type == VPDQ
    ]
    detail = hit.detail
    assert detail is not None
    # pytx's figures: every clip frame found in the banked video, a fifth of its frames found
    assert detail["query_percent"] >= 80 and hit.distance == detail["query_percent"]
    assert detail["banked_percent"] < 40
    assert detail["query_frames"] == 40 and detail["banked_frames"] > 150
    # the segment: the clip's 4 s, found 8-12 s into the banked video
    assert detail["query_start"] < 0.5 and detail["query_end"] > 3.5
    assert 7.0 <= detail["banked_start"] <= 9.0 and 11.0 <= detail["banked_end"] <= 13.0


def test_chair_variants_match_each_other(engine: Engine, hashed: dict[str, list[Signal]]) -> None:
    for stem in BANKED:
        assert matched_in(engine.lookup_signals(hashed[stem]))[VPDQ] == set(BANKED)


def test_doorknob_matches_nothing(engine: Engine) -> None:
    signals = signals_of(media("tmk/videos/doorknob-hd-no-bar.mp4"))
    assert VPDQ not in matched_in(engine.lookup_signals(signals))
