"""A video's vPDQ feature: per kept frame, its PDQ hash, quality and timestamp.

Three forms, one meaning:

- **bytes** (the stored value): ``b"VPDQ\\x01"`` then, per frame, the 32-byte hash, the quality
  (one byte, 0-100) and the timestamp in milliseconds (4 bytes, big-endian). Milliseconds are
  python-threatexchange's precision, so every form converts to every other without loss.
- **pytx JSON** (the text form): a JSON list of ``"hex,quality,seconds"`` strings, as pytx's
  ``vpdq_to_json`` writes and ``json_to_vpdq`` reads, so features from pytx, HMA and
  ThreatExchange import as they are. Seconds are written with three decimals.
- **the reference layout** (``hash --vpdq-dir``): one ``frame,quality,hash,seconds`` line per
  frame, as the reference tool's sample hashes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hashcore_vpdq.errors import VpdqError

MAGIC = b"VPDQ\x01"
HASH_BYTES = 32
RECORD = np.dtype([("hash", np.uint8, (HASH_BYTES,)), ("quality", np.uint8), ("ms", ">u4")])
MAX_QUALITY = 100
MAX_MS = 2**32 - 1
"""Timestamps up to ~49.7 days: longer than any video a hotline receives."""


@dataclass(frozen=True, eq=False)
class VpdqFeature:
    """Parallel arrays, one row per frame, in frame order."""

    hashes: NDArray[np.uint8]
    """(n, 32) PDQ hashes, big-endian bit order (the hex form's bytes)."""
    quality: NDArray[np.uint8]
    ms: NDArray[np.int64]
    """Timestamps in milliseconds from the start."""
    frames: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """Frame numbers when hashed here (the reference layout's first column); imported
    features number their frames in order."""

    def __post_init__(self) -> None:
        n = self.hashes.shape[0]
        if self.hashes.shape != (n, HASH_BYTES) or self.quality.shape != (n,):
            raise VpdqError("malformed vPDQ feature arrays")
        if self.ms.shape != (n,):
            raise VpdqError("malformed vPDQ feature arrays")
        if self.frames.shape != (n,):
            object.__setattr__(self, "frames", np.arange(n, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VpdqFeature):
            return NotImplemented
        return (
            np.array_equal(self.hashes, other.hashes)
            and np.array_equal(self.quality, other.quality)
            and np.array_equal(self.ms, other.ms)
        )

    __hash__ = None  # type: ignore[assignment]

    # -- bytes -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        records = np.zeros(len(self), RECORD)
        records["hash"] = self.hashes
        records["quality"] = self.quality
        records["ms"] = self.ms
        return MAGIC + records.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> VpdqFeature:
        if not data.startswith(MAGIC):
            raise VpdqError("not a vPDQ value (bad header)")
        body = memoryview(data)[len(MAGIC) :]
        if len(body) % RECORD.itemsize:
            raise VpdqError(f"vPDQ value of {len(data)} bytes is not whole frames")
        records = np.frombuffer(body, RECORD)
        if not records.shape[0]:
            raise VpdqError("vPDQ value has no frames")
        feature = cls(
            np.array(records["hash"], np.uint8),
            np.array(records["quality"], np.uint8),
            records["ms"].astype(np.int64),
        )
        feature.check()
        return feature

    def check(self) -> None:
        """Raise :class:`VpdqError` unless every field is in range and there is a frame."""
        if not len(self):
            raise VpdqError("vPDQ feature has no frames")
        if int(self.quality.max()) > MAX_QUALITY:
            raise VpdqError(f"vPDQ quality above {MAX_QUALITY}")
        if int(self.ms.min()) < 0 or int(self.ms.max()) > MAX_MS:
            raise VpdqError("vPDQ timestamp out of range")

    # -- pytx JSON ---------------------------------------------------------------------------

    def lines(self) -> list[str]:
        """pytx's ``hex,quality,seconds`` strings."""
        hexes = [row.tobytes().hex() for row in self.hashes]
        return [
            f"{h},{q},{_seconds(ms)}"
            for h, q, ms in zip(hexes, self.quality.tolist(), self.ms.tolist(), strict=True)
        ]

    def to_json(self) -> str:
        return json.dumps(self.lines())

    @classmethod
    def from_json(cls, text: str) -> VpdqFeature:
        """pytx's serialisation (``json_to_vpdq``): a list of ``hex,quality,seconds``."""
        try:
            items = json.loads(text or "[]")
        except ValueError as error:
            raise VpdqError(f"vPDQ value is not JSON: {error}") from None
        if isinstance(items, dict):
            return cls.from_frame_objects(items)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise VpdqError("vPDQ value must be a JSON list of 'hex,quality,seconds' strings")
        return cls.from_lines(items)

    @classmethod
    def from_frame_objects(cls, frames: dict[str, object]) -> VpdqFeature:
        """pytx's first serialisation, still in older ThreatExchange records: an object keyed
        by frame number, each ``{"quality": q, "hash": hex, "timestamp": seconds}``."""
        lines = []
        try:
            ordered = sorted(frames.items(), key=lambda item: int(item[0]))
        except ValueError:
            raise VpdqError("vPDQ frame object keys must be frame numbers") from None
        for number, frame in ordered:
            if not isinstance(frame, dict):
                raise VpdqError(f"vPDQ frame {number}: expected an object")
            lines.append(f"{frame.get('hash')},{frame.get('quality')},{frame.get('timestamp')}")
        return cls.from_lines(lines)

    @classmethod
    def from_lines(cls, items: list[str]) -> VpdqFeature:
        hashes, quality, ms = [], [], []
        for number, item in enumerate(items):
            parts = item.split(",")
            if len(parts) != 3:
                raise VpdqError(f"vPDQ frame {number}: expected 'hex,quality,seconds': {item!r}")
            hashes.append(_hash_bytes(parts[0].strip(), number))
            quality.append(_quality(parts[1], number))
            ms.append(_millis(parts[2], number))
        feature = cls(
            np.frombuffer(b"".join(hashes), np.uint8).reshape(len(items), HASH_BYTES).copy(),
            np.array(quality, np.uint8).reshape(-1),
            np.array(ms, np.int64).reshape(-1),
        )
        feature.check()
        return feature

    # -- the reference layout ----------------------------------------------------------------

    def reference_lines(self) -> list[str]:
        """``frame,quality,hash,seconds`` per frame, as the reference tool writes them."""
        return [
            f"{frame},{q},{row.tobytes().hex()},{_seconds(ms)}"
            for frame, q, row, ms in zip(
                self.frames.tolist(), self.quality.tolist(), self.hashes, self.ms.tolist(),
                strict=True,
            )
        ]  # fmt: skip

    def write_reference(self, path: Path) -> None:
        Path(path).write_text("".join(f"{line}\n" for line in self.reference_lines()))

    @classmethod
    def read_reference(cls, path: Path) -> VpdqFeature:
        """A reference tool's ``frame,quality,hash,seconds`` file."""
        frames, items = [], []
        for number, line in enumerate(Path(path).read_text().split()):
            parts = line.split(",")
            if len(parts) != 4:
                raise VpdqError(f"{path}: line {number + 1} is not 'frame,quality,hash,seconds'")
            frames.append(int(parts[0]))
            items.append(f"{parts[2]},{parts[1]},{parts[3]}")
        parsed = cls.from_lines(items)
        return cls(parsed.hashes, parsed.quality, parsed.ms, np.array(frames, np.int64))


def _seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def _hash_bytes(text: str, number: int) -> bytes:
    if len(text) != 2 * HASH_BYTES:
        raise VpdqError(f"vPDQ frame {number}: the hash must be 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise VpdqError(f"vPDQ frame {number}: the hash is not hex") from None


def _quality(text: str, number: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise VpdqError(f"vPDQ frame {number}: quality {text!r} is not an integer") from None
    if not 0 <= value <= MAX_QUALITY:
        raise VpdqError(f"vPDQ frame {number}: quality {value} is not within 0-100")
    return value


def _millis(text: str, number: int) -> int:
    try:
        seconds = float(text)
    except ValueError:
        raise VpdqError(f"vPDQ frame {number}: timestamp {text!r} is not a number") from None
    if not 0 <= seconds <= MAX_MS / 1000:  # also refuses NaN
        raise VpdqError(f"vPDQ frame {number}: timestamp {text!r} is out of range")
    return round(seconds * 1000)
