"""``bank export -o PATH`` where PATH is not a plain file: a symlink keeps pointing where it
did, and a FIFO, a device or a process substitution is written through. The export used to
write ``.PATH.PID.part`` beside it and rename that over it: a symlink became a file of its
own, a FIFO's reader waited for ever, ``-o >(...)`` failed, and ``-o /dev/full`` replaced the
device node with a regular file (as root)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from server_support import one_picture_store

from hashcore.cli.main import main


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    where = one_picture_store(tmp_path / "store")
    capsys.readouterr()
    return where


def exported_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_symlink_keeps_pointing_at_the_file_it_names(tmp_path: Path, store: list[str]) -> None:
    real = tmp_path / "real.jsonl"
    real.write_text("an earlier export\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real.name)
    assert main(["bank", "export", "b", "-o", str(link), *store]) == 0
    assert link.is_symlink() and os.readlink(link) == real.name
    assert len(exported_lines(real.read_text())) == 2  # the header and the entry
    assert not list(tmp_path.glob(".*.part"))


def test_a_fifo_is_written_through_to_its_reader(tmp_path: Path, store: list[str]) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    read: list[str] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_text()), daemon=True)
    reader.start()
    assert main(["bank", "export", "b", "-o", str(fifo), *store]) == 0
    reader.join(timeout=30)
    assert not reader.is_alive() and len(exported_lines(read[0])) == 2
    assert fifo.is_fifo()


def test_a_device_is_written_through_not_replaced(
    tmp_path: Path, store: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A private copy of /dev/full (root may make one): the export meets its ENOSPC as a
    one-line error, and the node is still a device afterwards."""
    device = tmp_path / "full"
    try:
        os.mknod(device, 0o666 | 0o020000, os.makedev(1, 7))  # S_IFCHR, /dev/full's numbers
    except PermissionError:
        pytest.skip("making a device node needs root")
    assert main(["bank", "export", "b", "-o", str(device), *store]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert device.is_char_device()
