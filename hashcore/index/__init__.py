"""One index per signal family, behind :class:`SignalIndex`: the public part for plugins.

A family whose values need their own index (every SIMILARITY family, such as TMK) subclasses
:class:`SignalIndex` and returns one from ``SignalType.create_index()``; it writes and reads its
snapshots with :func:`write_snapshot` / :func:`read_snapshot` (``.npy`` arrays plus a checked
manifest, never pickle) and reports damage as :class:`IndexCorrupt`. Everything else under
``hashcore.index`` is the built-in indexes' own.
"""

import os

OPENMP_WAIT_ENV = "OMP_WAIT_POLICY"
os.environ.setdefault(OPENMP_WAIT_ENV, "PASSIVE")
"""FAISS's OpenMP threads sleep as soon as a search ends instead of spinning for the next one.

libgomp's default keeps them busy-waiting a few milliseconds after every parallel search: in a
server whose content lookups arrive every 10-20 ms they never stopped, taking a core from the
hashing workers (perf of ``hashcore serve --workers 1`` over 120 content lookups: 19% of the
server's samples in libgomp's wait loop; its CPU 5.8-14.3 ms a call, 4.0-4.5 with PASSIVE).
libgomp reads this when loaded with faiss, which every index module imports after this package;
a value the user set wins."""

from hashcore.index.base import IndexCorrupt, IndexHit, RangeHits, SignalIndex  # noqa: E402
from hashcore.index.snapshot import (  # noqa: E402 - after the setting above, on purpose
    read_manifest,
    read_snapshot,
    require,
    write_snapshot,
)

__all__ = [
    "IndexCorrupt",
    "IndexHit",
    "RangeHits",
    "SignalIndex",
    "read_manifest",
    "read_snapshot",
    "require",
    "write_snapshot",
]
