"""ExactIndex (MD5) semantics, snapshots, and the index factory's dispatch."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashcore.errors import InvalidInput, PluginError
from hashcore.index.base import IndexCorrupt
from hashcore.index.exact import ExactIndex
from hashcore.index.factory import create_index, load_index
from hashcore.index.hamming import HammingIndex
from hashcore.index.snapshot import read_snapshot, write_snapshot
from hashcore.media import Media
from hashcore.signals import BitSignalType, Metric, Signal, SignalType


def ids_of(index: ExactIndex, queries: list[bytes]) -> list[list[int]]:
    return [[h.value_id for h in hits] for hits in index.search(queries, 0)]


def oracle(stored: dict[int, bytes], queries: list[bytes]) -> list[list[int]]:
    return [sorted(i for i, v in stored.items() if v == q) for q in queries]


def md5s(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [r.tobytes() for r in rng.integers(0, 256, size=(n, 16), dtype=np.uint8)]


def test_add_search_remove_readd_compact() -> None:
    values = md5s(200)
    values[5] = b"\x00" * 16  # trailing-zero values must survive the fixed-width keys
    values[6] = b"\xab" + b"\x00" * 15
    stored = dict(enumerate(values))
    stored[300] = values[7]  # two ids, one value
    index = ExactIndex(16)
    index.add(list(stored), list(stored.values()))
    queries = [*values[:10], b"\x01" * 16]
    assert ids_of(index, queries) == oracle(stored, queries)
    assert index.search([values[7]], 99.0)[0][1].distance == 0.0  # threshold ignored

    index.remove([7, 999])
    index.add([8, 400, 401], [values[0], values[1], b"\x02" * 16])  # 8 is replaced
    index.add([401], [b"\x03" * 16])  # re-add in the delta
    for i in (7,):
        del stored[i]
    stored.update({8: values[0], 400: values[1], 401: b"\x03" * 16})
    queries += [b"\x02" * 16, b"\x03" * 16]
    assert len(index) == len(stored)
    assert ids_of(index, queries) == oracle(stored, queries)
    index.compact()
    assert len(index) == len(stored)
    assert ids_of(index, queries) == oracle(stored, queries)


def test_bulk_then_delta_many() -> None:
    values = md5s(60_000, seed=1)
    index = ExactIndex(16)
    index.add(list(range(60_000)), values)  # bulk path
    index.add([1, 2], [values[3], values[4]])
    index.remove([3])
    assert ids_of(index, [values[3], values[4], values[1]]) == [[1], [2, 4], []]
    assert len(index) == 59_999


def test_rejects_bad_input() -> None:
    index = ExactIndex(16)
    with pytest.raises(InvalidInput):
        index.add([1], [b"x"])
    with pytest.raises(InvalidInput):
        index.search([b"x" * 17])


def test_save_load_round_trip_and_corruption(tmp_path: Path) -> None:
    values = md5s(500, seed=2)
    stored = dict(enumerate(values))
    index = ExactIndex(16)
    index.add(list(stored), values)
    index.remove([1, 2])
    index.add([3, 1000], [values[9], b"\x00" * 16])
    for i in (1, 2):
        del stored[i]
    stored.update({3: values[9], 1000: b"\x00" * 16})
    index.save(tmp_path / "md5")
    loaded = ExactIndex.load(tmp_path / "md5")
    queries = [*values[:12], b"\x00" * 16]
    assert len(loaded) == len(stored)
    assert ids_of(loaded, queries) == ids_of(index, queries) == oracle(stored, queries)

    values_file = tmp_path / "md5" / "values.npy"
    data = bytearray(values_file.read_bytes())
    data[-1] ^= 1
    values_file.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt):
        ExactIndex.load(tmp_path / "md5")
    values_file.write_bytes(bytes(data[:-10]))
    with pytest.raises(IndexCorrupt):
        ExactIndex.load(tmp_path / "md5")


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.binary(min_size=4, max_size=4), max_size=30),
    removed=st.lists(st.integers(0, 40), max_size=8),
    added=st.lists(st.binary(min_size=4, max_size=4), max_size=8),
    compact=st.booleans(),
)
def test_property_equals_oracle(
    values: list[bytes], removed: list[int], added: list[bytes], compact: bool
) -> None:
    index = ExactIndex(4)
    stored = dict(enumerate(values))
    index.add(list(stored), values)
    index.remove(removed)
    for i in removed:
        stored.pop(i, None)
    new = {20 + k: v for k, v in enumerate(added)}
    index.add(list(new), list(new.values()))
    stored.update(new)
    if compact:
        index.compact()
    queries = list({*values, *added, b"\x00" * 4})
    assert len(index) == len(stored)
    assert ids_of(index, queries) == oracle(stored, queries)


# -- factory ---------------------------------------------------------------------------------


class _Bits(BitSignalType):
    content_kinds: ClassVar = frozenset()
    default_threshold: ClassVar[float] = 31

    def hash(self, media: Media) -> Signal:
        raise NotImplementedError


class FakePdq(_Bits):
    name = "fakepdq"
    bits = 256


class FakeMd5(_Bits):
    name = "fakemd5"
    bits = 128
    metric = Metric.EXACT


class FakeSimilarity(_Bits):
    name = "fakesim"
    bits = 64
    metric = Metric.SIMILARITY


class FakeSimilarityWithIndex(FakeSimilarity):
    name = "fakesim2"

    def create_index(self) -> ExactIndex:
        return ExactIndex(8)


def test_factory_dispatch(tmp_path: Path) -> None:
    pdq: SignalType = FakePdq()
    md5: SignalType = FakeMd5()
    hindex = create_index(pdq)
    assert isinstance(hindex, HammingIndex) and hindex.bits == 256
    eindex = create_index(md5)
    assert isinstance(eindex, ExactIndex) and eindex.nbytes == 16
    assert isinstance(create_index(FakeSimilarityWithIndex()), ExactIndex)
    with pytest.raises(PluginError, match="create_index"):
        create_index(FakeSimilarity())

    hindex.add([1], [b"\x01" * 32])
    hindex.save(tmp_path / "pdq")
    eindex.add([2], [b"\x02" * 16])
    eindex.save(tmp_path / "md5")
    assert load_index(pdq, tmp_path / "pdq").search([b"\x01" * 32], 0)[0][0].value_id == 1
    assert load_index(md5, tmp_path / "md5").search([b"\x02" * 16], 0)[0][0].value_id == 2
    with pytest.raises(IndexCorrupt):
        load_index(pdq, tmp_path / "md5")  # the manifest names another class
    manifest = json.loads((tmp_path / "pdq" / "manifest.json").read_text())
    assert manifest["kind"] == "HammingIndex" and manifest["params"]["bits"] == 256

    class Phash(FakePdq):
        name = "fakephash"
        bits = 64

    with pytest.raises(IndexCorrupt):
        load_index(Phash(), tmp_path / "pdq")  # right class, wrong width


def _rewrite(directory: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    """The snapshot with ``change`` applied to its arrays, written with valid checksums, so
    only the index's own checks can refuse it."""
    params, arrays = read_snapshot(directory, ExactIndex.kind, ExactIndex.format_version)
    arrays = {name: np.array(array) for name, array in arrays.items()}
    change(arrays)
    write_snapshot(directory, ExactIndex.kind, ExactIndex.format_version, params, arrays)


def _with_duplicate(arrays: dict[str, np.ndarray]) -> None:
    arrays["ids"][5] = arrays["ids"][6]
    arrays["id_order"] = np.argsort(arrays["ids"])  # a consistent order for the bad ids


def _without_order(arrays: dict[str, np.ndarray]) -> None:
    del arrays["id_order"]


def _order_repeats(arrays: dict[str, np.ndarray]) -> None:
    arrays["id_order"][1] = arrays["id_order"][0]


def _order_out_of_range(arrays: dict[str, np.ndarray]) -> None:
    arrays["id_order"][3] = -1


@pytest.mark.parametrize(
    "changes",
    [[_with_duplicate], [_with_duplicate, _without_order], [_order_repeats], [_order_out_of_range]],
)
def test_a_repeated_id_or_wrong_id_order_in_a_snapshot_is_refused(
    tmp_path: Path, changes: list[Callable[[dict[str, np.ndarray]], None]]
) -> None:
    values = md5s(300, seed=4)
    index = ExactIndex(16)
    index.add(list(range(300)), values)
    index.compact()
    index.save(tmp_path / "md5")
    for change in changes:
        _rewrite(tmp_path / "md5", change)
    with pytest.raises(IndexCorrupt, match=r"repeated value ids|id order"):
        ExactIndex.load(tmp_path / "md5")


def test_snapshot_loads_mapped_read_only_with_or_without_its_id_order(tmp_path: Path) -> None:
    """Main is memory-mapped and read-only after a load; removes still work (tombstones are a
    copy), and a snapshot from before the stored id order (sorted on load) answers the same."""
    values = md5s(400, seed=5)
    stored = dict(zip(range(1000, 600, -1), values, strict=True))  # ids not in value order
    index = ExactIndex(16)
    index.add(list(stored), list(stored.values()))
    index.compact()
    index.save(tmp_path / "md5")
    older = tmp_path / "older"
    index.save(older)
    _rewrite(older, _without_order)
    for directory in (tmp_path / "md5", older):
        loaded = ExactIndex.load(directory)
        assert not loaded._keys.flags.writeable and not loaded._ids.flags.writeable
        assert ids_of(loaded, values[:20]) == oracle(stored, values[:20])
        loaded.remove([1000, 999])
        stored_now = {k: v for k, v in stored.items() if k not in (1000, 999)}
        assert ids_of(loaded, values[:20]) == oracle(stored_now, values[:20])
