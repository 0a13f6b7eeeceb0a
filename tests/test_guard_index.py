"""Guards on the indexes' thresholds and tombstones, at their boundaries (``make mutate``).

Every case runs on both structures a value can live in: the delta (small adds) and main
(bulk adds, compaction), with and without multi-index tables (``flat_below=0`` forces them).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hashcore.errors import InvalidInput
from hashcore.index import exact, hamming
from hashcore.index.exact import ExactIndex
from hashcore.index.hamming import HammingIndex


def code(bits: int, flipped: int, base: int = 0) -> bytes:
    """A ``bits``-bit value: ``base`` with its lowest ``flipped`` bits inverted."""
    number = base ^ ((1 << flipped) - 1)
    return number.to_bytes(bits // 8, "big")


def found(index: HammingIndex | ExactIndex, query: bytes, threshold: float) -> dict[int, int]:
    [hits] = index.search([query], threshold)
    return {h.value_id: int(h.distance) for h in hits}


LAYOUTS = ["delta", "main-flat", "main-tables"]


def hamming_index(layout: str, bits: int = 64) -> HammingIndex:
    return HammingIndex(bits, flat_below=0 if layout == "main-tables" else 10**9)


def fill(index: HammingIndex | ExactIndex, layout: str, ids: list[int], values: list[bytes]):  # type: ignore[no-untyped-def]
    index.add(ids, values)
    if layout != "delta":
        index.compact()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_hamming_threshold_is_inclusive_and_floored(layout: str) -> None:
    index = hamming_index(layout)
    fill(index, layout, [1, 2, 3, 4], [code(64, d) for d in (0, 3, 4, 5)])
    query = code(64, 0)
    assert found(index, query, 4) == {1: 0, 2: 3, 3: 4}
    assert found(index, query, 4.9) == {1: 0, 2: 3, 3: 4}
    assert found(index, query, 3) == {1: 0, 2: 3}
    assert found(index, query, 0) == {1: 0}
    assert found(index, query, -0.5) == {}
    assert found(index, query, -1) == {}
    assert found(index, query, -math.inf) == {}
    assert found(index, query, math.inf) == {1: 0, 2: 3, 3: 4, 4: 5}
    assert found(index, query, 64) == {1: 0, 2: 3, 3: 4, 4: 5}
    with pytest.raises(InvalidInput):
        index.search([query], math.nan)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_hamming_removed_values_never_come_back(layout: str, tmp_path: Path) -> None:
    index = hamming_index(layout)
    fill(index, layout, [1, 2, 3], [code(64, 0), code(64, 1), code(64, 2)])
    index.remove([2, 99])
    index.remove([2])
    assert len(index) == 2
    assert found(index, code(64, 0), 10) == {1: 0, 3: 2}
    index.save(tmp_path / "snap")
    loaded = HammingIndex.load(tmp_path / "snap")
    assert len(loaded) == 2 and found(loaded, code(64, 0), 10) == {1: 0, 3: 2}
    index.compact()
    assert len(index) == 2 and found(index, code(64, 0), 10) == {1: 0, 3: 2}
    index.add([2], [code(64, 5)])  # re-adding an id brings its new value only
    assert found(index, code(64, 0), 10) == {1: 0, 2: 5, 3: 2}
    assert len(index) == 3


@pytest.mark.parametrize("layout", LAYOUTS)
def test_hamming_readd_replaces_the_old_value(layout: str) -> None:
    index = hamming_index(layout)
    fill(index, layout, [1, 2], [code(64, 0), code(64, 40)])
    index.add([1], [code(64, 30)])
    assert found(index, code(64, 0), 10) == {}
    assert found(index, code(64, 30), 0) == {1: 0}
    assert len(index) == 2
    assert index.delta_size == 2  # delta: both values; main: a tombstone plus the new value


def test_hamming_bulk_adds_replace_and_drop_tombstones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hamming, "BULK_MIN", 4)
    index = HammingIndex(64, flat_below=0)
    index.add([1, 2, 3, 4], [code(64, d) for d in (0, 1, 2, 3)])  # bulk: straight into main
    assert index.delta_size == 0
    index.remove([1])
    index.add([5], [code(64, 0)])  # small: into the delta
    assert found(index, code(64, 0), 1) == {2: 1, 5: 0}
    index.add([2, 6, 7, 8], [code(64, 9), code(64, 0), code(64, 1), code(64, 2)])  # bulk again
    assert found(index, code(64, 0), 2) == {3: 2, 5: 0, 6: 0, 7: 1, 8: 2}
    assert len(index) == 7 and index.delta_size == 0


@pytest.mark.parametrize("layout", ["delta", "main"])
def test_exact_matches_only_equal_values_and_honours_removes(layout: str, tmp_path: Path) -> None:
    index = ExactIndex(16)
    values = [bytes([n]) * 16 for n in range(4)]
    fill(index, layout, [10, 11, 12, 13], values)
    index.add([14], [values[0]])  # the same value under a second id
    assert found(index, values[0], 0) == {10: 0, 14: 0}
    assert found(index, bytes([9]) * 16, 1e9) == {}
    index.remove([10, 99])
    index.remove([10])
    assert len(index) == 4
    assert found(index, values[0], 0) == {14: 0}
    index.save(tmp_path / "snap")
    assert found(ExactIndex.load(tmp_path / "snap"), values[0], 0) == {14: 0}
    index.add([11], [values[3]])  # re-add replaces
    assert found(index, values[1], 0) == {}
    assert found(index, values[3], 0) == {11: 0, 13: 0}
    index.compact()
    assert len(index) == 4
    assert found(index, values[0], 0) == {14: 0}
    assert found(index, values[3], 0) == {11: 0, 13: 0}


def test_exact_bulk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exact, "BULK_MIN", 3)
    index = ExactIndex(4)
    index.add([1, 2, 3], [b"aaaa", b"bbbb", b"cccc"])
    index.remove([2])
    index.add([4], [b"bbbb"])
    index.add_array(np.array([5, 6, 7]), np.frombuffer(b"aaaaddddeeee", np.uint8).reshape(3, 4))
    assert found(index, b"aaaa", 0) == {1: 0, 5: 0}
    assert found(index, b"bbbb", 0) == {4: 0}
    assert len(index) == 6


def test_sizes_must_be_positive() -> None:
    for bad in (0, -8):
        with pytest.raises(ValueError):
            ExactIndex(bad)
        with pytest.raises(ValueError):
            HammingIndex(bad)
    with pytest.raises(ValueError):
        HammingIndex(12)
    assert ExactIndex(1).nbytes == 1 and HammingIndex(8).words == 1


def test_exact_small_array_adds_duplicate_values_in_main_and_bad_arrays(tmp_path: Path) -> None:
    index = ExactIndex(4)
    index.add_array(np.array([1, 2]), np.frombuffer(b"aaaaaaaa", np.uint8).reshape(2, 4))
    assert found(index, b"aaaa", 0) == {1: 0, 2: 0}
    index.compact()  # main now holds one value twice
    index.save(tmp_path / "snap")
    assert found(ExactIndex.load(tmp_path / "snap"), b"aaaa", 0) == {1: 0, 2: 0}
    for bad in (
        np.zeros((1, 4), np.int64),
        np.zeros((4,), np.uint8),
        np.zeros((1, 5), np.uint8),
    ):
        with pytest.raises(InvalidInput):
            index.add_array(np.array([3]), bad)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_hamming_remove_after_a_search_is_seen_by_the_next_search(layout: str) -> None:
    index = hamming_index(layout)
    fill(index, layout, [1, 2], [code(64, 0), code(64, 1)])
    index.add([3, 4], [code(64, 2), code(64, 3)])  # these two in the delta
    assert found(index, code(64, 0), 5) == {1: 0, 2: 1, 3: 2, 4: 3}  # caches the delta view
    index.remove([3, 1])
    assert found(index, code(64, 0), 5) == {2: 1, 4: 3}
    index.remove([4])
    assert found(index, code(64, 0), 5) == {2: 1}
