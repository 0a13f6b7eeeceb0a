"""Every core, and video at the speed of decoding: each figure a ratio to its baseline, one run.

    .venv/bin/python -m pytest bench/test_bench_parallel.py --benchmark-enable -s

* Folder hashing: ``hashcore hash --json DIR`` with ``--jobs 1`` and ``--jobs N`` (N: the cores
  this process may use), on 120 ~1 MP JPEGs, through the real CLI (interpreter start included),
  with the command's start-up and the ceiling it leaves.
* Content lookups over gRPC: a real ``hashcore serve`` with ``--workers 1`` and ``--workers N``
  (its hashing processes follow), N callers sending 40 of those JPEGs as content, with the CPU
  a call of the hashing processes, the server and the callers.
* TMK+PDQF on the shared SD samples, pinned to one core, against decoding alone (every frame,
  what ``ffmpeg -f null`` does), and as a multiple of real time (by the fastest round's CPU
  time and the median one); the HD samples stated too. ``HASHCORE_BENCH_TMK_ROUNDS`` rounds
  (default 5), each side once per round in alternating order.

The machine drifts, and others share it, so the two sides of each figure alternate
``HASHCORE_BENCH_PAIRS`` times (default 3; which goes first swaps every pair) and the figure is
the median of the pairs' ratios.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from content_cpu import cpu_split, lookups_seconds, pictures, started
from PIL import Image
from test_bench_server import ServerProcess

from conftest import REPO, shared_data_dir
from hashcore.engine import Engine
from hashcore.hash_pool import default_jobs
from hashcore_tmk import compute_tmk

PAIRS = int(os.environ.get("HASHCORE_BENCH_PAIRS", "3"))
IMAGES = 120
CONTENT_CALLS = 40
JOBS = default_jobs()
TMK_ROUNDS = int(os.environ.get("HASHCORE_BENCH_TMK_ROUNDS", "5"))


def paired(name: str, base: Callable[[], float], new: Callable[[], float]) -> float:
    """Median over the pairs of ``base() / new()`` (each returns seconds); prints each pair.

    The sides swap order every pair (base first, then new first), so a machine speeding up or
    slowing down during the run favours neither side."""
    ratios = []
    for pair in range(PAIRS):
        if pair % 2:
            new_seconds = new()
            base_seconds = base()
        else:
            base_seconds = base()
            new_seconds = new()
        ratios.append(base_seconds / new_seconds)
        print(f"{name} pair {pair + 1}: {base_seconds:.2f} s / {new_seconds:.2f} s", flush=True)
    return statistics.median(ratios)


def timed(run: Callable[[], object]) -> Callable[[], float]:
    """A side of :func:`paired`: the wall time of ``run()``."""

    def seconds() -> float:
        started = time.perf_counter()
        run()
        return time.perf_counter() - started

    return seconds


def report(line: str) -> None:
    """One figure, printed as soon as it is measured (``-s`` shows it)."""
    print(f"\n{line} [{JOBS} cores available, {PAIRS} pairs]", flush=True)


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 distinct ~1 MP JPEGs: crops of the sample photos, each resized to 1155x866."""
    folder = tmp_path_factory.mktemp("folder-bench")
    pictures(folder, IMAGES)
    return folder


@pytest.fixture(scope="module")
def jpeg_parts(jpeg_folder: Path) -> list[Path]:
    """The same JPEGs dealt into one folder per core (hard links, every N-th file)."""
    parts = [jpeg_folder.parent / f"{jpeg_folder.name}-part{n}" for n in range(JOBS)]
    for number, path in enumerate(sorted(jpeg_folder.iterdir())):
        part = parts[number % JOBS]
        part.mkdir(exist_ok=True)
        os.link(path, part / path.name)
    return parts


def cli_seconds(*args: str) -> float:
    return clis_seconds(list(args))


def clis_seconds(*commands: list[str]) -> float:
    """The wall time of ``hashcore`` commands run at once, until the last one ends."""
    started = time.perf_counter()
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "hashcore.cli.main", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for args in commands
    ]
    codes = [process.wait() for process in running]
    assert codes == [0] * len(running)
    return time.perf_counter() - started


def test_folder_hashing_jobs(benchmark: Any, jpeg_folder: Path, jpeg_parts: list[Path]) -> None:
    """``--jobs N`` against ``--jobs 1``. Beside each ``--jobs 1`` run, two yardsticks:

    * the command's start-up (``hash --json`` of one file), which no number of jobs divides:
      the ceiling printed is ``(start + work) / (start + work / N)``, what perfect scaling of
      the rest would reach at that run's speed;
    * what this machine gives N independent processes: N ``hash --json --jobs 1`` commands at
      once, each on 1/N of the folder (no pool, nothing shared but the cores). ``--jobs N``
      level with it means the pool costs nothing the machine does not.

    Each is the median of the runs; the machine's speed moves, so a ratio can pass them."""
    one_file = sorted(jpeg_folder.iterdir())[0]
    ceilings: list[float] = []
    starts: list[float] = []
    independent: list[float] = []

    def jobs(count: int) -> Callable[[], float]:
        def seconds() -> float:
            if count > 1:
                return cli_seconds("hash", "--json", "--jobs", str(count), str(jpeg_folder))
            start = cli_seconds("hash", "--json", "--jobs", "1", str(one_file))
            total = cli_seconds("hash", "--json", "--jobs", "1", str(jpeg_folder))
            apart = clis_seconds(*(["hash", "--json", "--jobs", "1", str(p)] for p in jpeg_parts))
            starts.append(start)
            ceilings.append(total / (start + (total - start) / JOBS))
            independent.append(total / apart)
            return total

        return seconds

    ratio = benchmark.pedantic(lambda: paired("hash", jobs(1), jobs(JOBS)), rounds=1)
    ceiling, start = statistics.median(ceilings), statistics.median(starts)
    machine = statistics.median(independent)
    benchmark.extra_info.update(
        ratio=round(ratio, 2), jobs=JOBS, ceiling=round(ceiling, 2), independent=round(machine, 2)
    )
    report(
        f"hash --json of {IMAGES} ~1 MP JPEGs: --jobs {JOBS} is x{ratio:.2f} --jobs 1 "
        f"(start-up {start:.2f} s a command: ceiling x{ceiling:.2f}; {JOBS} independent "
        f"--jobs 1 commands on 1/{JOBS} each: x{machine:.2f}; {load()})"
    )


STRAIGHTFORWARD = Path(__file__).with_name("straightforward.py")
"""The straightforward single-core path the issue names (see that file)."""


def straightforward_seconds(folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, str(STRAIGHTFORWARD), str(folder)], check=True)
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def twelve_megapixel_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 distinct 12 MP JPEGs (4032x3024): the shared EXIF-rotation photos, and each mirrored."""
    folder = tmp_path_factory.mktemp("twelve-mp")
    sources = sorted((REPO / "tests" / "data" / "pdq" / "exif-rotn").glob("*.jpg"))
    if not sources:
        sources = sorted((shared_data_dir() / "pdq" / "exif-rotn").glob("*.jpg"))
    for number, path in enumerate(sources):
        picture = Image.open(path).convert("RGB")
        picture.save(folder / f"{number}.jpg", quality=90)
        picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            folder / f"{number}m.jpg", quality=90
        )
    return folder


@pytest.mark.parametrize("size", ["1mp", "12mp"])
def test_image_hashing_against_the_straightforward_path(
    benchmark: Any, jpeg_folder: Path, twelve_megapixel_folder: Path, size: str
) -> None:
    """``hash --json --jobs 1 DIR`` (every family, borders, crops) against the straightforward
    path on the same folder, in the same run."""
    folder = jpeg_folder if size == "1mp" else twelve_megapixel_folder
    ratio = benchmark.pedantic(
        lambda: paired(
            f"{size} images",
            lambda: straightforward_seconds(folder),
            lambda: cli_seconds("hash", "--json", "--jobs", "1", str(folder)),
        ),
        rounds=1,
    )
    benchmark.extra_info.update(ratio=round(ratio, 2))
    count = len(list(folder.iterdir()))
    report(
        f"hash --json --jobs 1 of {count} {size} JPEGs is x{ratio:.2f} the straightforward "
        f"path ({load()})"
    )


def in_process(folder: Path) -> tuple[Callable[[], float], Callable[[], float]]:
    """The straightforward loop and ``hash_files(jobs=1)`` timed in this process, after both
    have imported and warmed up everything: the per-file cost without the interpreter start,
    which the CLI figures above include on both sides."""
    from straightforward import hash_file as straightforward_file

    from hashcore import load_registry
    from hashcore.hash_pool import hash_files
    from hashcore.hashing import warm_up

    paths = sorted(folder.iterdir())
    registry = load_registry()
    warm_up(registry)

    def hash_all() -> None:
        for hashed in hash_files(paths, registry, jobs=1):
            assert hashed.ok, hashed.messages()

    straightforward = timed(lambda: [straightforward_file(path) for path in paths])
    ours = timed(hash_all)
    straightforward(), ours()  # first calls: lazy imports (pHash's scipy) out of the timing
    return straightforward, ours


@pytest.mark.parametrize("size", ["1mp", "12mp"])
def test_image_hashing_per_file_in_process(
    benchmark: Any, jpeg_folder: Path, twelve_megapixel_folder: Path, size: str
) -> None:
    """The same comparison as above without either side's interpreter start: what a long
    folder, ``bank add`` of many files or a hashing worker approaches."""
    folder = jpeg_folder if size == "1mp" else twelve_megapixel_folder
    base, new = in_process(folder)
    ratio = benchmark.pedantic(lambda: paired(f"{size} in process", base, new), rounds=1)
    benchmark.extra_info.update(ratio=round(ratio, 2))
    count = len(list(folder.iterdir()))
    report(
        f"{count} {size} JPEGs hashed in process (no start-up on either side): hashcore is "
        f"x{ratio:.2f} the straightforward path ({load()})"
    )


@pytest.mark.parametrize("size", ["1mp", "12mp"])
@pytest.mark.parametrize("family", ["pdq", "phash", "md5"])
def test_each_family_against_the_straightforward_path(
    benchmark: Any, jpeg_folder: Path, twelve_megapixel_folder: Path, family: str, size: str
) -> None:
    """One family at a time, in process, each file decoded by the family that hashes it, as a
    lone family pays: the plugin's ``hash`` (plain signal) against the straightforward path's
    call for that family (``pdqhash``, ``imagehash.phash``, ``hashlib.md5``). ``Media(path)``
    also finds the file's kind (a header parse, ~0.03 ms), which the straightforward calls skip:
    MD5, the same ``hashlib`` call on both sides, shows that cost."""
    from straightforward import FAMILIES

    from hashcore import Media, load_registry

    folder = jpeg_folder if size == "1mp" else twelve_megapixel_folder
    paths = sorted(folder.iterdir())[:40]
    signal_type = load_registry().get(family)
    signal_type.warm_up()
    baseline = FAMILIES[family]

    straightforward = timed(lambda: [baseline(path) for path in paths])
    ours = timed(lambda: [signal_type.hash(Media(path)) for path in paths])
    straightforward(), ours()  # first calls: lazy imports out of the timing
    ratio = benchmark.pedantic(lambda: paired(f"{family} {size}", straightforward, ours), rounds=1)
    benchmark.extra_info.update(ratio=round(ratio, 2))
    report(
        f"{family} alone, {len(paths)} {size} JPEGs decoded and hashed in process: hashcore is "
        f"x{ratio:.2f} the straightforward path ({load()})"
    )


def test_compiled_pdq_against_pdqhash(benchmark: Any, jpeg_folder: Path) -> None:
    """The PDQ family alone, in process, on decoded 1 MP pictures: the compiled kernel against
    ``pdqhash.compute`` (HASHCORE_IMAGE_PATH=reference), plain hash and the 8 lookup
    variants."""
    from hashcore import Media
    from hashcore_pdq.plugin import PdqSignal

    pictures = []
    for path in sorted(jpeg_folder.glob("*.jpg"))[:40]:
        media = Media(path)
        assert media.rgb_image.size == (1155, 866)  # decoded once, outside the timing
        pictures.append(media)
    pdq = PdqSignal()
    pdq.warm_up()

    def hashing(implementation: str, variants: bool) -> Callable[[], float]:
        def run() -> None:
            os.environ["HASHCORE_IMAGE_PATH"] = implementation
            for media in pictures:
                pdq.hash_variants(media) if variants else pdq.hash(media)

        return timed(run)

    try:
        plain = paired("pdq plain", hashing("reference", False), hashing("fast", False))
        variants = benchmark.pedantic(
            lambda: paired("pdq 8 variants", hashing("reference", True), hashing("fast", True)),
            rounds=1,
        )
    finally:
        os.environ.pop("HASHCORE_IMAGE_PATH", None)
    benchmark.extra_info.update(plain=round(plain, 2), variants=round(variants, 2))
    report(
        f"PDQ on 40 decoded 1 MP pictures: compiled is x{plain:.2f} pdqhash (plain hash), "
        f"x{variants:.2f} (8 lookup variants) ({load()})"
    )


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory, jpeg_folder: Path) -> Path:
    """A bank of ten of the JPEGs: content lookups cost their hashing, not the index."""
    store = tmp_path_factory.mktemp("content-bench") / "store"
    with Engine(store) as engine:
        engine.create_bank("known")
        for path in sorted(jpeg_folder.glob("*.jpg"))[:10]:
            engine.add_file("known", path)
    return store


@pytest.fixture(scope="module")
def small_store_copies(small_store: Path) -> list[Path]:
    """One copy of ``small_store`` per core, for as many independent servers."""
    copies = [small_store.parent / f"copy{n}" for n in range(JOBS)]
    for copy in copies:
        shutil.copytree(small_store, copy)
    return copies


def test_content_lookups_workers(
    benchmark: Any, jpeg_folder: Path, small_store: Path, small_store_copies: list[Path]
) -> None:
    """``--workers N`` against ``--workers 1``. Each run also reads the CPU a call costs in the
    hashing workers (w), the server process (s) and the callers here (c), all on the same
    cores: with N workers busy, s and c take cores from the hashing, which bounds the ratio
    near ``N w / (w + s + c)``. Beside each ``--workers 1`` run, N independent servers of one
    worker each (a store copy each, the callers dealt between them): what this machine gives
    the same calls with nothing shared but the cores."""
    contents = [path.read_bytes() for path in sorted(jpeg_folder.glob("*.jpg"))[:CONTENT_CALLS]]
    terms: dict[int, list[tuple[float, float, float]]] = {1: [], JOBS: []}  # w, s, c a run
    independent: list[float] = []

    def server(workers: int) -> Callable[[], float]:
        def seconds() -> float:
            process = ServerProcess(small_store, workers)
            try:
                started([process], workers, contents[0])
                before = cpu_split(process.process.pid)
                wall = lookups_seconds([process], contents, JOBS)
                hashing, serving, calling = (
                    a - b for a, b in zip(cpu_split(process.process.pid), before, strict=True)
                )
                terms[workers].append((hashing, serving, calling))
            finally:
                process.close()
            if workers == 1:
                apart: list[ServerProcess] = []
                try:  # a server that fails to start leaves none of the others running
                    for copy in small_store_copies:
                        apart.append(ServerProcess(copy, 1))
                    started(apart, 1, contents[0])
                    independent.append(wall / lookups_seconds(apart, contents, JOBS))
                finally:
                    for each in apart:
                        each.close()
            return wall

        return seconds

    ratio = benchmark.pedantic(lambda: paired("content", server(1), server(JOBS)), rounds=1)
    machine = statistics.median(independent)
    benchmark.extra_info.update(ratio=round(ratio, 2), workers=JOBS, independent=round(machine, 2))
    split = "; ".join(
        "{} worker(s): w {:.1f}, s {:.1f}, c {:.1f}".format(
            workers,
            *(1000 * statistics.median(term) / CONTENT_CALLS for term in zip(*runs, strict=True)),
        )
        for workers, runs in terms.items()
    )
    report(
        f"content Lookup over gRPC ({CONTENT_CALLS} ~1 MP JPEGs, {JOBS} callers): --workers "
        f"{JOBS} is x{ratio:.2f} --workers 1 ({JOBS} independent 1-worker servers: "
        f"x{machine:.2f}; CPU ms a call, {split}; {load()})"
    )


def videos(hd: bool) -> list[Path]:
    found = sorted((shared_data_dir() / "tmk" / "videos").glob("*.mp4"))
    if not found:
        pytest.skip("no TMK sample videos: set HASHCORE_SHARED_DATA")
    return [path for path in found if ("-hd-" in path.name) == hd]


def decode_all(paths: list[Path]) -> float:
    started = time.process_time()
    for path in paths:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                pass
    return time.process_time() - started


def hash_all(paths: list[Path]) -> float:
    started = time.process_time()
    for path in paths:
        compute_tmk(path)
    return time.process_time() - started


@pytest.fixture
def one_core() -> Iterator[None]:
    """This process on one core (its CPU time is what is measured)."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


@pytest.mark.parametrize("size", ["SD", "HD"])
def test_tmk_against_decoding(benchmark: Any, one_core: None, size: str) -> None:
    """CPU time on one core, the two sides alternating which runs first, round by round: the
    VM's CPU time for the same work varied 5.6-9.1 s within minutes (session 9), more than any
    change measured, so the fastest round is printed beside the median."""
    paths = videos(size == "HD")
    seconds_of_video = 0.0
    for path in paths:
        with av.open(str(path)) as container:
            seconds_of_video += (container.duration or 0) / av.time_base
    sides: dict[str, Callable[[], float]] = {
        "decode-only": lambda: decode_all(paths),
        "tmk": lambda: hash_all(paths),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}

    def rounds() -> None:
        names = list(sides)
        for number in range(TMK_ROUNDS):
            for name in names if number % 2 == 0 else names[::-1]:
                times[name].append(sides[name]())
            line = ", ".join(f"{name} {times[name][-1]:.2f} s" for name in sides)
            print(f"tmk {size} round {number + 1}: {line}", flush=True)

    benchmark.pedantic(rounds, rounds=1)
    fastest = seconds_of_video / min(times["tmk"])
    typical = seconds_of_video / statistics.median(times["tmk"])
    ratio = statistics.median(
        d / t for d, t in zip(times["decode-only"], times["tmk"], strict=True)
    )
    benchmark.extra_info.update(
        real_time_fastest=round(fastest, 1),
        real_time_median=round(typical, 1),
        decode_over_tmk=round(ratio, 2),
    )
    print(
        f"\nTMK+PDQF, {len(paths)} {size} samples ({seconds_of_video:.0f} s of video), one "
        f"core: {fastest:.1f}x real time (fastest round's CPU time), {typical:.1f}x (median); "
        f"decode-only / TMK x{ratio:.2f} [{TMK_ROUNDS} rounds, {load()}]",
        flush=True,
    )
