"""A loaded index answers its first lookup without the compiler (issue 14).

The search kernel is compiled (or read from numba's cache) when an index is loaded or rebuilt,
before a server reports SERVING. A lookup must then hit that same compiled version: numba
compiles one per argument layout, and a read-only query array (``np.frombuffer`` of the query
bytes) is a layout of its own, which cost the first real lookup seconds. Checked in a fresh
process, since any earlier search in this one may have compiled the other layout already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from hashcore.index.hamming import HammingIndex
from hashcore.index import mih_kernel

rng = np.random.default_rng(0)
codes = rng.integers(0, 256, (50_000, 32), dtype=np.uint8)
index = HammingIndex(256)
index.add_array(np.arange(codes.shape[0], dtype=np.int64), codes)
index.compact()
index.save(Path(sys.argv[1]))
loaded = HammingIndex.load(Path(sys.argv[1]))
after_load = len(mih_kernel._search_jit.signatures)
loaded.search([codes[0].tobytes()], 31)
loaded.range_search([codes[1].tobytes(), bytes(32)], 20)
loaded.search_arrays(loaded.pack_queries([codes[2].tobytes()]), 31)
after_search = len(mih_kernel._search_jit.signatures)
print(json.dumps({"after_load": after_load, "after_search": after_search}))
"""


def test_first_search_after_load_compiles_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "index")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts == {"after_load": 1, "after_search": 1}, done.stderr
