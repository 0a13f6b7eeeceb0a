"""File -> content kind -> every applicable signal type -> signals.

Each family hashes independently: one algorithm failing on a file (a truncated JPEG PDQ cannot
decode) is reported for that family, and the others (MD5) still produce their signal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hashcore.content import ContentKind, probe
from hashcore.errors import ContentError, HashcoreError
from hashcore.media import Media
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal


@dataclass(frozen=True, slots=True)
class HashFailure:
    """Why one family (or, with ``type`` None, the whole file) could not be hashed."""

    type: str | None
    message: str


@dataclass(slots=True)
class FileHashes:
    """Everything hashing one file produced."""

    path: Path
    kind: ContentKind | None
    signals: list[Signal] = field(default_factory=list)
    errors: list[HashFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def hash_file(path: Path | str, registry: SignalRegistry, *, variants: bool = False) -> FileHashes:
    """Hash ``path`` with every applicable signal type.

    With ``variants`` the families that have lookup variants (PDQ's eight dihedral
    transformations) return all of them, as a lookup wants.
    """
    path = Path(path)
    problem = _unhashable_reason(path)
    if problem:
        return FileHashes(path, None, errors=[HashFailure(None, f"{path}: {problem}")])
    probed = probe(path)
    media = Media(path, probed.kind)
    result = FileHashes(path, media.kind)
    if probed.problem:
        result.errors.append(HashFailure(None, f"{path}: {probed.problem}; hashed as a plain file"))
    for signal_type in registry.applicable(media.kind):
        try:
            if variants:
                result.signals.extend(signal_type.hash_variants(media))
            else:
                result.signals.append(signal_type.hash(media))
        except HashcoreError as error:
            result.errors.append(HashFailure(signal_type.name, _with_path(path, error.message)))
        except MemoryError:
            result.errors.append(HashFailure(signal_type.name, f"{path}: out of memory"))
        except Exception as error:  # noqa: BLE001 - a plugin bug must not stop other families
            result.errors.append(
                HashFailure(signal_type.name, f"{path}: {signal_type.name} failed: {error!r}")
            )
    return result


def _unhashable_reason(path: Path) -> str | None:
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    try:
        with path.open("rb") as handle:
            if not handle.read(1):
                return "empty file (0 bytes): nothing to hash"
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    return None


def _with_path(path: Path, message: str) -> str:
    return message if str(path) in message else f"{path}: {message}"


def iter_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """The given files, and every file below the given folders (sorted, hidden ones skipped)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        else:
            yield path


def ensure_content(path: Path) -> None:
    """Raise :class:`ContentError` when ``path`` cannot be hashed at all."""
    problem = _unhashable_reason(path)
    if problem:
        raise ContentError(f"{path}: {problem}")
