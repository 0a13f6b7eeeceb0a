"""Every family's index through its life: opened on first use, caught up, snapshotted, compacted.

The engine owns the store and answers the verbs; :class:`IndexSet` owns the indexes. A family's
index opens the first time something needs it (a lookup of that family, a status, a check, a
compaction), so verbs that only write the store (``bank create``, ``bank import``, a status
change) never load or rebuild an index; their changes reach the indexes through the change log
when one opens. A serving process calls :meth:`IndexSet.open_all` at start instead, so its
first lookup costs no more than the rest.

A status (:meth:`IndexSet.states`, :meth:`IndexSet.unindexed`) or a check opens every family
not yet open: what an index would hold before it opens is a guess (its snapshot may be stale or
unreadable), and those are diagnostic calls, not the hot path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from hashcore.locks import RWLock
from hashcore.model import Ticker
from hashcore.registry import SignalRegistry
from hashcore.snapshots import IndexState, catch_up_index, open_index, rebuild, write_snapshot
from hashcore.store import Store

log = logging.getLogger(__name__)

NO_INDEX = "no index for this family"
OPEN_THREADS = 4
"""Families opened at once by :meth:`IndexSet.open_all`."""


class IndexSet:
    """The indexes of one store's families. Thread-safe; each family opens exactly once.

    Lookups search under the read side of one lock; catch-up, compaction and rebuilds take the
    write side. Opening a family holds only that family's own lock, so a slow first open (a
    rebuild of a large bank) does not stall lookups of the families already open.
    ``compact_interval`` (seconds) starts a thread that folds deltas and writes snapshots.
    """

    def __init__(
        self,
        store: Store,
        registry: SignalRegistry,
        root: Path,
        *,
        compact_interval: float | None = None,
    ) -> None:
        self._store = store
        self._registry = registry
        self._root = root
        self._lock = RWLock()
        self._snapshot_lock = threading.Lock()
        self._family_locks = {signal_type.name: threading.Lock() for signal_type in registry}
        self._states: dict[str, IndexState] = {}
        self._no_index: dict[str, str] = {}
        self._foreign_checked = False
        self._stop = threading.Event()
        self._compactor: threading.Thread | None = None
        if compact_interval:
            self._compactor = threading.Thread(
                target=self._compact_loop,
                args=(compact_interval,),
                name="hashcore-compact",
                daemon=True,
            )
            self._compactor.start()

    def close(self) -> None:
        """Stop background work; bring the open indexes up to date and snapshot what changed.

        Families never opened are left as they are: their snapshots replay the change log when
        they next open.
        """
        self._stop.set()
        if self._compactor is not None:
            self._compactor.join()
        self.catch_up()
        self._write_snapshots()

    # Opening

    def get(self, family: str) -> IndexState | None:
        """The family's index, opened now if this is its first use; ``None`` if it has none."""
        state = self._states.get(family)
        if state is not None or family in self._no_index:
            return state
        return self._open(family)

    def reason(self, family: str) -> str:
        """Why ``family`` has no index (after :meth:`get` returned ``None``)."""
        return self._no_index.get(family, NO_INDEX)

    def open_all(self) -> None:
        """Open every family's index now: a server's warm-up before it reports ready.

        The families open side by side: a load is mostly checksumming memory-mapped arrays
        (zlib releases the GIL) and reading the compiled search from numba's cache, so they
        overlap (at 10M values each of PDQ, MD5 and pHash, 3.6 s one after the other).
        """
        todo = [t.name for t in self._registry if t.name not in self._states]
        if len(todo) > 1:
            with ThreadPoolExecutor(min(len(todo), OPEN_THREADS), "hashcore-open") as pool:
                list(pool.map(self.get, todo))
        for family in todo:
            self.get(family)  # already open: returns at once
        if not self._foreign_checked:  # once: a status is read at every metrics scrape
            self._foreign_checked = True
            for family in self._store.families():
                if family not in self._registry:
                    log.warning(
                        "the store has %s signals but no plugin provides %s", family, family
                    )

    def opened(self) -> list[str]:
        """The families whose index is open, without opening any: what a verb has used."""
        return sorted(self._states)

    def _open(self, family: str) -> IndexState | None:
        signal_type = self._registry.get(family)
        with self._family_locks[family]:
            state = self._states.get(family)
            if state is not None or family in self._no_index:
                return state  # another thread opened it while this one waited
            if not self._store.read_only:  # a read-only store's indexes are rebuilt in memory
                self._root.mkdir(parents=True, exist_ok=True)
            try:
                state = open_index(self._store, signal_type, self._root)
            except Exception as error:  # noqa: BLE001 - one family's index must not stop others
                log.warning("no index for %s, its signals will not match: %s", family, error)
                self._no_index[family] = f"no index: {error}"
                return None
            with self._lock.write():  # nobody iterates the states while one is added
                self._states[family] = state
            return state

    # Status

    def states(self) -> dict[str, IndexState]:
        """Every family's open index (opening the rest): how it was opened, how far along."""
        self.open_all()
        return dict(self._states)

    def unindexed(self) -> dict[str, str]:
        """Families that have no index (and why), after trying to open every family."""
        self.open_all()
        return dict(self._no_index)

    @contextmanager
    def reading(self) -> Iterator[dict[str, IndexState]]:
        """The open indexes, held still for a search (other searches still run)."""
        with self._lock.read():
            yield dict(self._states)

    @contextmanager
    def quiesced(self) -> Iterator[dict[str, IndexState]]:
        """Every index open, caught up to the store and held still (lookups still run): what
        ``hashcore check`` compares with the store."""
        self.open_all()
        self.catch_up()
        with self.reading() as states:
            yield states

    # Keeping up with the store

    def catch_up(self) -> None:
        """Replay the changes committed since each open index was last brought up to date."""
        last = self._store.last_seq()
        if all(state.seq >= last for state in list(self._states.values())):
            return
        with self._lock.write():
            for family, state in self._states.items():
                catch_up_index(state, self._store, self._registry.get(family), last)

    def compact(self, progress: Ticker | None = None) -> None:
        """Open every index, fold its delta into its main structure, write the snapshots;
        ``progress`` advances once per index folded and once per snapshot written."""
        self.open_all()
        self._compact_open(progress)

    def rebuild(self, families: Iterable[str]) -> None:
        """Rebuild these families' open indexes from the store and write their snapshots."""
        with self._lock.write():
            for family in families:
                if family in self._states:
                    fresh = rebuild(self._store, self._registry.get(family), had_snapshot=True)
                    self._states[family] = fresh
        self._write_snapshots()

    def _compact_open(self, progress: Ticker | None = None) -> None:
        self.catch_up()
        with self._lock.write():
            for state in self._states.values():
                state.index.compact()
                if progress is not None:
                    progress.advance()
        self._write_snapshots(progress)

    def _write_snapshots(self, progress: Ticker | None = None) -> None:
        if self._store.read_only:
            return
        with self._snapshot_lock, self._lock.read():
            for state in self._states.values():
                if state.dirty:
                    try:
                        write_snapshot(state, self._store, self._root)
                    except Exception as error:  # noqa: BLE001 - a restart will rebuild instead
                        log.warning(
                            "could not write the %s index snapshot: %s", state.family, error
                        )
                if progress is not None:
                    progress.advance()

    def _compact_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.catch_up()
                if any(state.dirty for state in list(self._states.values())):
                    self._compact_open()
            except Exception:  # keep serving; the next round retries
                log.exception("background compaction failed")
