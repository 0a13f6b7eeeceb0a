"""The TMK+PDQF feature: accumulation over frames and the ``.tmk`` exchange format."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hashcore_tmk.constants import (
    FEATURE_DIM,
    FOURIER_COEFFS,
    FPS,
    FRAME_SIZE,
    NUM_COEFFS,
    NUM_PERIODS,
    PERIODS,
)
from hashcore_tmk.errors import TmkError
from hashcore_tmk.pdqf import pdqf_batch
from hashcore_tmk.tables import unit_circle

__all__ = [
    "CHUNK_FRAMES",
    "FEATURE_DIM",
    "FOURIER_COEFFS",
    "FPS",
    "PERIODS",
    "TMK_FILE_SIZE",
    "TmkAccumulator",
    "TmkFeature",
    "compute_tmk",
    "read_tmk",
    "write_tmk",
]

CHUNK_FRAMES: Final[int] = 64
"""Frames hashed per batch: big enough for matmul speed, small enough to stream."""

_MAGIC: Final[bytes] = b"TMK1FVECPDQF"
_HEADER: Final[struct.Struct] = struct.Struct(f"<12s5i{NUM_PERIODS}i{NUM_COEFFS}f")
_FLOATS: Final[int] = FEATURE_DIM + 2 * NUM_PERIODS * NUM_COEFFS * FEATURE_DIM
TMK_FILE_SIZE: Final[int] = _HEADER.size + 4 * _FLOATS
"""Size in bytes of every ``.tmk`` file (263,344)."""

_SHAPE: Final[tuple[int, int, int]] = (NUM_PERIODS, NUM_COEFFS, FEATURE_DIM)
_INT32_MAX: Final[int] = 2**31 - 1


@dataclass(frozen=True, eq=False)
class TmkFeature:
    """One video's TMK+PDQF feature.

    ``average`` is the mean raw PDQF vector (not normalised); ``cos``/``sin`` hold, for each
    period and Fourier coefficient, the L2-normalised weighted sum scaled by sqrt(a_j).
    Arrays are float32 and read-only so features can be shared safely.
    """

    frame_count: int
    average: NDArray[np.float32]
    cos: NDArray[np.float32]
    sin: NDArray[np.float32]

    def __post_init__(self) -> None:
        if not 0 <= int(self.frame_count) <= _INT32_MAX:
            raise TmkError(f"frame count {self.frame_count} out of range")
        object.__setattr__(self, "frame_count", int(self.frame_count))
        for name, shape in (("average", (FEATURE_DIM,)), ("cos", _SHAPE), ("sin", _SHAPE)):
            value = np.asarray(getattr(self, name))
            if value.shape != shape:
                raise TmkError(f"{name} has shape {value.shape}, expected {shape}")
            if not np.all(np.isfinite(value)):
                raise TmkError(f"{name} contains non-finite values")
            array = np.array(value, dtype=np.float32)  # own copy: callers keep theirs mutable
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def to_bytes(self) -> bytes:
        """Serialise in the ThreatExchange ``.tmk`` layout (little-endian, 263,344 bytes)."""
        header = _HEADER.pack(
            _MAGIC,
            FPS,
            NUM_PERIODS,
            NUM_COEFFS,
            FEATURE_DIM,
            self.frame_count,
            *PERIODS,
            *FOURIER_COEFFS.tolist(),
        )
        body = np.concatenate([self.average.ravel(), self.cos.ravel(), self.sin.ravel()])
        return header + body.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> TmkFeature:
        """Parse a ``.tmk`` file's bytes, refusing any layout other than TMK+PDQF's."""
        if len(data) != TMK_FILE_SIZE:
            raise TmkError(f".tmk data is {len(data)} bytes, expected {TMK_FILE_SIZE}")
        fields = _HEADER.unpack_from(data)
        magic, fps, periods, coeffs, dim, frame_count = fields[:6]
        if magic != _MAGIC:
            raise TmkError(f"bad .tmk magic {magic!r}, expected {_MAGIC!r}")
        if (periods, coeffs, dim) != (NUM_PERIODS, NUM_COEFFS, FEATURE_DIM):
            raise TmkError(
                f".tmk has P={periods}, m={coeffs}, d={dim}; "
                f"expected P={NUM_PERIODS}, m={NUM_COEFFS}, d={FEATURE_DIM}"
            )
        if fps != FPS:
            raise TmkError(f".tmk frame rate is {fps}, expected {FPS}")
        if frame_count < 0:
            raise TmkError(f".tmk frame count {frame_count} is negative")
        file_periods = tuple(fields[6 : 6 + NUM_PERIODS])
        if file_periods != PERIODS:
            raise TmkError(f".tmk periods {file_periods} differ from {PERIODS}")
        body = np.frombuffer(data, dtype="<f4", offset=_HEADER.size)  # copied by TmkFeature
        average = body[:FEATURE_DIM]
        half = NUM_PERIODS * NUM_COEFFS * FEATURE_DIM
        cos = body[FEATURE_DIM : FEATURE_DIM + half].reshape(_SHAPE)
        sin = body[FEATURE_DIM + half :].reshape(_SHAPE)
        return cls(frame_count=frame_count, average=average, cos=cos, sin=sin)


def read_tmk(path: str | os.PathLike[str]) -> TmkFeature:
    """Read a ``.tmk`` file (reading at most one byte past the expected size)."""
    with open(path, "rb") as handle:
        data = handle.read(TMK_FILE_SIZE + 1)
    return TmkFeature.from_bytes(data)


def write_tmk(path: str | os.PathLike[str], feature: TmkFeature) -> None:
    """Write a feature as a ``.tmk`` file."""
    with open(path, "wb") as handle:
        handle.write(feature.to_bytes())


class TmkAccumulator:
    """Builds a feature from PDQF vectors fed in order, a chunk at a time.

    Sums are kept in float64; per chunk the Fourier weights come from a lookup table
    (``(j*t) mod T``) and are applied with one batched matmul over all periods.
    """

    def __init__(self) -> None:
        self._count = 0
        self._sum = np.zeros(FEATURE_DIM, dtype=np.float64)
        self._cos = np.zeros(_SHAPE, dtype=np.float64)
        self._sin = np.zeros(_SHAPE, dtype=np.float64)
        self._coef_index = np.arange(NUM_COEFFS, dtype=np.int64)[:, None]

    @property
    def frame_count(self) -> int:
        return self._count

    def add(self, features: NDArray[np.float32]) -> None:
        """Add PDQF vectors (N, 256) of the next N frames."""
        if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
            raise ValueError(f"expected (N, {FEATURE_DIM}) features, got {features.shape}")
        n = len(features)
        if n == 0:
            return
        raw = features.astype(np.float64)
        self._sum += raw.sum(axis=0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        unit = np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)
        t = np.arange(self._count, self._count + n, dtype=np.int64)[None, :]
        phase = self._coef_index * t  # (m, N) integer multiples of 2*pi/T
        cos_w = np.empty((NUM_PERIODS, NUM_COEFFS, n))
        sin_w = np.empty((NUM_PERIODS, NUM_COEFFS, n))
        for p, period in enumerate(PERIODS):
            cos_table, sin_table = unit_circle(period)
            index = phase % period
            cos_w[p] = cos_table[index]
            sin_w[p] = sin_table[index]
        self._cos += np.matmul(cos_w, unit)
        self._sin += np.matmul(sin_w, unit)
        self._count += n

    def finish(self) -> TmkFeature:
        """The feature of the frames added so far (at least one frame is needed)."""
        if self._count == 0:
            raise TmkError("cannot build a TMK feature from zero frames")
        sin = self._sin.copy()
        sin[:, 0, :] = 0.0  # sin(0) = 0 exactly; keep it free of rounding noise
        weight = np.sqrt(FOURIER_COEFFS.astype(np.float64))[None, :, None]
        return TmkFeature(
            frame_count=self._count,
            average=(self._sum / self._count).astype(np.float32),
            cos=(_unit_rows(self._cos) * weight).astype(np.float32),
            sin=(_unit_rows(sin) * weight).astype(np.float32),
        )


def _unit_rows(x: NDArray[np.float64]) -> NDArray[np.float64]:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: NDArray[np.float64] = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


def feature_from_frames(frames: Iterable[NDArray[np.uint8]]) -> TmkFeature:
    """Hash a stream of (64, 64, 3) RGB frames already at 15 fps."""
    accumulator = TmkAccumulator()
    batch = np.empty((CHUNK_FRAMES, FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
    filled = 0
    for frame in frames:
        batch[filled] = frame
        filled += 1
        if filled == CHUNK_FRAMES:
            accumulator.add(pdqf_batch(batch))
            filled = 0
    if filled:
        accumulator.add(pdqf_batch(batch[:filled]))
    return accumulator.finish()


def compute_tmk(
    path: str | os.PathLike[str], *, strict: bool = False, decoder_threads: int | None = None
) -> TmkFeature:
    """Hash a video file into its TMK+PDQF feature (see ``frames.iter_frames`` for options)."""
    from hashcore_tmk.frames import iter_frames  # PyAV loads for videos only

    return feature_from_frames(iter_frames(path, strict=strict, decoder_threads=decoder_threads))
