"""The vpdq signal type (conformance kit), its index against brute force, and its snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, shared_dir
from hashcore import InvalidInput, load_registry
from hashcore.index.base import IndexCorrupt
from hashcore.index.factory import create_index, load_index
from hashcore.testing import SignalTypeConformance
from hashcore_vpdq import VpdqFeature, match_features
from hashcore_vpdq.index import VpdqIndex
from hashcore_vpdq.plugin import SECONDS_ENV, VpdqSignal

SIGNAL = VpdqSignal()


@pytest.fixture(autouse=True)
def one_frame_a_second(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """pytx's sampling keeps the kit's repeated hashing quick."""
    monkeypatch.setenv(SECONDS_ENV, "1")
    yield


class TestVpdqConformance(SignalTypeConformance):
    signal_type = VpdqSignal
    sample_files = [
        shared_dir() / "tmk" / "videos" / "doorknob-hd-no-bar.mp4",
        shared_dir() / "tmk" / "videos" / "pattern-sd-grey-bar.mp4",
    ]


def test_text_form_is_pytx_json() -> None:
    feature = VpdqFeature.read_reference(DATA / "doorknob-hd-no-bar.txt")
    assert SIGNAL.format(feature.to_bytes()) == feature.to_json()
    assert SIGNAL.parse(feature.to_json()) == feature.to_bytes()
    with pytest.raises(InvalidInput, match="no frames"):
        SIGNAL.parse("[]")


def test_bad_environment_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hashcore import Media

    monkeypatch.setenv(SECONDS_ENV, "-1")
    with pytest.raises(InvalidInput, match=SECONDS_ENV):
        SIGNAL.hash(Media(tmp_path / "x.mp4"))


def values() -> dict[int, bytes]:
    """Features of the reference files cut in pieces: whole videos, clips, thinned copies."""
    found: dict[int, bytes] = {}
    paths = sorted((shared_dir() / "vpdq" / "reference").glob("*.txt"))
    if not paths:
        pytest.fail(f"no reference files in {shared_dir()}")
    for path in paths[::2]:
        f = VpdqFeature.read_reference(path)
        for rows in (slice(None, None, 10), slice(len(f) // 3, len(f) // 2, 3), slice(5, None, 31)):
            piece = VpdqFeature(f.hashes[rows], f.quality[rows], f.ms[rows])
            found[100 + len(found)] = piece.to_bytes()
    return found


def oracle(stored: dict[int, bytes], query: bytes, threshold: float) -> dict[int, float]:
    scores = {i: SIGNAL.compare(query, v) for i, v in stored.items()}
    return {i: s for i, s in scores.items() if s >= threshold and s > 0}


@pytest.mark.parametrize("threshold", [1.0, 50.0, 80.0])
def test_index_equals_brute_force(threshold: float, tmp_path: Path) -> None:
    stored = values()
    index = create_index(SIGNAL)
    assert isinstance(index, VpdqIndex)
    ids = list(stored)
    half = len(ids) // 2
    index.add(ids[:half], [stored[i] for i in ids[:half]])
    index.compact()  # half folded in, half in the frame index's delta
    index.add(ids[half:], [stored[i] for i in ids[half:]])
    index.remove([ids[1]])
    index.add([ids[2]], [stored[ids[2]]])  # re-adding replaces
    live = {i: v for i, v in stored.items() if i != ids[1]}

    def reloaded(index: VpdqIndex) -> VpdqIndex:
        index.save(tmp_path / "snap")
        found = load_index(SIGNAL, tmp_path / "snap")
        assert isinstance(found, VpdqIndex)
        return found

    def compacted(index: VpdqIndex) -> VpdqIndex:
        index.compact()
        return index

    for step in (lambda index: index, compacted, reloaded):
        index = step(index)
        assert len(index) == len(live) and index.value_ids().tolist() == sorted(live)
        answers = index.search(list(stored.values()), threshold)
        for query, hits in zip(stored.values(), answers, strict=True):
            got = {hit.value_id: hit.distance for hit in hits}
            assert got == oracle(live, query, threshold)
            assert [h.distance for h in hits] == sorted((h.distance for h in hits), reverse=True)


def test_keys_are_renumbered_after_many_removals() -> None:
    stored = values()
    index = VpdqIndex()
    ids = list(stored)
    for _ in range(4):
        index.add(ids, [stored[i] for i in ids])
    index.remove(ids[2:])
    index.compact()
    assert index.frame_count < 2000
    query = stored[ids[0]]
    assert [h.value_id for h in index.search([query], 80.0)[0]][:1] == [ids[0]]


@pytest.mark.parametrize("array", ["ids", "counts", "codes", "ms"])
def test_snapshot_damage_is_detected(tmp_path: Path, array: str) -> None:
    """A snapshot array cut short (a torn copy) is refused, never half loaded."""
    index = VpdqIndex()
    index.add([1], [VpdqFeature.read_reference(DATA / "doorknob-hd-no-bar.txt").to_bytes()])
    index.save(tmp_path)
    damaged = tmp_path / f"{array}.npy"
    damaged.write_bytes(damaged.read_bytes()[:-3])
    with pytest.raises(IndexCorrupt):
        VpdqIndex.load(tmp_path)


def test_low_quality_only_values_match_nothing() -> None:
    f = VpdqFeature.read_reference(DATA / "doorknob-hd-no-bar.txt")
    dark = VpdqFeature(f.hashes, np.zeros(len(f), np.uint8), f.ms)
    index = VpdqIndex()
    index.add([1, 2], [dark.to_bytes(), f.to_bytes()])
    assert index.search([dark.to_bytes()], 1.0) == [[]]
    assert SIGNAL.compare(dark.to_bytes(), f.to_bytes()) == 0.0
    assert [h.value_id for h in index.search([f.to_bytes()], 80.0)[0]] == [2]


def test_describe_hits_gives_pytx_figures_per_value() -> None:
    """``describe_hits``: both percentages, frames compared and segments, as brute force."""
    whole = VpdqFeature.read_reference(DATA / "doorknob-hd-no-bar.txt")
    rows = slice(10, 30, 2)  # quality 100-68: all take part
    clip = VpdqFeature(whole.hashes[rows], whole.quality[rows], whole.ms[rows] - 333)
    index = VpdqIndex()
    index.add([5], [whole.to_bytes()])
    [figures, missing] = SIGNAL.describe_hits(index, clip.to_bytes(), [5, 99]) or []
    assert figures == match_features(clip, whole).figures()
    assert figures["query_percent"] == 100.0 and figures["banked_percent"] < 50
    assert (
        figures["query_start"] == 0.0 and 0.2 <= figures["banked_start"] <= 0.333
    )  # neighbours are close too
    assert missing == {}
    pdq = load_registry().get("pdq")
    assert pdq.describe_hits(index, b"\0" * 32, [5]) is None  # the default: nothing to add


def test_saving_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    """Snapshots are written under the read lock, beside running lookups: save() must not
    rearrange the index (pending changes stay pending, answers stay the same)."""
    stored = values()
    ids = list(stored)
    index = VpdqIndex()
    index.add(ids[:4], [stored[i] for i in ids[:4]])
    index.compact()
    index.add(ids[4:6], [stored[i] for i in ids[4:6]])
    index.remove(ids[:2])
    pending = index.delta_size
    before = index.search(list(stored.values()), 50.0)
    index.save(tmp_path / "snap")
    assert index.delta_size == pending > 0
    assert index.search(list(stored.values()), 50.0) == before
    assert VpdqIndex.load(tmp_path / "snap").search(list(stored.values()), 50.0) == before
