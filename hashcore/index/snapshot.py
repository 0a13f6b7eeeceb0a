"""Index snapshots: ``.npy`` arrays plus a JSON manifest, written atomically, checked on load.

A snapshot is a directory holding one ``.npy`` file per array and ``manifest.json`` naming the
index class, format version, parameters and, per array, dtype, shape, file size and CRC-32 of the
data. Loading re-checks all of it, so truncation or bit rot surfaces as :class:`IndexCorrupt`
rather than wrong matches. Arrays are read with ``allow_pickle=False``: a snapshot can never run
code.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hashcore.index.base import IndexCorrupt

MANIFEST = "manifest.json"
FORMAT = "hashcore-index"

Arrays = dict[str, npt.NDArray[Any]]


def _crc(array: npt.NDArray[Any]) -> int:
    return zlib.crc32(np.ascontiguousarray(array).view(np.uint8).data)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_snapshot(
    directory: Path, kind: str, version: int, params: dict[str, Any], arrays: Arrays
) -> None:
    """Write ``arrays`` and a manifest into ``directory``, replacing it only once complete.

    The files go to a sibling temporary directory first, are fsynced, and the directory is then
    swapped in by rename, so a crash leaves either the old snapshot or the new one. An existing
    ``directory`` must be empty or a previous snapshot (we never delete unrelated files).
    """
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not (directory / MANIFEST).exists():
        raise FileExistsError(f"{directory} is not empty and holds no index snapshot")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    tmp = directory.with_name(f".{directory.name}.tmp-{tag}")
    tmp.mkdir()
    try:
        entries: dict[str, Any] = {}
        for name, array in arrays.items():
            array = np.ascontiguousarray(array)
            path = tmp / f"{name}.npy"
            with path.open("wb") as f:
                np.save(f, array, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            entries[name] = {
                "file": path.name,
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "size": path.stat().st_size,
                "crc32": _crc(array),
            }
        manifest = {
            "format": FORMAT,
            "kind": kind,
            "version": version,
            "params": params,
            "arrays": entries,
        }
        with (tmp / MANIFEST).open("w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        old = directory.with_name(f".{directory.name}.old-{tag}")
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        _fsync_dir(directory.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_manifest(directory: Path) -> dict[str, Any]:
    """The parsed manifest of a snapshot, or :class:`IndexCorrupt`."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"{directory}: no {MANIFEST}; not an index snapshot") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"{path}: unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorrupt(f"{path}: not a {FORMAT} manifest")
    for key, typ in (("kind", str), ("version", int), ("params", dict), ("arrays", dict)):
        if not isinstance(manifest.get(key), typ):
            raise IndexCorrupt(f"{path}: manifest field {key!r} missing or mistyped")
    return manifest


def read_snapshot(
    directory: Path,
    kind: str,
    version: int,
    *,
    mapped: frozenset[str] = frozenset(),
    memory_map: bool = False,
) -> tuple[dict[str, Any], Arrays]:
    """Params and arrays of a snapshot of ``kind``; every file is size- and CRC-checked.

    Arrays named in ``mapped`` are memory-mapped read-only instead of read, for data too large
    to hold in memory (TMK's full features); they are size-, dtype- and shape-checked but not
    checksummed, since that would read them whole. ``memory_map`` maps every other array
    read-only too, still checksummed: no copy into the process (a load at 10M values read
    1.5 GB twice, copy then checksum), and processes serving the same snapshot share the
    pages of the system's file cache.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest["kind"] != kind:
        raise IndexCorrupt(f"{directory}: snapshot of {manifest['kind']}, expected {kind}")
    if manifest["version"] != version:
        raise IndexCorrupt(
            f"{directory}: {kind} snapshot version {manifest['version']}, expected {version}"
        )
    arrays: Arrays = {}
    for name, entry in manifest["arrays"].items():
        try:
            path = directory / str(entry["file"])
            if path.parent != directory:
                raise IndexCorrupt(f"{directory}: array {name!r} points outside the snapshot")
            if path.stat().st_size != entry["size"]:
                raise IndexCorrupt(
                    f"{path}: {path.stat().st_size} bytes, manifest says {entry['size']}"
                )
            mode: Literal["r"] | None = "r" if memory_map or name in mapped else None
            array = np.load(path, allow_pickle=False, mmap_mode=mode)
            if mode is not None and name not in mapped:
                array = array.view(np.ndarray)  # a plain read-only array over the mapping
            if array.dtype.str != entry["dtype"] or list(array.shape) != entry["shape"]:
                raise IndexCorrupt(
                    f"{path}: {array.dtype.str}{list(array.shape)}, "
                    f"manifest says {entry['dtype']}{entry['shape']}"
                )
            if name not in mapped and _crc(array) != entry["crc32"]:
                raise IndexCorrupt(f"{path}: checksum mismatch")
        except IndexCorrupt:
            raise
        except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"{directory}: array {name!r} unreadable: {exc}") from exc
        arrays[name] = array
    return manifest["params"], arrays


def require(arrays: Arrays, name: str, dtype: str, shape: tuple[int, ...]) -> npt.NDArray[Any]:
    """``arrays[name]`` if it has this dtype and shape, else :class:`IndexCorrupt`."""
    array = arrays.get(name)
    if array is None:
        raise IndexCorrupt(f"snapshot lacks array {name!r}")
    if array.dtype != np.dtype(dtype) or array.shape != shape:
        raise IndexCorrupt(
            f"snapshot array {name!r} is {array.dtype}{array.shape}, expected {dtype}{shape}"
        )
    return array
