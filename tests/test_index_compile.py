"""A loaded index answers its first lookup without the compiler (issue 14).

The search kernel is compiled (or read from numba's cache) when an index is loaded or rebuilt,
before a server reports SERVING. A lookup must then hit that same compiled version: numba
compiles one per argument layout, and a read-only array (a memory-mapped snapshot,
``np.frombuffer`` of the query bytes) is a layout of its own, which cost the first real lookup
seconds. Checked in a fresh process, since any earlier search in this one may have compiled
another layout already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hashcore import compiled

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from hashcore.index.hamming import HammingIndex
from hashcore import compiled
from hashcore.index import mih_kernel

def layouts():
    return [str(s) for s in mih_kernel._search_jit.signatures]

rng = np.random.default_rng(0)
codes = rng.integers(0, 256, (50_000, 32), dtype=np.uint8)
if sys.argv[2] == "save":
    index = HammingIndex(256)
    index.add_array(np.arange(codes.shape[0], dtype=np.int64), codes)
    index.save(Path(sys.argv[1]))
    sys.exit(0)
seen = {"before_load": layouts()}
loaded = HammingIndex.load(Path(sys.argv[1]))
seen["after_load"] = layouts()
loaded.search([codes[0].tobytes()], 31)
loaded.range_search([codes[1].tobytes(), bytes(32)], 20)
read_only = np.frombuffer(codes[2].tobytes(), np.uint64).reshape(1, 4)
hits = loaded.search_arrays(read_only, 31)
assert hits[1].tolist() == [2], hits
loaded.search_arrays(loaded.pack_queries([codes[3].tobytes()]), 31)
loaded.remove([5])
loaded.add([7], [bytes(32)])
assert [h.value_id for h in loaded.search([codes[5].tobytes(), bytes(32)], 0)[1]] == [7]
seen["after_search"] = layouts()
loaded.add_array(np.arange(60_000, 80_000, dtype=np.int64), codes[:20_000])  # a rebuild
loaded.search([codes[4].tobytes()], 31)
seen["after_rebuild"] = layouts()
seen["expected"] = str(mih_kernel.signature(np.int32))
print(json.dumps(seen))
"""


def test_first_search_after_load_compiles_nothing(tmp_path: Path) -> None:
    for step in ("save", "load"):  # a fresh process loads, as a server does at start
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "index"), step],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    one = [seen["expected"]]
    assert seen["before_load"] == [], done.stderr  # imports compile nothing
    assert seen["after_load"] == one, done.stderr  # the load compiled the one layout
    assert seen["after_search"] == one, done.stderr  # no lookup added one
    assert seen["after_rebuild"] == one, done.stderr  # nor did writable rebuilt arrays


def test_cache_dir_is_per_user_unless_numba_cache_dir_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "explicit"))
    assert compiled.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compiled.cache_dir() == tmp_path / "xdg" / "hashcore" / "numba"
    (tmp_path / "blocked").write_text("a file where the cache directory would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "blocked"))
    fallback = compiled.cache_dir()
    assert fallback.is_dir() and not fallback.is_relative_to(tmp_path / "blocked")


def test_kernels_cache_outside_the_source_tree(tmp_path: Path) -> None:
    """Without NUMBA_CACHE_DIR the kernels are cached under the user's cache directory, not
    in ``hashcore/index/__pycache__`` (which a read-only install cannot write)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    script = (
        "from hashcore.index import mih_kernel as k; "
        "print(k._search_jit._cache._cache_path); print(k.verify._cache._cache_path)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    paths = [Path(line) for line in done.stdout.split()]
    assert len(paths) == 2  # the index's kernels
    assert all(p.is_relative_to(tmp_path / "hashcore" / "numba") for p in paths), paths


def test_loading_hashcore_and_its_plugins_imports_no_numba() -> None:
    """numba costs ~0.4 s to import and the index kernels ~1 s to load: commands that search
    nothing (``bank list``, ``plugins``, imports, ``hash``) must not pay for them. (PDQ's
    hashing kernel is C, loaded with its plugin in microseconds.)"""
    script = (
        "import sys, hashcore; from hashcore.registry import load_registry; load_registry(); "
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('numba', 'llvmlite') or m.endswith('mih_kernel')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
