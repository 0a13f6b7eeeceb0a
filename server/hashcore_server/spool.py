"""Where uploaded content waits while it is hashed: in memory by default, never on disk.

Hashers read files, so content sent in a call needs one. By default it goes into an anonymous
in-memory file (Linux's ``memfd_create``): it has no name anyone could open, it is never
written to a disk (where a deleted temporary file's blocks can outlive it), and it is gone when
the last descriptor closes, even if the server or the worker hashing it is killed. A hashing
worker is sent its own copy of the descriptor (:meth:`hashcore.hash_pool.HashPool.hash`).
With ``spool_dir`` set, or where memory files are unavailable, content is written to a private
temporary directory there instead, and removed right after.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

NAME = "content"
"""What messages about uploaded content call it: the caller knows no path."""


def memory_files() -> bool:
    """Whether content can be held in memory files here (Linux: ``memfd_create`` and
    ``/proc/self/fd``, through which a hasher opens them)."""
    return hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


@contextlib.contextmanager
def in_memory(content: bytes) -> Iterator[int]:
    """``content`` in an anonymous memory file, as an open descriptor (closed on exit)."""
    descriptor = os.memfd_create("hashcore-content", os.MFD_CLOEXEC)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(descriptor, view) :]
        yield descriptor
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def on_disk(content: bytes, spool_dir: Path | None) -> Iterator[Path]:
    """``content`` in a file of a private temporary directory under ``spool_dir`` (the system
    temporary directory when None), removed with the directory on exit."""
    with tempfile.TemporaryDirectory(prefix="hashcore-", dir=spool_dir) as directory:
        path = Path(directory) / NAME
        path.write_bytes(content)
        yield path
