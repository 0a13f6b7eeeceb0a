"""``--jobs``: hashing in worker processes keeps the in-process output, order and errors.

Real images, a real corrupt file, workers that really die (``os._exit`` from a plugin, and
SIGKILL from outside), and a real server on 127.0.0.1 hashing content in its processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pool_plugin import DIE_STATUS, CueSignal
from server_support import FLIPPED, ORIGINAL, ROTATED, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.cancel import stop_when
from hashcore.cli.main import main
from hashcore.engine import Engine
from hashcore.errors import Cancelled
from hashcore.hash_pool import HashPool, WorkersDied, hash_files, ordered_map
from hashcore.hashing import FileHashes, hash_file, iter_files
from hashcore.registry import SignalRegistry, load_registry
from hashcore_server.config import Limits, ServerConfig
from hashcore_server.server import create_server

DATA = Path(__file__).parent / "data" / "pdq"
HASHCORE = [sys.executable, "-m", "hashcore.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HASHCORE, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real JPEGs in two folders, a truncated JPEG and an empty file among them."""
    root = tmp_path_factory.mktemp("images")
    (root / "dih").mkdir()
    for image in sorted((DATA / "dih").glob("*.jpg")):
        shutil.copy(image, root / "dih" / image.name)
    for image in sorted((DATA / "misc").glob("*.jpg")):
        shutil.copy(image, root / image.name)
    (root / "dih" / "bridge-4b-truncated.jpg").write_bytes(ORIGINAL.read_bytes()[:3000])
    (root / "empty.jpg").touch()
    return root


@pytest.fixture(scope="module")
def cue_registry() -> SignalRegistry:
    return SignalRegistry([*load_registry(), CueSignal()])


def test_hash_jobs_output_equals_jobs_1(folder: Path) -> None:
    one = run("hash", "--json", "--jobs", "1", str(folder))
    three = run("hash", "--json", "--jobs", "3", str(folder))
    assert one.returncode == three.returncode == 1  # the corrupt and the empty file
    assert three.stdout == one.stdout
    rows = [json.loads(line) for line in three.stdout.splitlines()]
    assert len(rows) == len(list(folder.rglob("*.jpg")))
    errors = {Path(row["path"]).name for row in rows if row["errors"]}
    assert errors == {"bridge-4b-truncated.jpg", "empty.jpg"}
    assert all(len(row["signals"]) >= 3 for row in rows if not row["errors"])
    assert "2 of" in three.stderr


def test_bank_add_and_lookup_jobs_output_equal_jobs_1(folder: Path, tmp_path: Path) -> None:
    outputs = []
    for jobs in ("1", "2"):
        store = str(tmp_path / f"store{jobs}")
        assert run("bank", "create", "b", "--store", store).returncode == 0
        added = run("bank", "add", "b", "--store", store, "--jobs", jobs, str(folder / "dih"))
        found = run("lookup", "--json", "--store", store, "--jobs", jobs, str(folder))
        lines = found.stdout.replace(store, "STORE")
        outputs.append((added.returncode, added.stdout, found.returncode, lines))
    assert outputs[0] == outputs[1]
    code, _, found_code, found = outputs[1]
    assert code == 0 and found_code == 2  # the truncated file is added on its MD5 alone
    rows = [json.loads(line) for line in found.splitlines()]
    assert [row["path"] for row in rows] == [str(path) for path in iter_files([folder])]
    assert sum(bool(row["matches"]) for row in rows) == 9  # 8 dihedral copies, 1 by its MD5


def test_a_dying_worker_fails_its_file_and_the_run_goes_on(
    tmp_path: Path, cue_registry: SignalRegistry
) -> None:
    paths = []
    for name in ("a.jpg", "b-die.jpg", "c.jpg", "d-die.jpg", "e.jpg"):
        shutil.copy(ORIGINAL, tmp_path / name)
        paths.append(tmp_path / name)
    results = list(hash_files(paths, cue_registry, jobs=2))
    assert [result.path for result in results] == paths
    for result in results:
        if "die" in result.path.name:
            assert result.signals == [] and len(result.errors) == 1
            message = result.errors[0].message
            assert f"{result.path}: the worker process hashing it died" in message
            assert f"exit status {DIE_STATUS}" in message
        else:
            assert result == hash_file(result.path, cue_registry)


def test_workers_dying_on_every_file_stop_the_run(
    tmp_path: Path, cue_registry: SignalRegistry
) -> None:
    paths = [tmp_path / f"{number}-die.bin" for number in range(8)]
    for path in paths:
        path.write_bytes(b"x")
    with pytest.raises(WorkersDied, match="worker processes died in a row"):
        list(hash_files(paths, cue_registry, jobs=2))


def test_a_killed_worker_is_charged_to_its_file_and_replaced(
    tmp_path: Path, cue_registry: SignalRegistry
) -> None:
    hang = tmp_path / "hang.bin"
    hang.write_bytes(b"x")
    with HashPool(cue_registry, 1) as pool:
        answer: list[object] = []
        caller = threading.Thread(target=lambda: answer.append(pool.hash(hang)))
        caller.start()
        (worker,) = _workers(wanted=1)
        os.kill(worker.pid or 0, signal.SIGKILL)
        caller.join(60)
        assert not caller.is_alive()
        (result,) = answer
        assert "the worker process hashing it died (killed by SIGKILL)" in str(result)
        assert pool.hash(ORIGINAL) == hash_file(ORIGINAL, cue_registry)  # a new worker


def test_a_stop_condition_reaches_the_worker(tmp_path: Path, cue_registry: SignalRegistry) -> None:
    hang = tmp_path / "hang.bin"
    hang.write_bytes(b"x")
    with HashPool(cue_registry, 1) as pool:
        with stop_when(lambda: True), pytest.raises(Cancelled):
            pool.hash(hang)  # returns only because the worker stopped hashing and said so
        (worker,) = _workers(wanted=1)
        assert pool.hash(ORIGINAL) == hash_file(ORIGINAL, cue_registry)
        assert _workers(wanted=1) == [worker]  # the same one, not a replacement


def test_a_stop_condition_ends_the_wait_for_a_busy_pool(
    tmp_path: Path, cue_registry: SignalRegistry
) -> None:
    hang = tmp_path / "hang.bin"
    hang.write_bytes(b"x")
    release = threading.Event()
    outcomes: list[str] = []

    def occupy() -> None:  # holds the only worker until released
        with stop_when(release.is_set):
            try:
                pool.hash(hang)
            except Cancelled:
                outcomes.append("released")

    with HashPool(cue_registry, 1) as pool:
        holder = threading.Thread(target=occupy)
        holder.start()
        for _ in range(3000):
            if hang.with_suffix(".started").exists():
                break
            release.wait(0.01)
        assert hang.with_suffix(".started").exists(), "the worker never took the file"

        def wait_for_a_worker() -> None:  # no worker comes free: only the stop ends the wait
            with stop_when(lambda: True):
                try:
                    pool.hash(ORIGINAL)
                except Cancelled:
                    outcomes.append("stopped waiting")

        waiter = threading.Thread(target=wait_for_a_worker)
        waiter.start()
        waiter.join(60)
        stopped = not waiter.is_alive()
        release.set()
        holder.join(60)
        waiter.join(60)
        assert stopped, "the wait for a busy pool ignored the stop condition"
        assert outcomes == ["stopped waiting", "released"]


def test_workers_hash_with_the_callers_environment_as_it_is_now(
    tmp_path: Path, cue_registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside another thread the workers come from the forkserver, which keeps the environment
    it started with; a setting made since (HASHCORE_MAX_DECODE_MB...) must still apply."""
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    other = threading.Event()
    waiting = threading.Thread(target=other.wait)
    waiting.start()
    try:
        with HashPool(cue_registry, 1) as pool:  # starts the forkserver, if not yet running
            assert _cue(pool.hash(plain)) == b"\x01"
        monkeypatch.setenv("HASHCORE_CUE", "1")
        with HashPool(cue_registry, 1) as pool:
            assert _cue(pool.hash(plain)) == b"\x02"
    finally:
        other.set()
        waiting.join()


def _cue(hashes: FileHashes) -> bytes:
    return next(cue.value for cue in hashes.signals if cue.type == "cue")


def test_ordered_map_keeps_order_and_a_bounded_window() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def record(number: int) -> int:
        with lock:
            started.append(number)
        return number * number

    results = ordered_map(record, iter(range(100)), 3)
    assert [next(results) for _ in range(10)] == [n * n for n in range(10)]
    with lock:
        assert max(started) < 10 + 2 * 3
    assert list(results) == [n * n for n in range(10, 100)]


def test_lookup_against_a_server_sends_jobs_files_at_once_in_order(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --hash-only the server hashes: --jobs N keeps N content calls in flight."""
    dih = folder / "dih"  # not the empty file: a remote content lookup refuses it outright
    with running_server(tmp_path, limits=Limits(workers=2)) as srv:
        address = srv.address
        assert main(["bank", "create", "known", "--server", address]) == 0
        assert main(["bank", "add", "known", "--server", address, str(ORIGINAL)]) == 0
        capsys.readouterr()
        answers = []
        for jobs in ("1", "2"):
            code = main(["lookup", "--json", "--server", address, "--jobs", jobs, str(dih)])
            answers.append((code, capsys.readouterr().out))
    assert answers[0] == answers[1]
    code, out = answers[1]
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 2  # the truncated file
    assert [row["path"] for row in rows] == [str(path) for path in iter_files([dih])]
    assert sum(bool(row["matches"]) for row in rows) == 8  # the dihedral copies


def test_server_hashes_content_in_its_processes(tmp_path: Path) -> None:
    answers = []
    for processes in (2, 0):
        with running_server(
            tmp_path / str(processes), limits=Limits(workers=2, hash_processes=processes)
        ) as srv:
            assert (srv.server.state.hash_pool is not None) == bool(processes)
            matching, banks = srv.stubs()
            banks.CreateBank(pb.CreateBankRequest(name="known"), timeout=10)
            banks.AddContent(
                pb.AddContentRequest(bank="known", content=ORIGINAL.read_bytes()), timeout=60
            )
            queries = [ROTATED, FLIPPED, DATA / "misc" / "wee.jpg"]
            lookups = [
                matching.Lookup(pb.LookupRequest(content=path.read_bytes()), timeout=60)
                for path in queries
            ]
            hashed = matching.Hash(pb.HashRequest(content=ROTATED.read_bytes()), timeout=60)
            answers.append((lookups, hashed))
            if processes:
                assert _workers(wanted=processes)
    assert answers[0] == answers[1]
    lookups, _ = answers[0]
    assert [len(lookup.matches) for lookup in lookups] == [1, 1, 0]


def _workers(wanted: int) -> list[multiprocessing.process.BaseProcess]:
    """The pool's live worker processes, once ``wanted`` of them have started (a pool beside
    other threads starts each on first use)."""
    for _ in range(3000):
        found = [p for p in multiprocessing.active_children() if p.name == "hashcore-hash-worker"]
        if len(found) >= wanted:
            return found
        threading.Event().wait(0.01)
    raise AssertionError(f"{wanted} hashing workers never started")


def test_every_worker_and_the_server_warm_up_before_their_first_file(
    tmp_path: Path, cue_registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SignalType.warm_up`` runs in each worker before it takes a file, and in the server
    before it answers, so no request waits for a family's compiled code to load."""
    warm = tmp_path / "warm"
    warm.mkdir()
    monkeypatch.setenv("HASHCORE_TEST_WARM_DIR", str(warm))
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    with HashPool(cue_registry, 2) as pool:
        assert _cue(pool.hash(plain)) == b"\x01"
        workers = _workers(wanted=1)
        assert {f"warm-{worker.pid}" for worker in workers} <= {p.name for p in warm.iterdir()}
    # the pool's owner warms up too, so that forked workers (or the forkserver's) inherit it
    assert f"warm-{os.getpid()}" in {p.name for p in warm.iterdir()}
    (warm / f"warm-{os.getpid()}").unlink()

    other = threading.Event()  # beside another thread (gRPC's), the pool starts workers lazily
    waiting = threading.Thread(target=other.wait)
    waiting.start()
    engine = Engine(tmp_path / "store", cue_registry)
    config = ServerConfig(
        listen="127.0.0.1:0", store=tmp_path / "store", limits=Limits(workers=2)
    ).validate()
    server, _ = create_server(config, engine, registry=cue_registry)
    try:
        assert (warm / f"warm-{os.getpid()}").exists()
        workers = _workers(wanted=2)  # started before any call, in the background
        for _ in range(3000):
            if {f"warm-{worker.pid}" for worker in workers} <= {p.name for p in warm.iterdir()}:
                break
            threading.Event().wait(0.01)
        else:
            raise AssertionError("the server's hashing workers never warmed up")
    finally:
        server.stop(0)
        engine.close()
        other.set()
        waiting.join()


def test_a_single_file_is_hashed_in_process_whatever_the_jobs(
    tmp_path: Path, cue_registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting workers costs more than one file takes: ``hash photo.jpg`` stays in process."""
    warm = tmp_path / "warm"
    warm.mkdir()
    monkeypatch.setenv("HASHCORE_TEST_WARM_DIR", str(warm))
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    before = {p.pid for p in multiprocessing.active_children()}
    [hashes] = list(hash_files([plain], cue_registry, jobs=4))
    assert _cue(hashes) == b"\x01"
    assert {p.pid for p in multiprocessing.active_children()} <= before
    assert not list(warm.iterdir())  # no worker, and nothing warmed for nothing


def test_never_more_workers_than_files(
    tmp_path: Path, cue_registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--jobs 64`` of three files forked 64 workers (``--jobs 1000``, a thousand)."""
    files = []
    for number in range(3):
        files.append(tmp_path / f"{number}.bin")
        files[-1].write_bytes(b"x")
    started: list[int] = []
    real = HashPool.__init__

    def counting(self: HashPool, registry: SignalRegistry, size: int, **kwargs: Any) -> None:
        started.append(size)
        real(self, registry, size, **kwargs)

    monkeypatch.setattr(HashPool, "__init__", counting)
    assert [_cue(h) for h in hash_files(files, cue_registry, jobs=64)] == [b"\x01"] * 3
    assert started == [3]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_command_hashing_many_files_warms_nothing_up(
    tmp_path: Path, cue_registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    """A command's hashing (in process, or its own forked workers) loads each family's lazy
    code when a file first needs it, not ahead: pHash's scipy (~0.2 s) is only for featureless
    pictures, and a folder of photos need not pay it. Servers warm up (the test above)."""
    warm = tmp_path / "warm"
    warm.mkdir()
    monkeypatch.setenv("HASHCORE_TEST_WARM_DIR", str(warm))
    paths = []
    for number in range(4):
        path = tmp_path / f"plain{number}.bin"
        path.write_bytes(b"x")
        paths.append(path)
    hashed = list(hash_files(paths, cue_registry, jobs=jobs))
    assert [_cue(h) for h in hashed] == [b"\x01"] * 4
    assert not list(warm.iterdir())


def test_closing_while_workers_start_leaves_none_behind(cue_registry: SignalRegistry) -> None:
    """A server stopped while its pool starts in the background: no worker outlives it."""
    other = threading.Event()
    waiting = threading.Thread(target=other.wait)  # beside a thread: workers start lazily
    waiting.start()
    try:
        pool = HashPool(cue_registry, 2)
        starting = threading.Thread(target=pool.start_all)
        starting.start()
        pool.close()
        starting.join(60)
        assert not starting.is_alive()
        for _ in range(1000):
            alive = [
                p for p in multiprocessing.active_children() if p.name == "hashcore-hash-worker"
            ]
            if not alive:
                break
            threading.Event().wait(0.01)
        assert not alive
    finally:
        other.set()
        waiting.join()
