"""Uploaded content waits in memory while it is hashed, never on disk (hashcore_server/spool.py).

A real server on 127.0.0.1 with real hashing processes: content in a call is held in an
anonymous memory file, a worker gets its own copy of the descriptor, the system temporary
directory never sees it, the answers equal those from the file, and messages say ``content``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from media_data import media
from server_support import FLIPPED, ORIGINAL, ROTATED, running_server

from hashcore.api.v1 import hashcore_pb2 as pb
from hashcore.hash_pool import HashPool
from hashcore.hashing import hash_file, hash_open_file
from hashcore.registry import load_registry
from hashcore_server import spool
from hashcore_server.config import Limits

pytestmark = pytest.mark.skipif(not spool.memory_files(), reason="Linux memory files only")

TRUNCATED = ORIGINAL.read_bytes()[:3000]


def test_a_worker_hashes_the_open_descriptor_it_is_sent_as_the_file() -> None:
    registry = load_registry()
    with spool.in_memory(ORIGINAL.read_bytes()) as descriptor, HashPool(registry, 1) as pool:
        hashed = pool.hash(Path("upload"), variants=True, descriptor=descriptor)
        assert os.fstat(descriptor).st_size == ORIGINAL.stat().st_size  # still the caller's
        again = pool.hash(Path("upload"), descriptor=descriptor)  # the same worker, reused
    from_file = hash_file(ORIGINAL, registry, variants=True)
    assert hashed.signals == from_file.signals and hashed.kind == from_file.kind
    assert hashed.path == Path("upload") and not hashed.errors
    assert again.signals == hash_file(ORIGINAL, registry).signals


@pytest.mark.parametrize("in_a_worker", [True, False])
def test_messages_about_a_descriptor_name_it_not_its_proc_path(in_a_worker: bool) -> None:
    registry = load_registry()
    with spool.in_memory(TRUNCATED) as descriptor:
        if in_a_worker:
            with HashPool(registry, 1) as pool:
                hashed = pool.hash(Path("upload"), descriptor=descriptor)
        else:
            hashed = hash_open_file(descriptor, "upload", registry)
    messages = hashed.messages()
    assert messages and all(message.startswith("upload") for message in messages), messages
    assert not any("/proc/" in message for message in messages)


def test_a_memory_file_is_gone_once_closed() -> None:
    with spool.in_memory(b"abc") as descriptor:
        path = Path(f"/proc/self/fd/{descriptor}")
        assert path.read_bytes() == b"abc"
        assert os.readlink(path).startswith("/memfd:hashcore-content")
    with pytest.raises(OSError):
        os.fstat(descriptor)


@pytest.mark.parametrize("processes", [1, 0])
def test_content_calls_never_touch_a_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """The default: no spool directory; the disk spool would fail the calls if used."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))

    def no_disk(*args: object) -> None:
        raise AssertionError("content spooled to disk")

    monkeypatch.setattr(spool, "on_disk", no_disk)
    limits = Limits(workers=2, hash_processes=processes)
    with running_server(tmp_path, limits=limits) as srv:
        matching, banks = srv.stubs()
        banks.CreateBank(pb.CreateBankRequest(name="known"), timeout=10)
        banks.AddContent(
            pb.AddContentRequest(bank="known", content=ORIGINAL.read_bytes()), timeout=60
        )
        found = [
            matching.Lookup(pb.LookupRequest(content=path.read_bytes()), timeout=60)
            for path in (ROTATED, FLIPPED)
        ]
        hashed = matching.Hash(pb.HashRequest(content=ROTATED.read_bytes()), timeout=60)
        damaged = matching.Lookup(pb.LookupRequest(content=TRUNCATED), timeout=60)
    assert [len(answer.matches) for answer in found] == [1, 1]
    expected = hash_file(ROTATED, load_registry())
    assert [bytes(s.value) for s in hashed.signals] == [s.value for s in expected.signals]
    assert damaged.errors and all(error.startswith("content") for error in damaged.errors)
    assert not any("/proc/" in error for error in damaged.errors)
    assert list(temporary.iterdir()) == []


def test_a_spool_directory_still_spools_there(tmp_path: Path) -> None:
    """The setting wins over memory: the existing disk path, its files removed after."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    with running_server(tmp_path, spool_dir=spool_dir, limits=Limits(hash_processes=1)) as srv:
        matching, _ = srv.stubs()
        hashed = matching.Hash(pb.HashRequest(content=ORIGINAL.read_bytes()), timeout=60)
    assert hashed.signals and list(spool_dir.iterdir()) == []


def test_a_video_in_memory_hashes_as_its_file(tmp_path: Path) -> None:
    """The video decoder opens the memory file by its /proc path as it opened a spooled file."""
    video = media("tmk/videos/doorknob-hd-no-bar.mp4")
    with running_server(tmp_path, limits=Limits(hash_processes=1)) as srv:
        matching, _ = srv.stubs()
        hashed = matching.Hash(pb.HashRequest(content=video.read_bytes()), timeout=120)
    expected = hash_file(video, load_registry())
    assert not hashed.errors and not expected.errors
    assert {s.type for s in expected.signals} >= {"md5", "tmk_pdqf"}
    assert [(s.type, bytes(s.value)) for s in hashed.signals] == [
        (s.type, s.value) for s in expected.signals
    ]
