"""hashcore: one hash-matching engine across PDQ, pHash, MD5, TMK+PDQF and plugin algorithms.

This module is the public API a plugin author imports; nothing else is needed to write one.
"""

from hashcore import process_defaults  # noqa: F401 - first: numpy and faiss read its settings

# isort: split
from hashcore.compiled import caching_in
from hashcore.content import ContentKind, detect_kind
from hashcore.decode import reference_hashing
from hashcore.errors import (
    AlreadyExists,
    ContentError,
    HashcoreError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    NotReady,
    PluginError,
)
from hashcore.hashing import FileHashes, HashFailure, hash_file, iter_files
from hashcore.hookspecs import hookimpl
from hashcore.index import (
    IndexCorrupt,
    IndexHit,
    RangeHits,
    SignalIndex,
    read_snapshot,
    require,
    write_snapshot,
)
from hashcore.media import Media
from hashcore.plugins import get_plugin_manager
from hashcore.registry import SignalRegistry, load_registry
from hashcore.signals import NEVER_ALONE, BitSignalType, Metric, Signal, SignalType, bits_to_bytes

__version__ = "0.1.0"

__all__ = [
    "NEVER_ALONE",
    "AlreadyExists",
    "BitSignalType",
    "ContentError",
    "ContentKind",
    "FileHashes",
    "HashFailure",
    "HashcoreError",
    "IndexCorrupt",
    "IndexHit",
    "InvalidInput",
    "LimitExceeded",
    "Media",
    "Metric",
    "NotFound",
    "NotReady",
    "PluginError",
    "RangeHits",
    "Signal",
    "SignalIndex",
    "SignalRegistry",
    "SignalType",
    "__version__",
    "bits_to_bytes",
    "caching_in",
    "detect_kind",
    "get_plugin_manager",
    "hash_file",
    "hookimpl",
    "iter_files",
    "load_registry",
    "read_snapshot",
    "reference_hashing",
    "require",
    "write_snapshot",
]
