"""Milvus Lite's HAMMING range search boundaries, pinned: what the Milvus backend relies on.

Milvus keeps hits with ``range_filter <= distance < radius`` (the lower end inclusive, the upper
exclusive, a fractional radius cut down to an integer), so the backend asks for
``radius = floor(threshold) + 1`` to get the embedded index's ``distance <= threshold``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.backend_support import NO_PYMILVUS, milvus_available
from tests.engine_support import flip_bits

pytestmark = pytest.mark.skipif(not milvus_available(), reason=NO_PYMILVUS)


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory):
    from pymilvus import DataType, MilvusClient

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        client = MilvusClient(str(tmp_path_factory.getbasetemp() / "milvus-lite.db"))
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("code", DataType.BINARY_VECTOR, dim=256)
    params = client.prepare_index_params()
    params.add_index("code", index_type="BIN_FLAT", metric_type="HAMMING")
    client.create_collection("boundary", schema=schema, index_params=params)
    base = bytes(32)
    client.insert("boundary", [{"id": k, "code": flip_bits(base, k)} for k in range(12)])
    yield client, base
    client.drop_collection("boundary")
    client.close()


def distances_found(collection, params: dict) -> list[float]:
    client, base = collection
    found = client.search(
        "boundary",
        data=[base],
        anns_field="code",
        limit=100,
        search_params={"metric_type": "HAMMING", "params": params},
    )
    return sorted(hit["distance"] for hit in found[0])


def test_radius_is_exclusive_and_range_filter_inclusive(collection) -> None:
    assert distances_found(collection, {"radius": 5}) == [0, 1, 2, 3, 4]
    assert distances_found(collection, {"radius": 5, "range_filter": 2}) == [2, 3, 4]
    assert distances_found(collection, {"radius": 6, "range_filter": 0}) == [0, 1, 2, 3, 4, 5]


def test_a_fractional_radius_is_cut_down(collection) -> None:
    assert distances_found(collection, {"radius": 5.5}) == [0, 1, 2, 3, 4]


def test_a_lost_collection_is_rebuilt_from_the_store(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Milvus lost the data (a new cluster, a dropped collection): the checkpoint is refused
    and the index rebuilt from SQLite, the system of record."""
    from pymilvus import utility

    from hashcore.backends import backend_from_spec
    from hashcore.engine import Engine
    from tests.engine_support import pdq, random_pdq, registry

    spec = f"milvus:{tmp_path_factory.getbasetemp() / 'milvus-lite.db'}"
    engine = Engine(tmp_path, registry(), index_backend=backend_from_spec(spec))
    engine.create_bank("known")
    for seed in range(20):
        engine.add_entry("known", [pdq(random_pdq(seed))], external_id=f"e{seed}")
    assert len(engine.lookup_signals([pdq(flip_bits(random_pdq(3), 31))]).matches) == 1
    backend = engine.backend
    engine.close()
    backend = backend_from_spec(spec)
    engine = Engine(tmp_path, registry(), index_backend=backend)
    try:
        utility.drop_collection(backend.collection_name("pdq"), using=backend.alias)
        found = engine.lookup_signals([pdq(flip_bits(random_pdq(3), 31))]).matches
        assert [m.external_id for m in found] == ["e3"]
        assert engine.indexes.states()["pdq"].origin == "rebuilt"
    finally:
        engine.close()


def test_a_bank_limited_search_is_filtered_inside_milvus(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The index itself returns only the wanted banks' values (and values it could not place),
    so hits of other banks never cross the wire; the store's gains log keeps the lists whole."""
    from hashcore.backends import backend_from_spec
    from hashcore.engine import Engine
    from tests.engine_support import pdq, registry

    spec = f"milvus:{tmp_path_factory.getbasetemp() / 'milvus-lite.db'}"
    engine = Engine(tmp_path, registry(), index_backend=backend_from_spec(spec))
    try:
        base = bytes(32)
        engine.create_bank("near")
        engine.create_bank("far")
        for k in range(1, 21):  # ids 1..20 at distance k from the query
            engine.add_entry("near" if k % 4 == 0 else "far", [pdq(flip_bits(base, k))])
        engine.lookup_signals([pdq(base)])  # opens and fills the index
        index = engine.indexes.get("pdq").index

        def found(banks: list[str] | None) -> list[float]:
            return index.range_search_in([base], 32, banks).distances.tolist()

        assert found(None) == [float(k) for k in range(1, 21)]
        assert found(["near"]) == [4.0, 8.0, 12.0, 16.0, 20.0]
        assert found(["near", "far"]) == found(None)
        assert found([]) == [] and found(["no such bank"]) == []
        engine.add_entry("near", [pdq(flip_bits(base, 3))], external_id="gained")  # far's value
        assert found(["near"]) == [3.0, 4.0, 8.0, 12.0, 16.0, 20.0]
        matches = engine.lookup_signals([pdq(base)], banks=["near"]).matches
        assert sorted(m.signals[0].distance for m in matches) == found(["near"])

        asked: list[object] = []  # what the engine asks the index for, around the real call
        search = index.range_search_in
        index.range_search_in = lambda q, t, banks: asked.append(banks) or search(q, t, banks)
        engine.lookup_signals([pdq(base)])
        engine.lookup_signals([pdq(base)], banks=["far"])
        engine.set_bank_enabled("far", False)
        engine.lookup_signals([pdq(base)])
        assert asked == [None, ["far"], ["near"]]
    finally:
        engine.close()
