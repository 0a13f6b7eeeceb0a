"""The tmk_pdqf signal type (conformance kit) and its index against a brute-force oracle."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import tmk_data_dir
from hashcore import InvalidInput
from hashcore.index.base import IndexCorrupt
from hashcore.index.factory import create_index, load_index
from hashcore.testing import SignalTypeConformance
from hashcore_tmk import TmkFeature
from hashcore_tmk.index import TmkIndex
from hashcore_tmk.plugin import TmkSignal

SIGNAL = TmkSignal()


class TestTmkConformance(SignalTypeConformance):
    signal_type = TmkSignal
    # The two shortest samples, to keep the kit quick.
    sample_files = [
        tmk_data_dir() / "videos" / "doorknob-hd-no-bar.mp4",
        tmk_data_dir() / "videos" / "pattern-sd-grey-bar.mp4",
    ]


def test_text_form_is_base64_of_the_tmk_file(tmk_data: Path) -> None:
    raw = (tmk_data / "reference" / "chair-19-sd-bar.tmk").read_bytes()
    assert SIGNAL.format(raw) == base64.b64encode(raw).decode()
    assert SIGNAL.parse(SIGNAL.format(raw)) == raw
    with pytest.raises(InvalidInput, match="not base64"):
        SIGNAL.parse("@@@")
    with pytest.raises(InvalidInput, match="expected 263344"):
        SIGNAL.parse(base64.b64encode(raw[:1000]).decode())


def all_values(tmk_data: Path, our_feature: Callable[[str], TmkFeature]) -> dict[int, bytes]:
    """Reference files and our own hashes: 18 values across three families of clips."""
    values = [p.read_bytes() for p in sorted((tmk_data / "reference").glob("*.tmk"))]
    values += [our_feature(p.stem).to_bytes() for p in sorted((tmk_data / "videos").glob("*"))]
    return dict(enumerate(values, start=100))


def oracle(values: dict[int, bytes], query: bytes, threshold: float) -> dict[int, float]:
    scores = {i: SIGNAL.compare(query, v) for i, v in values.items()}
    return {i: s for i, s in scores.items() if s >= threshold}


def as_dict(hits: list) -> dict[int, float]:  # type: ignore[type-arg]
    return {hit.value_id: hit.distance for hit in hits}


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [0.7, 0.9, 0.99])
def test_index_equals_brute_force(
    threshold: float,
    tmp_path: Path,
    tmk_data: Path,
    our_feature: Callable[[str], TmkFeature],
) -> None:
    values = all_values(tmk_data, our_feature)
    index = create_index(SIGNAL)
    assert isinstance(index, TmkIndex)
    ids = list(values)
    half = len(ids) // 2
    index.add(ids[:half], [values[i] for i in ids[:half]])
    index.compact()  # half in the main FAISS structure, half in the delta
    index.add(ids[half:], [values[i] for i in ids[half:]])
    removed = ids[1]
    index.remove([removed])
    live = {i: v for i, v in values.items() if i != removed}
    queries = list(values.values())
    for state in ("delta", "compacted", "reloaded"):
        if state == "compacted":
            index.compact()
        if state == "reloaded":
            index.save(tmp_path / "snap")
            index = load_index(SIGNAL, tmp_path / "snap")
        assert len(index) == len(live)
        for query, hits in zip(queries, index.search(queries, threshold), strict=True):
            got, want = as_dict(hits), oracle(live, query, threshold)
            assert got.keys() == want.keys(), state
            for key in want:
                assert got[key] == pytest.approx(want[key], abs=1e-5)


def test_snapshot_damage_is_detected(tmp_path: Path, tmk_data: Path) -> None:
    raw = (tmk_data / "reference" / "chair-19-sd-bar.tmk").read_bytes()
    index = TmkIndex()
    index.add([1], [raw])
    index.save(tmp_path / "snap")
    averages = tmp_path / "snap" / "averages.npy"
    data = bytearray(averages.read_bytes())
    data[-5] ^= 0xFF
    averages.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt):
        TmkIndex.load(tmp_path / "snap")


def test_index_rejects_malformed_values() -> None:
    with pytest.raises(InvalidInput):
        TmkIndex().add([1], [b"TMK1" + bytes(100)])
