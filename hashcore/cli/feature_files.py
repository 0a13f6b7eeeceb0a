"""``hash --tmk-dir`` / ``--vpdq-dir``: each video's feature in the reference tools' file layout.

A file is named after its video as the reference tools name it (``<stem>.tmk``, ``<stem>.txt``).
Two videos of one run with the same stem (``a/clip.mp4``, ``b/clip.mp4``) get ``clip.tmk`` and
``clip-2.tmk``, with a warning naming both, instead of the second silently replacing the first.
A file that cannot be written is that video's error; the run goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hashcore.errors import InvalidInput
from hashcore.hashing import FileHashes
from hashcore.registry import SignalRegistry

TMK_TYPE = "tmk_pdqf"
VPDQ_TYPE = "vpdq"


class FeatureFiles:
    """Where one family's features go in one run, and which names the run has used."""

    def __init__(self, directory: Path, family: str, suffix: str, text: Callable[[bytes], bytes]):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file of that name, no permission, a read-only disk
            reason = error.strerror or str(error)
            raise InvalidInput(f"cannot write features to {directory}: {reason}") from None
        self.directory, self.family, self.suffix, self.text = directory, family, suffix, text
        self._written: dict[str, Path] = {}

    def write(self, result: FileHashes) -> list[str]:
        """Write ``result``'s feature of this family, if it has one; what to tell the user."""
        said = []
        for signal in result.signals:
            if signal.type != self.family:
                continue
            stem, name, number = result.path.stem, result.path.stem + self.suffix, 1
            first = self._written.get(name)
            while name in self._written:
                number += 1
                name = f"{stem}-{number}{self.suffix}"
            self._written[name] = result.path
            if first is not None:
                said.append(
                    f"warning: {result.path}: {stem}{self.suffix} holds {first} in this run; "
                    f"this video's is {name}"
                )
            target = self.directory / name
            try:
                target.write_bytes(self.text(signal.value))
            except OSError as error:
                said.append(f"error: {result.path}: cannot write {target}: {error.strerror}")
        return said


def tmk_files(directory: Path) -> FeatureFiles:
    """The reference ``.tmk`` layout is the feature's own bytes."""
    return FeatureFiles(directory, TMK_TYPE, ".tmk", lambda value: value)


def vpdq_files(directory: Path, registry: SignalRegistry) -> FeatureFiles:
    """The reference tool's layout: ``frame,quality,hash,seconds`` a line, from the signal's
    pytx text (``hash,quality,seconds`` per frame; every frame, so the frame is the line's
    number)."""
    family = registry.get(VPDQ_TYPE)

    def text(value: bytes) -> bytes:
        lines = []
        for number, frame in enumerate(json.loads(family.format(value))):
            hashed, quality, seconds = frame.split(",")
            lines.append(f"{number},{quality},{hashed},{seconds}\n")
        return "".join(lines).encode()

    return FeatureFiles(directory, VPDQ_TYPE, ".txt", text)
