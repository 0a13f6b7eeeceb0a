"""Where hashcore's compiled (numba) kernels are cached, for the core and for plugins.

numba caches a kernel beside its source file by default, which a system-wide or read-only
install cannot write: every process would then compile again (seconds each). Kernels declared
inside :func:`caching_in` are cached in :func:`cache_dir` instead, per user.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """Where the compiled kernels are cached: ``NUMBA_CACHE_DIR`` if set, else per user
    (``$XDG_CACHE_HOME/hashcore/numba``, ``~/.cache/hashcore/numba``), else a temporary
    directory; the first of them that can be written. Never beside the source (numba's
    default), which a system-wide or read-only install cannot write."""
    home_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates = [
        os.environ.get("NUMBA_CACHE_DIR", ""),
        os.path.join(home_cache, "hashcore", "numba"),
        os.path.join(tempfile.gettempdir(), f"hashcore-numba-{os.getuid()}"),
    ]
    for candidate in filter(None, candidates):
        try:
            os.makedirs(candidate, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return Path(candidates[-1])  # numba then compiles without caching, with a warning


@contextmanager
def caching_in() -> Iterator[None]:
    """:func:`cache_dir` as numba's cache directory while hashcore's kernels are declared (it
    is fixed per function then); other numba users in the process keep theirs."""
    import numba  # here: importing hashcore must not cost numba's ~0.4 s

    config: Any = numba.config  # its settings are set from the environment at import
    before = config.CACHE_DIR
    config.CACHE_DIR = str(cache_dir())
    try:
        yield
    finally:
        config.CACHE_DIR = before
