"""Bank the originals and look every edited copy up through the public engine path.

Why this shape: a hotline's question is "will a re-upload match, and will an unrelated picture
match by accident", answered by the engine as deployed. So the originals are banked by the very
function ``hashcore bank add`` uses (:func:`hashcore.cli.bank_cmd._add_one`: whatever it stores,
e.g. extra border-trimmed variants, the benchmark stores too), and every edited copy is written
to a file and looked up with :meth:`Engine.lookup_file` at the default thresholds, the path of
``hashcore lookup FILE``. Per-family recall comes from the signals of the returned matches.

For the curves (recall and false-match rate as a threshold varies) the raw distances are needed
too: the worker records the signals ``lookup_file`` computed (by wrapping the ``hash_file`` the
engine module calls, so nothing is hashed twice) and compares them with every entry's stored
signals read back from the store (min over query variants x stored values, as the index does).
If a future ``lookup_file`` stops calling ``hash_file`` the worker hashes the copy itself.
"""

from __future__ import annotations

import inspect
import math
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.robustness.edits import EDITS, encode
from hashcore.cli.bank_cmd import _add_one
from hashcore.engine import Engine
from hashcore.hashing import FileHashes, hash_file
from hashcore.model import LookupResult

BANK = "corpus"
HAMMING_FAMILIES = ("pdq", "phash")
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}


@dataclass
class EditResult:
    """One looked-up copy: which entries matched (with per-family distances) and its signals."""

    original: int  # index into the originals list
    edit: str
    matches: dict[int, dict[str, float]]  # entry id -> family -> distance of the hit
    query: dict[str, list[bytes]]  # usable query values per family (not md5)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def bank_originals(store: Path, paths: Sequence[Path], bank: str = BANK) -> list[int]:
    """Create the bank and add each original as ``hashcore bank add`` does; entry id per path."""
    ids = []
    with Engine(store) as engine:
        engine.create_bank(bank)
        for path in paths:
            outcome, line, _warnings = _add_one(engine, bank, _add_input(engine, path), [])
            if outcome != "added":
                raise RuntimeError(line)
            ids.append(int(line.split("\t", 1)[0]))
        engine.compact()
    return ids


def _add_input(engine: Any, path: Path) -> Any:
    """What this revision's ``_add_one`` takes: the file's hashes (since the ``--jobs`` pool
    hashes them in workers) or, in older revisions, the path."""
    if "hashes" in inspect.signature(_add_one).parameters:
        return hash_file(path, engine.registry)
    return path


def stored_values(store: Path, bank: str, entry_ids: Sequence[int]) -> dict[str, list[list[bytes]]]:
    """Per Hamming family, per entry: the values the store holds (read back, not assumed)."""
    out: dict[str, list[list[bytes]]] = {f: [] for f in HAMMING_FAMILIES}
    with Engine(store) as engine:
        for entry_id in entry_ids:
            signals = engine.get_entry(bank, entry_id).signals
            for family in HAMMING_FAMILIES:
                out[family].append([s.value for s in signals if s.type == family and s.usable])
    return out


# Worker side -------------------------------------------------------------------------------

_engine: Engine | None = None
_captured: list[FileHashes] = []
_tmp: str = ""
_reported = False

EXPECT_ROOT = "HASHCORE_BENCH_EXPECT_ROOT"
"""Set by ``--revision``: every hashcore module must be imported from under this folder."""


def module_files(registry: Any) -> dict[str, str]:
    """Where the engine and every loaded plugin were imported from (``--revision``'s check)."""
    import sys

    names = ["hashcore", "hashcore.engine", "hashcore.cli.bank_cmd"]
    names += [type(registry.get(n)).__module__ for n in registry.names()]
    return {n: str(getattr(sys.modules.get(n), "__file__", None)) for n in names}


def check_modules(files: dict[str, str]) -> None:
    """Raise when ``--revision`` asked for a tree and a module comes from elsewhere."""
    root = os.environ.get(EXPECT_ROOT)
    if not root:
        return
    outside = {
        n: f for n, f in files.items() if not Path(f).resolve().is_relative_to(Path(root).resolve())
    }
    if outside:
        raise RuntimeError(f"modules imported from outside {root}: {outside}")


def _init_worker(store: str) -> None:
    global _engine, _tmp
    import hashcore.engine as engine_module

    try:  # one worker per core: FAISS's own threads would only fight the other worker
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    plain = engine_module.hash_file

    def capturing(*args: Any, **kwargs: Any) -> FileHashes:
        result = plain(*args, **kwargs)
        _captured.append(result)
        return result

    engine_module.hash_file = capturing  # type: ignore[assignment]
    _engine = Engine(store)
    _tmp = tempfile.mkdtemp(prefix="hashcore-robustness-")


def summarise(original: int, edit: str, result: LookupResult, hashes: FileHashes) -> EditResult:
    """Keep what the report needs from one lookup (small enough to send between processes).

    Reads only fields every hashcore version has had (entry id, hit type and distance, skipped
    type and reason), so ``--revision`` can measure older code with the same benchmark.
    """
    matches = {
        m.entry_id: {hit.type: float(hit.distance) for hit in m.signals} for m in result.matches
    }
    query: dict[str, list[bytes]] = defaultdict(list)
    for signal in hashes.signals:
        if signal.type != "md5" and getattr(signal, "usable", True):
            query[signal.type].append(signal.value)
    return EditResult(
        original,
        edit,
        matches,
        dict(query),
        list(result.errors),
        [f"{s.type}: {getattr(s, 'reason', '')}" for s in result.skipped],
    )


def lookup_copy(path: Path, original: int, edit: str) -> EditResult:
    assert _engine is not None
    _captured.clear()
    result = _engine.lookup_file(path)
    hashes = _captured[-1] if _captured else hash_file(path, _engine.registry, variants=True)
    return summarise(original, edit, result, hashes)


def _run_original(original: int, path: str, seed: int) -> list[EditResult]:
    """Every edit of one original: edit, write, look up, delete.

    The original is decoded once; each edited copy is encoded once, written once and decoded
    once (by the engine); its hashes are the engine's own (captured, not recomputed).
    """
    with Image.open(path) as raw:
        image = raw.convert("RGB")
    results = []
    for n, edit in enumerate(EDITS):
        if edit.format == "SOURCE":
            target = Path(path)
        else:
            data = encode(edit.apply(image, seed), edit)
            target = Path(_tmp) / f"{original}-{n}{SUFFIX[edit.format]}"
            target.write_bytes(data)
        try:
            results.append(lookup_copy(target, original, edit.name))
        finally:
            if target != Path(path):
                target.unlink()
    return results


@dataclass
class TaskOutput:
    kind: str  # "image" or "video"
    results: list[EditResult]
    cpu: float  # CPU seconds of the task in its worker
    pid: int
    modules: dict[str, str] | None  # the worker's module files, with its first task only


def _run_task(task: tuple[str, int, str, Any]) -> TaskOutput:
    """One image original (all its edits) or one video original, in a worker."""
    global _reported
    from bench.robustness import video  # here, not at the top: video imports this module

    kind, index, path, extra = task
    start = time.process_time()
    modules = None
    if not _reported:
        assert _engine is not None
        modules = module_files(_engine.registry)
        check_modules(modules)
        _reported = True
    if kind == "image":
        results = _run_original(index, path, extra)
    else:
        results = video.run_video(index, path, extra)
    return TaskOutput(kind, results, time.process_time() - start, os.getpid(), modules)


@dataclass
class LookupRun:
    images: list[EditResult]
    videos: list[EditResult]
    cpu: dict[str, float]  # worker CPU seconds per kind
    modules: dict[int, dict[str, str]]  # worker pid -> module files


def run_lookups(
    store: Path,
    paths: Sequence[Path],
    workers: int,
    video_paths: Sequence[Path] = (),
    video_workdir: Path | None = None,
) -> LookupRun:
    """All edits of all originals (and the video part) over one pool of ``workers`` processes.

    One pool, so each worker opens the store once; forked after the parent imported everything,
    so nothing is imported twice. The few long video tasks go first and the many short image
    tasks fill in behind them, so no worker idles at the end waiting for the other's video.
    """
    tasks: list[tuple[str, int, str, Any]] = []
    if video_paths:
        assert video_workdir is not None
        video_workdir.mkdir(parents=True, exist_ok=True)
        tasks += [("video", n, str(p), str(video_workdir)) for n, p in enumerate(video_paths)]
    tasks += [("image", n, str(p), n * 7919 + 1) for n, p in enumerate(paths)]
    run = LookupRun([], [], {"image": 0.0, "video": 0.0}, {})
    done = 0
    started = time.monotonic()
    with get_context("fork").Pool(workers, _init_worker, (str(store),)) as pool:
        for output in pool.imap_unordered(_run_task, tasks):
            (run.images if output.kind == "image" else run.videos).extend(output.results)
            run.cpu[output.kind] += output.cpu
            if output.modules is not None:
                run.modules[output.pid] = output.modules
            done += 1
            if done % 25 == 0 or done == len(tasks):
                elapsed = time.monotonic() - started
                print(
                    f"  {done}/{len(tasks)} originals done in {elapsed:.0f} s "
                    f"({len(run.images) / elapsed:.1f} image lookups/s)",
                    flush=True,
                )
    order = {e.name: n for n, e in enumerate(EDITS)}
    run.images.sort(key=lambda r: (r.original, order[r.edit]))
    run.videos.sort(key=lambda r: (r.original, r.edit))
    return run


# Distances ----------------------------------------------------------------------------------


def as_array(values: Sequence[bytes], width: int) -> np.ndarray:
    if not values:
        return np.zeros((0, width), dtype=np.uint8)
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), width)


@dataclass
class FamilyDistances:
    """Per Hamming family: genuine distance per edit, impostor histograms, variant counts."""

    family: str
    bits: int
    genuine: np.ndarray  # per EditResult; inf when the copy had no usable hash
    impostor_hist: np.ndarray  # edits vs every other original (min over variants), per distance
    distinct_hist: np.ndarray  # identical-file queries vs every other original (ordered pairs)
    plain_distinct: np.ndarray  # plain hash vs plain hash of distinct originals (unordered)
    query_variants: float  # mean usable query values per lookup
    stored_variants: float  # mean stored values per entry
    closest_distinct: list[tuple[int, int, int]]  # (query original, other original, distance)


def family_distances(
    family: str, results: Sequence[EditResult], stored: list[list[bytes]]
) -> FamilyDistances:
    width = len(next(v for vs in stored for v in vs))
    bits = width * 8
    owners = np.array([n for n, vs in enumerate(stored) for _ in vs], dtype=np.int64)
    matrix = as_array([v for vs in stored for v in vs], width)
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    owner_of_start = owners[starts]
    genuine = np.full(len(results), np.inf)
    impostor = np.zeros(bits + 1, dtype=np.int64)
    distinct = np.zeros(bits + 1, dtype=np.int64)
    closest: list[tuple[int, int, int]] = []
    counts = []
    for n, result in enumerate(results):
        queries = as_array(result.query.get(family, []), width)
        if len(queries) == 0:
            continue
        counts.append(len(queries))
        d = np.bitwise_count(queries[:, None, :] ^ matrix[None, :, :]).sum(axis=2).min(axis=0)
        per_owner = np.full(len(stored), bits + 1, dtype=np.int64)
        per_owner[owner_of_start] = np.minimum.reduceat(d, starts)
        genuine[n] = per_owner[result.original]
        others = np.delete(per_owner, result.original)
        others = others[others <= bits]
        hist = np.bincount(others, minlength=bits + 1)
        impostor += hist
        if result.edit == EDITS[0].name:
            distinct += hist
            ranked = np.argsort(per_owner)
            for other in ranked[:3]:
                if other != result.original:
                    closest.append((result.original, int(other), int(per_owner[other])))
    plain = [vs[0] for vs in stored if vs]
    plain_matrix = as_array(plain, width)
    plain_d = np.bitwise_count(plain_matrix[:, None, :] ^ plain_matrix[None, :, :]).sum(axis=2)
    upper = plain_d[np.triu_indices(len(plain), 1)]
    closest.sort(key=lambda t: t[2])
    return FamilyDistances(
        family=family,
        bits=bits,
        genuine=genuine,
        impostor_hist=impostor,
        distinct_hist=distinct,
        plain_distinct=upper,
        query_variants=float(np.mean(counts)) if counts else 0.0,
        stored_variants=float(np.mean([len(vs) for vs in stored])),
        closest_distinct=closest[:10],
    )


def binom_cdf_half(bits: int, t: int) -> float:
    """P(Binomial(bits, 1/2) <= t), exact (Python integers), for uniform random codes."""
    if t < 0:
        return 0.0
    total = sum(math.comb(bits, k) for k in range(min(t, bits) + 1))
    return total / 2**bits


def per_lookup(pair_rate: float, tries: float) -> float:
    """P(at least one of ``tries`` independent comparisons hits) for a per-comparison rate."""
    if pair_rate <= 0:
        return 0.0
    if pair_rate >= 1:
        return 1.0
    return -math.expm1(tries * math.log1p(-pair_rate))


def normal_tail(values: np.ndarray, t: int) -> float:
    """P(X <= t) under a normal fitted to ``values`` (continuity-corrected); a model, not data."""
    mu, sigma = float(np.mean(values)), float(np.std(values))
    return 0.5 * math.erfc(-((t + 0.5 - mu) / (sigma * math.sqrt(2))))


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
