"""Crash tests: ``kill -9`` the real ``hashcore`` command, and a real ``hashcore serve``, at
random points of imports (hashcore JSON lines, NCMEC XML), ``bank add`` of a folder of pictures,
compaction and snapshot writing. After each kill: nothing of the killed run is left running,
``hashcore check`` finds the store consistent, and re-running the same command ends with exactly
the store an uninterrupted run makes (entries, statuses, labels, signals per bank).

The short form (one kill in each of three scenarios, about a minute) runs with the suite. The
long form is ``make soak`` (``HASHCORE_CRASH_KILLS=200``: that many kills spread over every
scenario; ``HASHCORE_CRASH_SEED`` replays a run).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from crash_support import (
    describe,
    kill_after,
    kill_session,
    run,
    start,
    store_state,
    wait_session_gone,
    write_images,
    write_jsonl_feed,
    write_ncmec_feed,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hashcore.cli.main import main

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="walks /proc")

KILLS = int(os.environ.get("HASHCORE_CRASH_KILLS", "0"))
"""Kills for the long form (0: the short form, one per scenario)."""
SHORT = ("import-ncmec", "bank-add", "server-add")
"""The short form's scenarios, one kill each (the others run in the long form)."""
SEED = int(os.environ.get("HASHCORE_CRASH_SEED", str(int(time.time()))))


@dataclass
class Scenario:
    name: str
    args: list[str]
    """The command, run against ``--store`` (or ``--server``) by the harness."""
    prepare: Callable[[Path], None] | None = None
    """Brings a fresh store to the point the command starts from."""
    server: bool = False
    """Kill a ``hashcore serve`` the command talks to, not the command."""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    write_jsonl_feed(root / "feed.jsonl", 6_000)
    write_ncmec_feed(root / "entries.xml", 4_000)
    write_jsonl_feed(root / "small.jsonl", 2_000, seed=9)
    write_images(root / "pics", 16)
    return {
        "jsonl": root / "feed.jsonl",
        "ncmec": root / "entries.xml",
        "small": root / "small.jsonl",
        "pics": root / "pics",
    }


def environment(store: Path) -> dict[str, str]:
    env = {**os.environ, "HASHCORE_STORE": str(store)}
    env.pop("HASHCORE_SERVER", None)
    return env


def scenarios(inputs: dict[str, Path]) -> list[Scenario]:
    def with_bank(store: Path) -> None:
        assert run(["bank", "create", "b"], environment(store)).returncode == 0

    def imported(store: Path) -> None:
        args = ["bank", "import", "b", "--create", "--format", "hashcore", str(inputs["jsonl"])]
        done = run([*args], environment(store))
        assert done.returncode == 0, done.stderr
        shutil.rmtree(store / "indexes", ignore_errors=True)  # compaction rebuilds and writes

    return [
        Scenario(
            "import-jsonl",
            ["bank", "import", "b", "--create", "--format", "hashcore", str(inputs["jsonl"])],
        ),
        Scenario(
            "import-ncmec",
            ["bank", "import", "n", "--create", "--format", "ncmec", str(inputs["ncmec"])],
        ),
        Scenario("bank-add", ["bank", "add", "b", str(inputs["pics"])], with_bank),
        Scenario("compact", ["bank", "compact"], imported),
        Scenario(
            "server-import",
            ["bank", "import", "s", "--create", "--format", "hashcore", str(inputs["small"])],
            server=True,
        ),
        Scenario("server-add", ["bank", "add", "b", str(inputs["pics"])], with_bank, server=True),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(store: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A server on the store, once its health says SERVING: it listens before its indexes are
    loaded, and answers UNAVAILABLE ("still loading its indexes") until then."""
    address = f"127.0.0.1:{free_port()}"
    server = start(["serve", "--listen", address, "--store", str(store)], environment(store), log)
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return server, address
            except grpc.RpcError:
                pass  # not listening yet
            time.sleep(0.1)
    raise AssertionError(f"server did not start: {log.read_text()}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def fresh_store(scenario: Scenario, root: Path) -> Path:
    store = root / "store"
    if scenario.prepare is not None:
        scenario.prepare(store)
    return store


def run_to_end(scenario: Scenario, store: Path, log: Path) -> None:
    """The command, uninterrupted (through a server started for it, if the scenario has one)."""
    if not scenario.server:
        done = run(scenario.args, environment(store))
        assert done.returncode == 0, done.stderr
        return
    server, address = start_server(store, log)
    try:
        done = run([*scenario.args, "--server", address], environment(store))
        assert done.returncode == 0, done.stderr
    finally:
        stop_server(server)


def check_store(store: Path) -> None:
    if not (store / "hashcore.sqlite3").exists():
        return  # killed before it created the store: nothing to check
    code = main(["check", "--store", str(store)])
    assert code == 0, f"hashcore check exit {code} after a kill"


@dataclass
class Outcome:
    killed: bool
    seconds: float


def crash_and_resume(
    scenario: Scenario, root: Path, expected: dict, duration: float, rng: random.Random
) -> Outcome:
    """One kill at a random point, then the checks and the resumed run."""
    started = time.monotonic()
    root.mkdir(parents=True)
    store = fresh_store(scenario, root)
    log = root / "log"
    delay = rng.uniform(0.0, duration)
    if scenario.server:
        victim, address = start_server(store, log)
        client = start([*scenario.args, "--server", address], environment(store), log)
        try:
            killed = kill_after(victim, delay)
            client.wait(timeout=120)
        finally:
            kill_session(client.pid)
    else:
        victim = start(scenario.args, environment(store), log)
        killed = kill_after(victim, delay)
        if not killed:
            victim.wait()
    try:
        left = wait_session_gone(victim.pid, timeout=5.0)
        assert left == [], (scenario.name, describe(left))
    finally:
        kill_session(victim.pid)
    check_store(store)
    run_to_end(scenario, store, log)
    check_store(store)
    assert store_state(store) == expected, f"{scenario.name}: resumed store differs"
    shutil.rmtree(root, ignore_errors=True)
    return Outcome(killed, time.monotonic() - started)


@pytest.fixture(scope="module")
def references(
    inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Scenario], tuple[dict, float]]:
    """A scenario run uninterrupted (once, on first use): its final store and how long the
    command took."""
    found: dict[str, tuple[dict, float]] = {}

    def reference(scenario: Scenario) -> tuple[dict, float]:
        if scenario.name not in found:
            root = tmp_path_factory.mktemp(f"reference-{scenario.name}")
            store = fresh_store(scenario, root)
            started = time.monotonic()
            run_to_end(scenario, store, root / "log")
            elapsed = time.monotonic() - started
            check_store(store)
            found[scenario.name] = (store_state(store), elapsed)
        return found[scenario.name]

    return reference


def test_kill_9_at_random_points_then_resume(
    inputs: dict[str, Path],
    references: Callable[[Scenario], tuple[dict, float]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = random.Random(SEED)
    plan = scenarios(inputs)
    if not KILLS:
        plan = [scenario for scenario in plan if scenario.name in SHORT]
    kills = KILLS or len(plan)
    outcomes: list[tuple[str, Outcome]] = []
    for number in range(kills):
        scenario = plan[number % len(plan)] if not KILLS else rng.choice(plan)
        expected, duration = references(scenario)
        root = tmp_path / f"{number:04d}-{scenario.name}"
        outcomes.append((scenario.name, crash_and_resume(scenario, root, expected, duration, rng)))
        with capsys.disabled():
            print(
                f"{scenario.name}: killed={outcomes[-1][1].killed} {outcomes[-1][1].seconds:.1f}s"
            )
        capsys.readouterr()
    killed = sum(outcome.killed for _, outcome in outcomes)
    with capsys.disabled():
        print(
            f"\ncrash tests (seed {SEED}): {len(outcomes)} runs, {killed} killed mid-run,"
            f" all resumed to the uninterrupted store"
        )
    assert killed >= len(outcomes) // 2, "most kills must land while the command runs"
