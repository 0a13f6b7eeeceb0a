"""File -> content kind -> every applicable signal type -> signals.

Each family hashes independently: one algorithm failing on a file (a truncated JPEG PDQ cannot
decode) is reported for that family, and the others (MD5) still produce their signal.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from hashcore.cancel import check as check_cancelled
from hashcore.content import ContentKind, probe
from hashcore.crops import BANKED
from hashcore.errors import Cancelled, ContentError, HashcoreError
from hashcore.media import Media
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal, SignalType, derived_variant


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

    def messages(self) -> list[str]:
        """Each distinct error message once: one decoding failure fails every image family
        with the same message, which a reader needs to see once."""
        return list(dict.fromkeys(error.message for error in self.errors))


def warm_up(registry: SignalRegistry) -> None:
    """Have every family load what its first hash would (:meth:`SignalType.warm_up`)."""
    for signal_type in registry:
        signal_type.warm_up()


def hash_file(path: Path | str, registry: SignalRegistry, *, variants: bool = False) -> FileHashes:
    """Hash ``path`` with every applicable signal type.

    With ``variants`` the families that have lookup variants (PDQ's eight dihedral
    transformations) return all of them, as a lookup wants.

    When the picture has uniform borders, the families with ``border_variants`` also hash it
    trimmed (variant ``trimmed``; with ``variants``, ``trimmed+rot90`` and so on too). Then the
    families with ``crop_variants`` hash their standard crops (variant ``centre90``...; the
    lookup-only ones such as ``centre90-right`` with ``variants`` only). Those signals come after
    every plain one, so the plain hashes keep their places and values.
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
    trimmable, croppable = [], []
    for signal_type in registry.applicable(media.kind):
        signals = _hash_family(signal_type, media, variants, result)
        result.signals.extend(signals)
        if signals and media.kind is ContentKind.IMAGE:
            if signal_type.border_variants:
                trimmable.append((signal_type, signals))
            if signal_type.crop_variants:
                croppable.append((signal_type, signals))
    for signal_type, plain in trimmable:
        pictures = _trimmed_pictures(media, signal_type.name, result)
        trimmed = _derived_signals(signal_type, pictures, plain, variants, result)
        plain.extend(trimmed)  # the crops below leave out values the family already has
        result.signals.extend(trimmed)
    for signal_type, plain in croppable:
        pictures = _crop_pictures(signal_type, media, variants, result)
        result.signals.extend(
            _derived_signals(signal_type, pictures, plain, False, result, strong_only=True)
        )
    return result


def hash_open_file(
    descriptor: int, name: str, registry: SignalRegistry, *, variants: bool = False
) -> FileHashes:
    """:func:`hash_file` of the file open as ``descriptor`` (content that has no path, such as
    an upload held in memory), read through ``/proc/self/fd`` (Linux); its messages and
    ``path`` say ``name`` instead of that path."""
    path = f"/proc/self/fd/{descriptor}"
    return renamed(hash_file(path, registry, variants=variants), path, name)


def renamed(hashes: FileHashes, path: Path | str, name: str) -> FileHashes:
    """``hashes`` of a file hashed at ``path`` (a descriptor's or a spool's, meaningless to the
    caller), saying ``name`` instead: in its messages and as its ``path``."""
    hashes.errors = [HashFailure(e.type, e.message.replace(str(path), name)) for e in hashes.errors]
    hashes.path = Path(name)
    return hashes


def _hash_family(
    signal_type: SignalType, media: Media, variants: bool, result: FileHashes
) -> list[Signal]:
    """One family's signals for ``media``; a failure is noted in ``result`` instead."""
    path = result.path
    check_cancelled()
    try:
        if variants:
            return signal_type.hash_variants(media)
        return [signal_type.hash(media)]
    except Cancelled:
        raise  # nobody waits for this file any more: stop hashing it altogether
    except HashcoreError as error:
        result.errors.append(HashFailure(signal_type.name, _with_path(path, error.message)))
    except MemoryError:
        result.errors.append(HashFailure(signal_type.name, f"{path}: out of memory"))
    except Exception as error:  # noqa: BLE001 - a plugin bug must not stop other families
        result.errors.append(
            HashFailure(signal_type.name, f"{path}: {signal_type.name} failed: {error!r}")
        )
    return []


def _trimmed_pictures(media: Media, family: str, result: FileHashes) -> list[Media]:
    """The picture without its borders, once per distinct box (``trimmed``, ``trimmed-flat``);
    none when it has no border: every extra query variant is one more chance of an accidental
    match. A failure is noted in ``result`` (the plain hashes stand without it)."""
    try:
        return media.trimmed_pictures
    except Exception as error:  # noqa: BLE001 - the plain hashes stand without it
        result.errors.append(
            HashFailure(family, f"{result.path}: border detection failed: {error!r}")
        )
        return []


def _crop_pictures(
    signal_type: SignalType, media: Media, variants: bool, result: FileHashes
) -> list[Media]:
    """The family's standard crops (``crop_variants``); lookup-only ones only with
    ``variants``. A failure is noted in ``result`` and ends the list."""
    pictures: list[Media] = []
    for name in signal_type.crop_variants:
        if not variants and name not in BANKED:
            continue
        try:
            cropped = media.cropped(name)
        except Exception as error:  # noqa: BLE001 - the plain hashes stand without it
            result.errors.append(
                HashFailure(signal_type.name, f"{result.path}: crop {name} failed: {error!r}")
            )
            break
        if cropped is not None:
            pictures.append(cropped)
    return pictures


def _derived_signals(
    signal_type: SignalType,
    pictures: list[Media],
    plain: list[Signal],
    variants: bool,
    result: FileHashes,
    *,
    strong_only: bool = False,
) -> list[Signal]:
    """The family's signals for pictures derived from the file, named after them
    (``trimmed+rot90``, ``centre90``). A value the family already has adds nothing and is
    left out; with ``strong_only``, so is one that could not match alone (a crop of a
    featureless picture)."""
    seen = {signal.value for signal in plain}
    signals: list[Signal] = []
    for picture in pictures:
        name = picture.variant or ""
        for signal in _hash_family(signal_type, picture, variants, result):
            weak = not signal.usable or signal_type.is_weak(signal.quality)
            if signal.value in seen or (strong_only and weak):
                continue
            seen.add(signal.value)
            signals.append(replace(signal, variant=derived_variant(name, signal.variant)))
    return signals


def _unhashable_reason(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "no such file"
    except OSError as error:  # a folder on the way that cannot be searched, a link loop
        return f"cannot reach it: {error.strerror or error}"
    if stat.S_ISDIR(mode):  # iter_files yields a folder it could not list
        try:
            os.listdir(path)
        except OSError as error:
            return f"a folder that cannot be read: {(error.strerror or str(error)).lower()}"
        return "not a regular file"
    if not stat.S_ISREG(mode):
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
    """``message`` prefixed with ``path`` once: messages that name the file by its base name
    (``photo.jpg: cannot decode image``) get the full path instead, not both."""
    if str(path) in message:
        return message
    own = f"{path.name}: "
    return f"{path}: {message.removeprefix(own)}"


def iter_files(
    paths: Iterable[Path | str],
    skip: Iterable[Path] = (),
    skip_open: Iterable[int] = (),
    hidden: list[Path] | None = None,
) -> Iterator[Path]:
    """The given files, and every file below the given folders (sorted, hidden ones skipped).

    Folders in ``skip`` are not entered, however they are reached: the CLI passes its store,
    whose default (``./var/hashcore``) sits inside the folder a user adds or hashes, and whose
    database files are no one's content. Regular files open on the descriptors ``skip_open``
    are not yielded: the command's own output (``hash --json . > hashes.jsonl``), growing as
    it is read, is no one's content either. Hidden files and folders left out are appended to
    ``hidden``, when given, so the caller can say how many."""
    skipped = {_identity(folder) for folder in skip if folder.is_dir()}
    writing = {_identity(fd) for fd in skip_open if _regular(fd)}
    for raw in paths:
        path = Path(raw)
        if _is_dir(path):
            if skipped and _identity(path) in skipped:
                continue
            unlisted: list[str] = []  # folders os.walk could not list: yielded, so said
            note = functools.partial(_note_unlisted, unlisted)
            for root, dirs, files in os.walk(path, onerror=note):
                yield from map(Path, unlisted)
                unlisted.clear()
                if hidden is not None:
                    hidden += [Path(root) / n for n in (*dirs, *files) if n.startswith(".")]
                dirs[:] = sorted(
                    d
                    for d in dirs
                    if not d.startswith(".")
                    and not (skipped and _identity(Path(root) / d) in skipped)
                )
                for name in sorted(files):
                    found = Path(root) / name
                    if not name.startswith(".") and not (writing and _is_one_of(found, writing)):
                        yield found
            yield from map(Path, unlisted)
        elif not (writing and _is_one_of(path, writing)):
            yield path


def _note_unlisted(unlisted: list[str], error: OSError) -> None:
    unlisted.append(str(error.filename))


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False where it cannot be told (a folder on the way that cannot be
    searched): hashing the path then says why, where ``is_dir`` raised."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:  # closed
        return False


def _is_one_of(path: Path, identities: set[tuple[int, int]]) -> bool:
    try:
        return _identity(path) in identities
    except OSError:  # gone or unreadable: hashing it will say so
        return False


def _identity(item: Path | int) -> tuple[int, int]:
    """The file or folder itself, whatever path (relative, absolute, a link) or descriptor
    reaches it."""
    found = os.fstat(item) if isinstance(item, int) else item.stat()
    return found.st_dev, found.st_ino


def ensure_content(path: Path) -> None:
    """Raise :class:`ContentError` when ``path`` cannot be hashed at all."""
    problem = _unhashable_reason(path)
    if problem:
        raise ContentError(f"{path}: {problem}")
