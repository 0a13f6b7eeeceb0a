"""The index of a signal type, new or from a snapshot on disk, checked against the type."""

from __future__ import annotations

from pathlib import Path

from hashcore.errors import PluginError
from hashcore.index.base import IndexCorrupt, SignalIndex
from hashcore.signals import SignalType


def create_index(signal_type: SignalType) -> SignalIndex:
    """An empty index from ``signal_type.create_index()``; :class:`PluginError` if it is none."""
    index = signal_type.create_index()
    if not isinstance(index, SignalIndex):
        raise PluginError(f"{signal_type.name}.create_index() returned {type(index).__name__}")
    return index


def load_index(signal_type: SignalType, directory: Path) -> SignalIndex:
    """The index snapshotted in ``directory``; :class:`IndexCorrupt` if it doesn't fit.

    The snapshot is read by the class the type would create now (its ``load`` checks the
    manifest's kind and version), and must hold values of the width that type hashes.
    """
    fresh = create_index(signal_type)
    index = type(fresh).load(Path(directory))
    want, have = fresh.value_size, index.value_size
    if have != want:
        raise IndexCorrupt(
            f"{directory}: an index of {have}-byte values, {signal_type.name} hashes {want}"
        )
    return index
