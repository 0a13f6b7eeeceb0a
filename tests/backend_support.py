"""The index backends the contract suite runs on, and the brute-force oracle it compares with.

Milvus runs as Milvus Lite, started by the tests in a temporary directory (one per session:
starting it takes about two seconds). Each engine gets its own store, hence its own collections.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from hashcore.backends import EmbeddedBackend, IndexBackend, backend_from_spec

BACKENDS = ("embedded", "milvus")
NO_PYMILVUS = "pymilvus is not installed (pip install 'hashcore[milvus]')"

MakeBackend = Callable[[], IndexBackend]


def milvus_available() -> bool:
    return importlib.util.find_spec("pymilvus") is not None


def backend_maker(name: str, tmp_path_factory: pytest.TempPathFactory) -> MakeBackend:
    """A function making a new backend of ``name`` (an engine closes the one it is given)."""
    if name == "embedded":
        return EmbeddedBackend
    if not milvus_available():
        pytest.skip(NO_PYMILVUS)
    uri = str(tmp_path_factory.getbasetemp() / "milvus-lite.db")
    return lambda: backend_from_spec(f"milvus:{uri}")


def distances(codes: npt.NDArray[np.uint8], query: bytes) -> npt.NDArray[np.int64]:
    """Hamming distance from ``query`` to every row of ``codes``."""
    q = np.frombuffer(query, np.uint8)
    return np.bitwise_count(np.bitwise_xor(codes, q)).sum(axis=1).astype(np.int64)


def oracle(
    stored: dict[int, bytes], queries: Sequence[bytes], threshold: float
) -> list[list[tuple[int, float]]]:
    """Every stored (id, distance) within ``threshold`` of each query, by brute force, sorted."""
    if not stored:
        return [[] for _ in queries]
    ids = np.fromiter(stored.keys(), np.int64, len(stored))
    codes = np.frombuffer(b"".join(stored.values()), np.uint8).reshape(len(stored), -1)
    out = []
    for query in queries:
        d = distances(codes, query)
        keep = d <= threshold
        out.append(sorted(zip(ids[keep].tolist(), d[keep].astype(float).tolist(), strict=True)))
    return out
