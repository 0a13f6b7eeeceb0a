"""Where a family's index lives: in this process (the default) or in an external engine.

An :class:`IndexBackend` decides, per family, which :class:`~hashcore.index.base.SignalIndex`
the engine keeps. The engine hands :class:`~hashcore.index_set.IndexSet` the registry the backend
returns (:meth:`IndexBackend.registry`): families the backend serves create its index, the rest
keep their own. Everything else stays as it is, on purpose: an external index is fed from the
store's change log and checkpointed by the same :class:`IndexSet` code as the embedded one (its
"snapshot" is the sequence number it holds plus where its data lives), so a backend that was
down or restarted catches up by replaying, or is rebuilt from SQLite, the system of record.

Choose one with :func:`backend_from_spec` (``embedded``, ``milvus:<uri>``), from the server's
``[index_backend]`` table (:func:`backend_from_table`) or ``HASHCORE_INDEX_BACKEND``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hashcore.errors import InvalidInput
from hashcore.index.base import SignalIndex
from hashcore.registry import SignalRegistry
from hashcore.signals import SignalType

if TYPE_CHECKING:
    from hashcore.store import Store

BACKEND_ENV = "HASHCORE_INDEX_BACKEND"
EMBEDDED = "embedded"


class IndexBackend(Protocol):
    """Which index each family gets, and the backend's own life (health, close)."""

    name: str
    """``embedded`` or ``milvus``: logs, health, the checkpoint directory's name."""

    def index_dir(self, store_dir: Path) -> Path:
        """Where :class:`~hashcore.index_set.IndexSet` keeps this backend's checkpoints (a
        directory per backend, so switching back and forth rebuilds neither)."""
        ...

    def registry(self, registry: SignalRegistry, store: Store) -> SignalRegistry:
        """``registry`` with the families this backend serves creating its indexes, over
        ``store`` (its id names the backend's data; a backend that filters by bank reads the
        values' banks from it)."""
        ...

    def problem(self) -> str | None:
        """Why the backend cannot answer now (health), ``None`` when it can."""
        ...

    def close(self) -> None:
        """Release connections; the engine calls it once, when it closes."""
        ...


class EmbeddedBackend:
    """Today's in-process indexes (multi-index hashing, FAISS, exact): nothing is redirected."""

    name = EMBEDDED

    def index_dir(self, store_dir: Path) -> Path:
        return store_dir / "indexes"  # hashcore.store.store.INDEX_DIR, where snapshots always were

    def registry(self, registry: SignalRegistry, store: Store) -> SignalRegistry:
        return registry

    def problem(self) -> str | None:
        return None

    def close(self) -> None:
        pass


def redirect(
    registry: SignalRegistry,
    serves: Callable[[SignalType], bool],
    make: Callable[[SignalType], SignalIndex],
) -> SignalRegistry:
    """A registry whose types ``serves`` accepts create their index with ``make``.

    Each such type is a copy of the plugin's instance, of a subclass that overrides only
    :meth:`~hashcore.signals.SignalType.create_index` (the documented place where a family
    picks its index), so :class:`~hashcore.index_set.IndexSet` and the snapshot code need no
    notion of backends.
    """
    types = []
    for signal_type in registry:
        if serves(signal_type):
            base = type(signal_type)

            def create_index(self: SignalType, _original: SignalType = signal_type) -> SignalIndex:
                return make(_original)

            subclass = type(base.__name__, (base,), {"create_index": create_index, "__slots__": ()})
            redirected = copy.copy(signal_type)
            redirected.__class__ = subclass
            signal_type = redirected
        types.append(signal_type)
    return SignalRegistry(types)


def backend_table(spec: str | None) -> dict[str, Any]:
    """``embedded`` (or empty) or ``milvus:<uri>`` (``HASHCORE_INDEX_BACKEND``) as the table
    the server's TOML gives: a Milvus server's ``http://host:19530``, or a local file for Milvus
    Lite (``milvus:/var/hashcore/milvus.db``)."""
    text = (spec or EMBEDDED).strip()
    if text == EMBEDDED:
        return {"kind": EMBEDDED}
    kind, _, uri = text.partition(":")
    if kind == "milvus" and uri:
        return {"kind": "milvus", "uri": uri}
    raise InvalidInput(
        f"unknown index backend {text!r}: use 'embedded' or 'milvus:<uri>'", field="index_backend"
    )


def backend_from_spec(spec: str | None) -> IndexBackend:
    """The backend a ``HASHCORE_INDEX_BACKEND`` value names (:func:`backend_table`)."""
    return backend_from_table(backend_table(spec))


def check_table(table: Mapping[str, Any]) -> None:
    """:class:`InvalidInput` unless ``table`` describes a backend (nothing is connected)."""
    settings = dict(table)
    kind = settings.pop("kind", EMBEDDED)
    if kind == "milvus":
        from hashcore.backends.milvus import MilvusSettings

        MilvusSettings.from_table(settings)
    elif kind != EMBEDDED or settings:
        raise InvalidInput(
            f"index_backend: unknown kind {kind!r} (or settings for 'embedded')",
            field="index_backend",
        )


def backend_from_table(table: Mapping[str, Any]) -> IndexBackend:
    """An ``[index_backend]`` TOML table (``kind`` and, for Milvus, its settings): the backend,
    connected."""
    check_table(table)
    settings = dict(table)
    if settings.pop("kind", EMBEDDED) == "milvus":
        from hashcore.backends.milvus import MilvusBackend, MilvusSettings

        return MilvusBackend(MilvusSettings.from_table(settings))
    return EmbeddedBackend()
