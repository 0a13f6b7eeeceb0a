"""The index contract's defaults, as a plugin's index gets them by subclassing SignalIndex."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from hashcore import IndexHit, PluginError, RangeHits, SignalIndex, SignalType
from hashcore.content import ContentKind
from hashcore.index.delta import DeltaIndex
from hashcore.index.exact import ExactIndex
from hashcore.index.factory import create_index
from hashcore.index.hamming import HammingIndex
from hashcore.signals import Metric


class DictIndex(SignalIndex):
    """The smallest honest index: a dict scanned per query (Hamming distance on bytes)."""

    def __init__(self) -> None:
        self.values: dict[int, bytes] = {}

    def add(self, value_ids: Sequence[int], values: Sequence[bytes]) -> None:
        self.values.update(zip(value_ids, values, strict=True))

    def remove(self, value_ids: Sequence[int]) -> None:
        for value_id in value_ids:
            self.values.pop(value_id, None)

    def search(self, queries: Sequence[bytes], threshold: float) -> list[list[IndexHit]]:
        out = []
        for query in queries:
            hits = [
                IndexHit(i, float((int.from_bytes(v) ^ int.from_bytes(query)).bit_count()))
                for i, v in self.values.items()
            ]
            kept = [h for h in hits if h.distance <= threshold]
            out.append(sorted(kept, key=lambda h: (h.distance, h.value_id)))
        return out

    def __len__(self) -> int:
        return len(self.values)

    def compact(self) -> None:
        pass

    def save(self, directory: Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, directory: Path) -> DictIndex:
        raise NotImplementedError


def test_defaults_of_a_minimal_index() -> None:
    index = DictIndex()
    index.add_array(np.array([1, 2]), np.array([[0, 1], [0, 3]], np.uint8))
    assert index.values == {1: b"\x00\x01", 2: b"\x00\x03"}
    assert index.value_size is None
    assert index.delta_size == len(index) == 2  # unknown: everything counts as pending
    arrays = index.range_search([b"\x00\x01", b"\xff\xff"], 1)
    assert arrays.lims.tolist() == [0, 2, 2]
    assert arrays.value_ids.tolist() == [1, 2] and arrays.distances.tolist() == [0.0, 1.0]
    assert arrays.to_lists() == index.search([b"\x00\x01", b"\xff\xff"], 1)
    with pytest.raises(NotImplementedError):
        index.value_ids()


def test_range_hits_round_trip_lists() -> None:
    lists = [[IndexHit(3, 1.0), IndexHit(1, 2.0)], [], [IndexHit(9, 0.5)]]
    hits = RangeHits.from_lists(lists)
    assert hits.lims.tolist() == [0, 2, 2, 3]
    assert hits.to_lists() == lists
    assert RangeHits.from_lists([]).to_lists() == []


def test_the_built_in_indexes_share_one_delta() -> None:
    assert issubclass(HammingIndex, DeltaIndex) and issubclass(ExactIndex, DeltaIndex)
    for index in (HammingIndex(16), ExactIndex(2)):
        index.add([1, 2], [b"ab", b"cd"])
        index.remove([1])
        assert index.value_size == 2 and index.delta_size == 1 and len(index) == 1
        assert index.value_ids().tolist() == [2]


class Video(SignalType):
    name: ClassVar[str] = "video"
    content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.VIDEO})
    metric: ClassVar[Metric] = Metric.SIMILARITY
    default_threshold: ClassVar[float] = 0.7

    def hash(self, media: object) -> object:  # type: ignore[override]
        raise NotImplementedError

    def parse(self, text: str) -> bytes:
        return text.encode()

    def format(self, value: bytes) -> str:
        return value.decode()

    def validate(self, value: bytes) -> bytes:
        return value

    def compare(self, a: bytes, b: bytes) -> float:
        return float(a == b)


class BadIndex(Video):
    def create_index(self) -> SignalIndex:
        return object()  # type: ignore[return-value]


def test_create_index_is_declared_on_the_type() -> None:
    with pytest.raises(PluginError, match="create_index"):
        Video().create_index()
    with pytest.raises(PluginError, match="returned object"):
        create_index(BadIndex())
