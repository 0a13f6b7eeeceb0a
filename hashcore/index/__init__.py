"""One index per signal family, behind :class:`SignalIndex`: the public part for plugins.

A family whose values need their own index (every SIMILARITY family, such as TMK) subclasses
:class:`SignalIndex` and returns one from ``SignalType.create_index()``; it writes and reads its
snapshots with :func:`write_snapshot` / :func:`read_snapshot` (``.npy`` arrays plus a checked
manifest, never pickle) and reports damage as :class:`IndexCorrupt`. Everything else under
``hashcore.index`` is the built-in indexes' own.
"""

from hashcore.index.base import IndexCorrupt, IndexHit, RangeHits, SignalIndex
from hashcore.index.snapshot import (
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
