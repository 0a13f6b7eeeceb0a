"""PDQF: the 256-float frame feature TMK is built on.

PDQF is PDQ's float DCT stage without hashing: luma, then a 16x16 block of DCT-II
coefficients (rows 1..16, skipping DC). Frames arrive already 64x64, so PDQ's blur and
decimation are skipped. Everything is batched so a chunk of frames costs two matmuls.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from hashcore_tmk.constants import FEATURE_DIM, FRAME_SIZE

_DCT_ROWS: Final[int] = 16

LUMA_WEIGHTS: Final[NDArray[np.float32]] = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""BT.601 luma weights applied to R, G, B on the 0-255 scale."""


def _dct_matrix() -> NDArray[np.float32]:
    i = np.arange(1, _DCT_ROWS + 1, dtype=np.float64)[:, None]
    j = np.arange(FRAME_SIZE, dtype=np.float64)[None, :]
    d = np.sqrt(2.0 / FRAME_SIZE) * np.cos(np.pi / (2 * FRAME_SIZE) * i * (2 * j + 1))
    out: NDArray[np.float32] = d.astype(np.float32)
    out.setflags(write=False)
    return out


DCT_MATRIX: Final[NDArray[np.float32]] = _dct_matrix()
"""D[i][j] = sqrt(2/64) cos(pi/128 (i+1)(2j+1)), i < 16, j < 64, float32."""


def luma(frames: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Luma of (..., 64, 64, 3) RGB frames as float32, 0-255 scale."""
    y: NDArray[np.float32] = np.matmul(frames.astype(np.float32), LUMA_WEIGHTS)
    return y


def pdqf_batch(frames: NDArray[np.uint8]) -> NDArray[np.float32]:
    """PDQF features of a batch of (N, 64, 64, 3) RGB frames: float32 (N, 256).

    Row-major flattening of ``D @ Y @ D.T`` (index ``i*16 + j``); note that
    ``pdqhash.compute_float`` returns this vector reversed.
    """
    if frames.ndim != 4 or frames.shape[1:] != (FRAME_SIZE, FRAME_SIZE, 3):
        raise ValueError(f"expected (N, {FRAME_SIZE}, {FRAME_SIZE}, 3) frames, got {frames.shape}")
    y = luma(frames)
    b: NDArray[np.float32] = np.matmul(np.matmul(DCT_MATRIX, y), DCT_MATRIX.T)
    return b.reshape(len(frames), FEATURE_DIM)


def pdqf(frame: NDArray[np.uint8]) -> NDArray[np.float32]:
    """PDQF feature of one (64, 64, 3) RGB frame: float32 (256,)."""
    feature: NDArray[np.float32] = pdqf_batch(frame[None])[0]
    return feature
