"""Pick the index class for a signal type, for a new index or a snapshot on disk."""

from __future__ import annotations

from pathlib import Path

from hashcore.errors import PluginError
from hashcore.index.base import IndexCorrupt, SignalIndex
from hashcore.index.exact import ExactIndex
from hashcore.index.hamming import HammingIndex
from hashcore.index.snapshot import read_manifest
from hashcore.signals import Metric, SignalType


def _bits(signal_type: SignalType) -> int:
    bits = getattr(signal_type, "bits", None)
    if not isinstance(bits, int) or bits <= 0 or bits % 8:
        raise PluginError(
            f"{signal_type.name}: {signal_type.metric} signal types need `bits`, "
            f"a positive multiple of 8 (got {bits!r})"
        )
    return bits


def _plugin_index(signal_type: SignalType) -> SignalIndex:
    """SIMILARITY families bring their own index class via ``create_index()``."""
    hook = getattr(signal_type, "create_index", None)
    if not callable(hook):
        raise PluginError(
            f"{signal_type.name}: similarity signal types must provide create_index() "
            "returning a SignalIndex"
        )
    index = hook()
    if not isinstance(index, SignalIndex):
        raise PluginError(f"{signal_type.name}.create_index() returned {type(index).__name__}")
    return index


def create_index(signal_type: SignalType) -> SignalIndex:
    """An empty index suited to ``signal_type``'s metric."""
    if signal_type.metric is Metric.HAMMING:
        return HammingIndex(_bits(signal_type))
    if signal_type.metric is Metric.EXACT:
        return ExactIndex(_bits(signal_type) // 8)
    return _plugin_index(signal_type)


def load_index(signal_type: SignalType, directory: Path) -> SignalIndex:
    """The index snapshotted in ``directory``; :class:`IndexCorrupt` if it doesn't fit."""
    if signal_type.metric is Metric.SIMILARITY:
        # The plugin's own class reads its own snapshot format (SignalIndex.load).
        return type(_plugin_index(signal_type)).load(Path(directory))
    kind = read_manifest(Path(directory))["kind"]
    expected: type[HammingIndex] | type[ExactIndex]
    expected = HammingIndex if signal_type.metric is Metric.HAMMING else ExactIndex
    if kind != expected.kind:
        raise IndexCorrupt(f"{directory}: holds a {kind}, {signal_type.name} needs {expected.kind}")
    index = expected.load(Path(directory))
    want = _bits(signal_type)
    have = index.bits if isinstance(index, HammingIndex) else index.nbytes * 8
    if have != want:
        raise IndexCorrupt(f"{directory}: {have}-bit index, {signal_type.name} hashes {want} bits")
    return index
