"""What the crash tests share: running the real ``hashcore`` command, killing it, finding what
is left of it in ``/proc``, realistic feeds and image folders, and a store's record compared
without timestamps."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HASHCORE = [sys.executable, "-m", "hashcore.cli.main"]
DB = "hashcore.sqlite3"


def store_state(store: Path) -> dict[str, Any]:
    """The record of a store, per bank: entries by external id with status, labels and
    signals (family, hex, quality, variant). No row ids or timestamps: two runs that reached
    the same content compare equal."""
    conn = sqlite3.connect(f"file:{store / DB}?mode=ro", uri=True)
    try:
        banks: dict[str, Any] = {}
        for (name,) in conn.execute("SELECT name FROM banks ORDER BY name"):
            banks[name] = {}
        rows = conn.execute(
            "SELECT b.name, e.external_id, e.status, e.labels, e.source,"
            " v.family, hex(v.value), s.quality, s.variant"
            " FROM entries e JOIN banks b ON b.id = e.bank_id"
            " LEFT JOIN entry_signals s ON s.entry_id = e.id"
            " LEFT JOIN signal_values v ON v.id = s.value_id"
        )
        for bank, external_id, status, labels, source, family, value, quality, variant in rows:
            entry = banks[bank].setdefault(
                external_id,
                {"status": status, "labels": json.loads(labels), "source": source, "signals": []},
            )
            if family is not None:
                entry["signals"].append((family, value, quality, variant))
        for entries in banks.values():
            for entry in entries.values():
                entry["signals"].sort(key=lambda s: tuple(str(x) for x in s))
        return banks
    finally:
        conn.close()


# Processes


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, session) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def session_processes(session: int) -> list[int]:
    """Live (not zombie) processes of a session: a command started with
    ``start_new_session=True`` and everything it started (re-parented or not)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[3] == session and stat[0] != "Z":
                found.append(int(entry))
    return found


def describe(pids: Sequence[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmd = "?"
        out.append(f"{pid}: {cmd[:160]}")
    return out


def wait_session_gone(session: int, timeout: float = 10.0) -> list[int]:
    """Wait until no process of ``session`` is left; the ones still there at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = session_processes(session)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def start(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``hashcore ARGS`` in a session of its own (its leader's pid is the session id)."""
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            [*HASHCORE, *args],
            env=env,
            stdout=handle,
            stderr=handle,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        handle.close()


def run(
    args: Sequence[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HASHCORE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def kill_after(process: subprocess.Popen[bytes], delay: float) -> bool:
    """``kill -9`` the process (only it: what it started must die on its own) after ``delay``
    seconds; False if it had finished by then."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    if process.poll() is not None:
        return False
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return True


def kill_session(session: int) -> None:
    """Clean up after a failed test: whatever is left of the session."""
    for pid in session_processes(session):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# Feeds and files


def write_jsonl_feed(path: Path, count: int, *, seed: int = 1, min_bytes: int = 0) -> int:
    """A hashcore bank feed (JSON lines) of ``count`` records (more if ``min_bytes`` needs
    them): MD5 and PDQ per record, every tenth deleted later in the file. Records written."""
    rng = random.Random(seed)
    written = 0
    with path.open("w") as out:
        out.write('{"format": "hashcore-bank", "version": 1, "bank": {"name": "x"}}\n')
        n = 0
        while n < count or out.tell() < min_bytes:
            out.write(
                json.dumps(
                    {
                        "external_id": f"e{n}",
                        "status": "active",
                        "labels": ["l"],
                        "updated_at": 1.0,
                        "signals": [
                            {"type": "md5", "hex": rng.randbytes(16).hex()},
                            {"type": "pdq", "hex": rng.randbytes(32).hex(), "quality": 100},
                        ],
                    }
                )
                + "\n"
            )
            if n % 10 == 9:
                out.write(
                    json.dumps({"external_id": f"e{n - 5}", "status": "deleted", "updated_at": 2.0})
                    + "\n"
                )
            n += 1
            written += 1
    return written


_NCMEC_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">\n'
)


def write_ncmec_feed(path: Path, count: int, *, seed: int = 2, min_bytes: int = 0) -> int:
    """An NCMEC entries XML file in the shape of the partner sample: images with MD5, SHA1 and
    PDQ fingerprints, a deletion every 20 images. Images written."""
    rng = random.Random(seed)
    n = 0
    with path.open("w") as out:
        out.write(_NCMEC_HEAD)
        out.write(f'  <images count="{count}" maxTimestamp="2026-03-02T10:15:00Z">\n')
        while n < count or out.tell() < min_bytes:
            out.write(
                "    <image>\n"
                f'      <member id="{4000 + n % 7}">Example ESP</member>\n'
                f"      <timestamp>2026-03-02T10:{n % 60:02d}:00Z</timestamp>\n"
                f"      <id>img-{n:07d}</id>\n"
                f"      <classification>{'A1' if n % 3 else 'B2'}</classification>\n"
                "      <fingerprints>\n"
                f"        <md5>{rng.randbytes(16).hex()}</md5>\n"
                f"        <sha1>{rng.randbytes(20).hex()}</sha1>\n"
                f"        <pdq>{rng.randbytes(32).hex()}</pdq>\n"
                "      </fingerprints>\n"
                "    </image>\n"
            )
            if n % 20 == 19:
                out.write(
                    "    <deletedImage>\n"
                    '      <member id="4000">Example ESP</member>\n'
                    f"      <id>img-{n - 10:07d}</id>\n"
                    "      <timestamp>2026-03-02T11:00:00Z</timestamp>\n"
                    "    </deletedImage>\n"
                )
            n += 1
        out.write("  </images>\n</queryResult>\n")
    return n


def write_images(directory: Path, count: int, *, seed: int = 3) -> list[Path]:
    """``count`` distinct small pictures (blocks of random colours, so PDQ has features)."""
    from PIL import Image

    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        picture = Image.new("RGB", (96, 72))
        for x in range(0, 96, 12):
            for y in range(0, 72, 12):
                colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
                picture.paste(colour, (x, y, x + 12, y + 12))
        path = directory / f"img{n:04d}.png"
        picture.save(path)
        paths.append(path)
    return paths
