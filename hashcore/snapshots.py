"""Index snapshots on disk, and bringing an index up to date with the store.

A snapshot is ``<store>/indexes/<family>/``: the index's own files (written by
:meth:`SignalIndex.save`, never pickle) and ``manifest.json`` naming the family, the store it
came from, the change sequence number it contains, its value count and the SHA-256 of every
file of the index (``files``). Opening checks those digests, loads the snapshot and replays only
the later changes; a snapshot that fails to load or does not agree with the store is rebuilt
from SQLite instead of being trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hashcore.index.base import SignalIndex
from hashcore.index.factory import create_index, load_index
from hashcore.index.snapshot import MANIFEST as SNAPSHOT_MANIFEST
from hashcore.signals import SignalType
from hashcore.store import Store

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
INDEX_DIR = "index"
REPLAY_WINDOW = 200_000
"""Sequence numbers of changes read per step of a replay."""
SELF_CHECKED = (SNAPSHOT_MANIFEST,)
"""What opening checks of an index that verifies its own files: its manifest (and thereby the
checksums in it)."""
REBUILD_MIN = 20_000
"""Fewer pending changes than this are always replayed: cheaper than counting live values."""


@dataclass(slots=True)
class IndexState:
    """One family's live index and how far along the change log it is."""

    family: str
    index: SignalIndex
    seq: int
    """Every change with a sequence number up to this one is in ``index``."""
    origin: str
    """``snapshot`` or ``rebuilt``: how it was opened."""
    snapshot_seq: int | None = None
    """The sequence number of the snapshot on disk, if there is a good one."""
    replayed: int = 0
    """Changes replayed since opening (a restart from a snapshot replays only later ones)."""
    dirty: bool = False
    """Whether the index holds changes the snapshot on disk lacks."""


def snapshot_dir(root: Path, family: str) -> Path:
    return root / family


def open_index(store: Store, signal_type: SignalType, root: Path) -> IndexState:
    """The family's index: from its snapshot plus replayed changes, or rebuilt from SQLite."""
    family = signal_type.name
    seq, count = store.live_state(family)
    state = _from_snapshot(store, signal_type, root, seq)
    if state is not None:
        catch_up_index(state, store, signal_type, seq)  # a long backlog is rebuilt, not replayed
        if len(state.index) == count:
            return state
        log.warning(
            "%s index snapshot disagrees with the store (%d values, store has %d): rebuilding",
            family,
            len(state.index),
            count,
        )
    return rebuild(store, signal_type, had_snapshot=(root / family).exists())


def rebuild(store: Store, signal_type: SignalType, *, had_snapshot: bool = False) -> IndexState:
    """A fresh index of every live value of the family."""
    started = time.monotonic()
    index = create_index(signal_type)
    with store.live_values(signal_type.name) as (seq, batches):
        _add_all(index, batches)
    if index.delta_size:  # a bulk add may have left nothing to fold
        index.compact()
    log.info(
        "%s index rebuilt from the store: %d values in %.1fs",
        signal_type.name,
        len(index),
        time.monotonic() - started,
    )
    # An empty family with nothing on disk needs no snapshot; anything else does.
    dirty = len(index) > 0 or had_snapshot
    return IndexState(signal_type.name, index, seq, "rebuilt", dirty=dirty)


def catch_up_index(state: IndexState, store: Store, signal_type: SignalType, upto: int) -> None:
    """Bring ``state`` to ``upto``: replay the changes, or rebuild from the store when there
    are at least as many of them as live values (after a bulk import with deferred catch-up).

    A rebuild reads each live value once into bulk arrays and leaves the index compacted;
    replaying costs several times more per change (every value goes through the delta). The
    count is of all families' changes, so a family the backlog did not touch may be rebuilt
    too: at a cost bounded by that of reading the backlog, which is far below writing it.
    """
    pending = upto - state.seq
    if pending >= REBUILD_MIN and pending >= store.live_state(state.family)[1]:
        fresh = rebuild(store, signal_type)
        state.dirty = state.dirty or fresh.dirty or len(state.index) > 0
        state.index, state.seq = fresh.index, fresh.seq
    else:
        replay(state, store, upto)


def _add_all(index: SignalIndex, batches: Iterable[tuple[list[int], list[bytes]]]) -> None:
    """Add every batch of live values to a new index.

    Fixed-width indexes (a :attr:`~SignalIndex.value_size`) get them as one array through
    :meth:`~SignalIndex.add_array`: added batch by batch, each batch would merge into (and
    rebuild) a main structure that grows to the final size, which costs about twice the whole
    rebuild at 1M values. Other indexes take the batches.
    """
    width = index.value_size
    if width is None:
        for ids, values in batches:
            index.add(ids, values)
        return
    id_parts: list[npt.NDArray[np.int64]] = []
    code_parts: list[npt.NDArray[np.uint8]] = []
    for ids, values in batches:
        blob = b"".join(values)
        id_parts.append(np.asarray(ids, np.int64))
        code_parts.append(np.frombuffer(blob, np.uint8).reshape(len(values), width))
    if id_parts:
        index.add_array(np.concatenate(id_parts), np.concatenate(code_parts))


def replay(state: IndexState, store: Store, upto: int) -> int:
    """Apply the family's changes after ``state.seq`` up to ``upto``; returns how many.

    Read in windows of :data:`REPLAY_WINDOW` sequence numbers, so a long backlog is never held
    in memory at once.
    """
    total = 0
    while state.seq < upto:
        end = min(upto, state.seq + REPLAY_WINDOW)
        changes = store.changes_since(state.family, state.seq, end)
        final: dict[int, bytes | None] = {}
        for change in changes:  # in sequence order: the last operation on a value wins
            final[change.value_id] = change.value if change.op == "add" else None
        removed = [value_id for value_id, value in final.items() if value is None]
        added = [value_id for value_id, value in final.items() if value is not None]
        if removed:
            state.index.remove(removed)
        if added:
            state.index.add(added, [value for value in final.values() if value is not None])
        state.seq = end
        state.replayed += len(changes)
        state.dirty = state.dirty or bool(changes)
        total += len(changes)
    return total


def write_snapshot(state: IndexState, store: Store, root: Path) -> None:
    """Write the index and its manifest beside the old snapshot, then swap them in."""
    final = snapshot_dir(root, state.family)
    temp = root / f".{state.family}.{uuid.uuid4().hex}.tmp"
    old = root / f".{state.family}.{uuid.uuid4().hex}.old"
    try:
        temp.mkdir(parents=True)
        state.index.save(temp / INDEX_DIR)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "family": state.family,
            "store_id": store.store_id,
            "seq": state.seq,
            "count": len(state.index),
            "written_at": time.time(),
            "files": file_digests(temp / INDEX_DIR),
        }
        with (temp / MANIFEST).open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(manifest, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())  # the manifest must not outlive a torn index on a crash
        if final.exists():
            os.replace(final, old)
        os.replace(temp, final)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    state.snapshot_seq = state.seq
    state.dirty = False
    log.info("%s index snapshot written at seq %d", state.family, state.seq)


def _from_snapshot(
    store: Store, signal_type: SignalType, root: Path, store_seq: int
) -> IndexState | None:
    family = signal_type.name
    directory = snapshot_dir(root, family)
    if not directory.exists():
        return None
    try:
        manifest = _read_manifest(directory / MANIFEST)
        problem = _manifest_problem(manifest, family, store.store_id, store_seq)
        if problem:
            log.warning("%s index snapshot not used: %s; rebuilding", family, problem)
            return None
        checked = SELF_CHECKED if type(create_index(signal_type)).verifies_own_files else None
        problem = digest_problem(manifest, directory / INDEX_DIR, only=checked)
        if problem:
            log.warning("%s index snapshot not used: %s; rebuilding", family, problem)
            return None
        index = load_index(signal_type, directory / INDEX_DIR)
        if len(index) != manifest["count"]:
            log.warning(
                "%s index snapshot holds %d values, its manifest says %d; rebuilding",
                family,
                len(index),
                manifest["count"],
            )
            return None
    except Exception as error:  # noqa: BLE001 - any unreadable snapshot is rebuilt, not fatal
        log.warning("%s index snapshot unreadable (%s); rebuilding", family, error)
        return None
    seq = int(manifest["seq"])
    return IndexState(family, index, seq, "snapshot", snapshot_seq=seq)


def file_digests(directory: Path, only: Collection[str] | None = None) -> dict[str, str]:
    """SHA-256 (hex) of every file under ``directory`` (or of those named in ``only``), by path
    relative to it."""
    digests = {}
    paths = sorted(directory.rglob("*")) if only is None else [directory / name for name in only]
    for path in paths:
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
            digests[path.relative_to(directory).as_posix()] = digest.hexdigest()
    return digests


def digest_problem(
    manifest: dict[str, Any], directory: Path, only: Collection[str] | None = None
) -> str | None:
    """Why the files under ``directory`` do not match the manifest's ``files`` digests, if
    they don't. Snapshots written before digests were recorded have none and pass.

    ``only``: check just these files (an index that checksums its own files on load needs
    its manifest checked, not every file hashed twice); ``hashcore check`` checks them all.
    """
    expected = manifest.get("files")
    if expected is None:
        return None
    if not isinstance(expected, dict):
        return "its manifest has malformed file digests"
    if only is not None:
        expected = {name: expected.get(name) for name in only}
    found = file_digests(directory, only)
    changed = sorted(
        name for name in expected.keys() & found.keys() if expected[name] != found[name]
    )
    missing = sorted(expected.keys() - found.keys())
    extra = sorted(found.keys() - expected.keys())
    if changed:
        return f"checksum mismatch in {', '.join(changed)}"
    if missing:
        return f"missing files {', '.join(missing)}"
    if extra:
        return f"unexpected files {', '.join(extra)}"
    return None


def read_manifest(directory: Path) -> dict[str, Any]:
    """The snapshot manifest in ``directory`` (a family's snapshot directory)."""
    return _read_manifest(directory / MANIFEST)


def manifest_problem(
    manifest: dict[str, Any], family: str, store_id: str, store_seq: int
) -> str | None:
    """Why a snapshot's manifest does not fit this store, if it doesn't."""
    return _manifest_problem(manifest, family, store_id, store_seq)


def _read_manifest(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError("manifest is not a JSON object")
    return data


def _manifest_problem(
    manifest: dict[str, Any], family: str, store_id: str, store_seq: int
) -> str | None:
    if manifest.get("format") != FORMAT:
        return f"unknown snapshot format {manifest.get('format')!r}"
    if manifest.get("family") != family:
        return f"it is the snapshot of {manifest.get('family')!r}"
    if manifest.get("store_id") != store_id:
        return "it was built from another store"
    seq, count = manifest.get("seq"), manifest.get("count")
    if not isinstance(seq, int) or not isinstance(count, int) or seq < 0 or count < 0:
        return "its manifest lacks a valid seq or count"
    if seq > store_seq:
        return f"it claims seq {seq}, beyond the store's {store_seq}"
    return None
