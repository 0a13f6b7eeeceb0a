"""Finding 2: a ``kill -9`` of ``hashcore bank import`` (or an import that stops on an error)
must not leave the feed-reading child or multiprocessing's resource tracker behind.

The command runs in a session of its own, so everything it started, re-parented to PID 1 or
not, is found in ``/proc`` by session id.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest
from crash_support import (
    describe,
    kill_after,
    kill_session,
    session_processes,
    start,
    wait_session_gone,
    write_jsonl_feed,
)

from hashcore.formats.background import BACKGROUND_MIN_BYTES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="walks /proc")


@pytest.fixture(scope="module")
def big_feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Well over the child threshold and more records than the child may send ahead, so a
    kill finds it parsing or blocked in ``put``."""
    path = tmp_path_factory.mktemp("feed") / "big.jsonl"
    write_jsonl_feed(path, 0, min_bytes=3 * BACKGROUND_MIN_BYTES)
    return path


def wait_for_child(session: int, timeout: float = 30.0) -> list[int]:
    """The session's processes once the reader child (and its tracker) have started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = session_processes(session)
        if len(found) >= 3:
            return found
        time.sleep(0.02)
    return session_processes(session)


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
def test_kill_9_mid_parse_leaves_no_process(tmp_path: Path, big_feed: Path, delay: float) -> None:
    env = {**os.environ, "HASHCORE_STORE": str(tmp_path / "store")}
    args = ["bank", "import", "b", "--create", "--format", "hashcore", str(big_feed)]
    process = start(args, env, tmp_path / "log")
    try:
        running = wait_for_child(process.pid)
        assert len(running) >= 3, (describe(running), (tmp_path / "log").read_text())
        assert kill_after(process, delay + random.uniform(0, 0.2)), "finished before the kill"
        left = wait_session_gone(process.pid, timeout=5.0)
        assert left == [], describe(left)
    finally:
        kill_session(process.pid)


def test_parent_stopping_on_an_error_leaves_no_process(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    write_jsonl_feed(path, 0, min_bytes=BACKGROUND_MIN_BYTES + (1 << 20))
    with path.open("a") as out:
        out.write('{"external_id": "bad", "status": "active", "signals": [{"type": "pdq"}]}\n')
    env = {**os.environ, "HASHCORE_STORE": str(tmp_path / "store")}
    args = ["bank", "import", "b", "--create", "--strict", "--format", "hashcore", str(path)]
    process = start(args, env, tmp_path / "log")
    try:
        assert process.wait(timeout=120) != 0
        left = wait_session_gone(process.pid, timeout=5.0)
        assert left == [], describe(left)
    finally:
        kill_session(process.pid)
