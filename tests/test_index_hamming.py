"""HammingIndex against a brute-force oracle, with neighbours planted at threshold-1/T/T+1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashcore.errors import InvalidInput
from hashcore.index import hamming
from hashcore.index.base import IndexCorrupt
from hashcore.index.hamming import HammingIndex
from tests.media_data import media


@pytest.fixture(autouse=True)
def small_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let test-sized batches take the bulk path into main (tables), as 10k+ batches do."""
    monkeypatch.setattr(hamming, "BULK_MIN", 100)


def shared_data(*parts: str) -> Path:
    """A test data file: tests/data first, then the shared data directory."""
    return media("/".join(parts))


def flip(code: np.ndarray, nbits: int, rng: np.random.Generator) -> np.ndarray:
    """``code`` with exactly ``nbits`` distinct bits flipped."""
    out = code.copy()
    for bit in rng.choice(code.shape[0] * 8, nbits, replace=False):
        out[bit // 8] ^= np.uint8(1 << (7 - bit % 8))
    return out


def brute(stored: dict[int, bytes], queries: list[bytes], threshold: int) -> list[list[tuple]]:
    """The oracle: every stored value within ``threshold``, sorted by (distance, id)."""
    out = []
    for q in queries:
        qi = int.from_bytes(q, "big")
        hits = [(i, (qi ^ int.from_bytes(v, "big")).bit_count()) for i, v in stored.items()]
        out.append(sorted(((i, d) for i, d in hits if d <= threshold), key=lambda h: (h[1], h[0])))
    return out


def got(index: HammingIndex, queries: list[bytes], threshold: int) -> list[list[tuple]]:
    return [
        [(h.value_id, int(h.distance)) for h in hits] for hits in index.search(queries, threshold)
    ]


def planted(bits: int, n: int, threshold: int, seed: int) -> tuple[dict[int, bytes], list[bytes]]:
    """Random codes plus, per query, neighbours at exactly threshold-1, threshold, threshold+1."""
    rng = np.random.default_rng(seed)
    nbytes = bits // 8
    codes = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(12, nbytes), dtype=np.uint8)
    extra = []
    for q in queries:
        for d in (threshold - 1, threshold, threshold + 1, 0):
            if 0 <= d <= bits:
                extra.append(flip(q, d, rng))
    allc = np.concatenate([codes, np.array(extra)])
    ids = rng.permutation(10 * allc.shape[0])[: allc.shape[0]] - 5  # sparse, some negative
    return {int(i): c.tobytes() for i, c in zip(ids, allc, strict=True)}, [
        q.tobytes() for q in queries
    ]


def build(bits: int, stored: dict[int, bytes], flat_below: int = 100) -> HammingIndex:
    index = HammingIndex(bits, flat_below=flat_below)
    index.add(list(stored), list(stored.values()))
    return index


CASES = [(256, t) for t in (0, 10, 31, 32, 40, 70)] + [(64, 8), (64, 10)]


@pytest.mark.parametrize(("bits", "threshold"), CASES)
def test_planted_neighbours_equal_brute_force(bits: int, threshold: int) -> None:
    stored, queries = planted(bits, 3000, threshold, seed=threshold + bits)
    index = build(bits, stored)
    assert index._tables is not None  # the multi-index structure, not a flat scan
    expected = brute(stored, queries, threshold)
    assert got(index, queries, threshold) == expected
    # Every planted neighbour at threshold - 1 and threshold is found, the one at +1 is not.
    assert sum(len(e) for e in expected) >= 12 * (3 if threshold else 2)

    # Delta + tombstones: remove some (planted ones included), add and re-add others.
    rng = np.random.default_rng(7)
    ids = list(stored)
    gone = [ids[i] for i in rng.choice(len(ids), 200, replace=False)] + ids[-20:]
    index.remove([*gone, 123456789])  # unknown ids are ignored
    for i in gone:
        stored.pop(i, None)
    fresh = {10**9 + k: flip(np.frombuffer(queries[k % 12], np.uint8), threshold, rng).tobytes()
             for k in range(30)}  # fmt: skip
    replaced = {ids[k]: flip(np.frombuffer(queries[k % 12], np.uint8), 1, rng).tobytes()
                for k in range(5)}  # fmt: skip
    index.add(list(fresh) + list(replaced), list(fresh.values()) + list(replaced.values()))
    stored.update(fresh)
    stored.update(replaced)
    assert len(index) == len(stored)
    assert got(index, queries, threshold) == brute(stored, queries, threshold)
    index.compact()
    assert index.delta_size == 0 and len(index) == len(stored)
    assert got(index, queries, threshold) == brute(stored, queries, threshold)


@pytest.mark.parametrize("threshold", [31, 47, 64, 90])
def test_forced_multi_index_is_exact_at_large_radii(
    threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost model would choose a flat scan here; force the probes to check them anyway."""
    monkeypatch.setattr(hamming, "CANDIDATE_COST", 0.0)
    monkeypatch.setattr(hamming, "PROBE_COST", 0.0)
    monkeypatch.setattr(hamming, "choose_substrings", lambda bits, n: 16)
    stored, queries = planted(256, 300, threshold, seed=threshold)
    index = build(256, stored)
    assert not index._plan(threshold).flat
    assert got(index, queries, threshold) == brute(stored, queries, threshold)


def test_dense_cluster_many_hits_per_query_with_tombstones() -> None:
    """Hundreds of hits for one query, each found through several tables, some removed.

    Exercises the compiled search's growing buffers and its per-query de-duplication.
    """
    rng = np.random.default_rng(11)
    centre = rng.integers(0, 256, 32, dtype=np.uint8)
    cluster = {i: flip(centre, int(rng.integers(0, 6)), rng).tobytes() for i in range(700)}
    noise = {10_000 + i: rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for i in range(3000)}
    stored = cluster | noise
    index = build(256, stored)
    assert index._tables is not None and not index._plan(31).flat
    queries = [centre.tobytes(), flip(centre, 3, rng).tobytes(), noise[10_000]]
    assert got(index, queries, 31) == brute(stored, queries, 31)
    assert len(got(index, queries, 31)[0]) >= 700
    gone = list(range(0, 700, 3))
    index.remove(gone)
    for i in gone:
        del stored[i]
    assert got(index, queries, 31) == brute(stored, queries, 31)


def test_flat_scan_for_small_index_and_huge_thresholds() -> None:
    stored, queries = planted(256, 500, 31, seed=3)
    index = build(256, stored, flat_below=10_000)
    assert index._tables is None
    for t in (-1, 0, 31, 256, 1000):
        assert got(index, queries, t) == brute(stored, queries, t)
    assert got(index, queries, 31.9) == brute(stored, queries, 31)
    assert got(index, queries, float("inf")) == brute(stored, queries, 256)


@pytest.mark.parametrize("single_thread_pairs", [1, 1 << 40])
def test_flat_scans_on_one_thread_or_many_find_the_same(
    single_thread_pairs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small scans run on the calling thread (waking OpenMP's threads costs more): either way
    the hits are the oracle's."""
    monkeypatch.setattr(hamming, "SINGLE_THREAD_PAIRS", single_thread_pairs)
    stored, queries = planted(256, 500, 31, seed=5)
    index = build(256, stored, flat_below=10_000)
    assert got(index, queries, 31) == brute(stored, queries, 31)


def test_the_scan_threads_are_set_per_calling_thread() -> None:
    """libgomp keeps the count per thread, so a lookup's single-threaded scan does not make a
    concurrent batch scan single-threaded."""
    import threading

    import faiss

    assert hamming._openmp_threads(10) == 1
    assert hamming._openmp_threads(hamming.SINGLE_THREAD_PAIRS) == hamming._OPENMP_THREADS
    seen: list[int] = []

    def small_scan() -> None:
        hamming._flat(np.zeros((2, 4), np.uint64), np.zeros((3, 4), np.uint64), 0)
        seen.append(faiss.omp_get_max_threads())

    before = faiss.omp_get_max_threads()
    thread = threading.Thread(target=small_scan)
    thread.start()
    thread.join()
    assert seen == [1]
    assert faiss.omp_get_max_threads() == before


def test_shared_needles_and_haystack() -> None:
    """The shared PDQ set: 50 needles at distance 0 and 250 pairs within 31, by brute force."""
    needles = [bytes.fromhex(x) for x in shared_data("pdq", "needles.txt").read_text().split()]
    hay = [bytes.fromhex(x) for x in shared_data("pdq", "haystack.txt").read_text().split()]
    index = HammingIndex(256, flat_below=100)
    index.add(list(range(len(hay))), hay)
    assert index._tables is not None
    pairs = {(q, h.value_id, int(h.distance)) for q, hits in enumerate(index.search(needles, 31))
             for h in hits}  # fmt: skip
    oracle = brute(dict(enumerate(hay)), needles, 31)
    assert pairs == {(q, i, d) for q, hits in enumerate(oracle) for i, d in hits}
    assert len(pairs) == 250
    assert sum(1 for p in pairs if p[2] == 0) == 50


def test_add_remove_visible_immediately_and_readd_replaces() -> None:
    rng = np.random.default_rng(1)
    base = {i: rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for i in range(1000)}
    index = build(256, base)
    a = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    b = flip(np.frombuffer(a, np.uint8), 40, rng).tobytes()
    index.add([5000], [a])
    assert index.search([a], 0)[0][0].value_id == 5000 and len(index) == 1001
    index.add([5000], [b])  # re-add replaces, in the delta
    assert index.search([a], 31) == [[]] and index.search([b], 0)[0][0].value_id == 5000
    index.add([7], [a])  # re-add replaces a main value
    assert [h.value_id for h in index.search([a], 0)[0]] == [7]
    assert index.search([base[7]], 0) == [[]] and len(index) == 1001
    index.remove([7, 5000])
    assert index.search([a, b], 0) == [[], []] and len(index) == 999
    index.add([7, 7], [base[7], a])  # the last of repeated ids wins
    assert [h.value_id for h in index.search([a], 0)[0]] == [7] and len(index) == 1000


def test_bulk_add_merges_into_main(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hamming, "BULK_MIN", 200)
    stored, queries = planted(256, 400, 31, seed=9)
    index = HammingIndex(256, flat_below=100)
    index.add(list(stored)[:100], list(stored.values())[:100])
    index.add(list(stored), list(stored.values()))  # big batch: a rebuild, not a delta
    assert index.delta_size == 0 and len(index) == len(stored)
    assert got(index, queries, 31) == brute(stored, queries, 31)


def test_rejects_bad_input() -> None:
    index = HammingIndex(64)
    with pytest.raises(InvalidInput):
        index.add([1], [b"\x00" * 7])
    with pytest.raises(InvalidInput):
        index.add([1, 2], [b"\x00" * 8])
    with pytest.raises(InvalidInput):
        index.search([b"\x00" * 9], 3)
    with pytest.raises(InvalidInput):
        index.search([b"\x00" * 8], float("nan"))
    with pytest.raises(ValueError):
        HammingIndex(60)


def _mutated(bits: int) -> tuple[HammingIndex, dict[int, bytes], list[bytes]]:
    stored, queries = planted(bits, 2000, 31, seed=11)
    index = build(bits, stored)
    ids = list(stored)
    index.remove(ids[:50])
    for i in ids[:50]:
        del stored[i]
    index.add([-1, ids[60]], [queries[0], queries[1]])
    stored[-1], stored[ids[60]] = queries[0], queries[1]
    return index, stored, queries


@pytest.mark.parametrize("bits", [256, 64, 72])
def test_save_load_round_trip(bits: int, tmp_path: Path) -> None:
    index, stored, queries = _mutated(bits)
    index.save(tmp_path / "snap")
    loaded = HammingIndex.load(tmp_path / "snap")
    assert len(loaded) == len(stored) == len(index)
    for t in (0, 10, 31):
        assert got(loaded, queries, t) == got(index, queries, t) == brute(stored, queries, t)
    loaded.compact()
    loaded.save(tmp_path / "snap")  # overwrite an existing snapshot
    again = HammingIndex.load(tmp_path / "snap")
    assert got(again, queries, 31) == brute(stored, queries, 31)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_refuses_to_replace_unrelated_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        HammingIndex(64).save(tmp_path)


def _corrupt_cases() -> list[str]:
    return ["truncate", "flip", "garbage", "missing", "manifest", "count", "kind", "version"]


@pytest.mark.parametrize("how", _corrupt_cases())
def test_corrupt_snapshot_raises(how: str, tmp_path: Path) -> None:
    index, _, _ = _mutated(256)
    snap = tmp_path / "snap"
    index.save(snap)
    codes = snap / "codes.npy"
    manifest = json.loads((snap / "manifest.json").read_text())
    if how == "truncate":
        codes.write_bytes(codes.read_bytes()[:-100])
    elif how == "flip":
        data = bytearray(codes.read_bytes())
        data[-5] ^= 0x10
        codes.write_bytes(bytes(data))
    elif how == "garbage":
        codes.write_bytes(b"\x00" * codes.stat().st_size)
    elif how == "missing":
        (snap / "order.npy").unlink()
    elif how == "manifest":
        (snap / "manifest.json").write_text("{not json")
    else:
        if how == "count":
            manifest["params"]["count"] += 1
        elif how == "kind":
            manifest["kind"] = "ExactIndex"
        else:
            manifest["version"] = 99
        (snap / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt):
        HammingIndex.load(snap)


def test_load_of_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(IndexCorrupt):
        HammingIndex.load(tmp_path / "nope")


codes64 = st.binary(min_size=8, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(codes64, min_size=0, max_size=60),
    queries=st.lists(codes64, min_size=1, max_size=5),
    removed=st.lists(st.integers(0, 80), max_size=10),
    added=st.lists(codes64, max_size=10),
    threshold=st.integers(-1, 64),
    compact=st.booleans(),
)
def test_property_equals_brute_force(
    values: list[bytes],
    queries: list[bytes],
    removed: list[int],
    added: list[bytes],
    threshold: int,
    compact: bool,
) -> None:
    index = HammingIndex(64, flat_below=8)  # small sets still get the multi-index tables
    stored = dict(enumerate(values))
    index.add(list(stored), list(stored.values()))
    index.remove(removed)
    for i in removed:
        stored.pop(i, None)
    new = {40 + k: v for k, v in enumerate(added)}  # overlaps existing ids: replacement
    index.add(list(new), list(new.values()))
    stored.update(new)
    if compact:
        index.compact()
    assert len(index) == len(stored)
    assert got(index, queries, threshold) == brute(stored, queries, threshold)
