"""PDQ's image-domain steps, compiled: luma, Jarosz filter and 64x64 decimation of a picture,
for its own pixel alignment and, when asked, the mirrored one.

Why compiled: ``pdqhash.compute`` spends ~95% of its time on these steps at full resolution
(four box-filter passes over a float copy of the whole picture), ~50-70 ms a 1 MP photo. PDQ
keeps only 64x64 samples of the filtered picture, so most of that work is thrown away. Two box
passes followed by one sample are one weighted sum (a tent) over the pixels near the sample,
with the same weights on every row: the kernel computes each row's luma, takes its 64 tents,
then the 64 tents down each of the 64 kept columns. One pass over the pixels, ~2 ms a 1 MP
photo, ~3.5 ms with the mirrored alignments that give all eight orientations
(:mod:`hashcore_pdq.turned`). (Session 9's running-sum kernel took ~5 and ~7 ms.)

Exactness: the steps are ``pdqhashing.cpp``'s (luma weights, ``computeJaroszFilterWindowSize``,
``box1DFloat``'s clipped windows, ``decimateFloat``'s sample positions); sums are in float64
where PDQ sums in float32 (and in another order), so a coefficient exactly at the median could
in principle round the other way. On the 308 robustness-corpus pictures and the reference
pictures every hash and quality equals ``pdqhash.compute`` bit for bit, and the plugin tests pin
it on pictures whose sides give every window parity. The tent form gave the running-sum form's
hashes and qualities on all 4,210 corpus pictures of 64 px and more, in all four alignments,
except on 4 of quality 0 (one colour: every bit a tie), which neither gives as ``pdqhash`` does.

The kernel is compiled once for one array layout (read-only, C-contiguous ``uint8`` RGB: what
``numpy.asarray`` of a Pillow image is) when this module is imported, and cached per user
(:func:`hashcore.caching_in`), so no hashing call waits for the compiler.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit, types

from hashcore import caching_in

F64 = npt.NDArray[np.float64]
SIDE = 64
"""PDQ's decimated buffer is 64x64."""

PIXELS = types.Array(types.uint8, 2, "C", readonly=True)
"""The one layout the kernel is compiled for: rows of interleaved RGB (a C-contiguous
H x W x 3 picture seen as H x 3W, a view), which the compiler vectorises."""


def _window(length: int) -> int:
    """``computeJaroszFilterWindowSize``: ``ceil(length / 128)``."""
    return (length + 2 * SIDE - 1) // (2 * SIDE)


def _taps(length: int, mirrored: bool, starts: Any, weights: Any) -> None:
    """Where each of the 64 samples along a line of ``length`` starts reading (into
    ``starts``), and the weight of each pixel from there (into ``weights``, zeroed, at least
    ``2 * window - 1`` wide): ``box1DFloat`` applied twice, then ``decimateFloat``'s sample,
    folded into one tent.

    The window is ``ceil(length / 128)`` long with ``(width + 2) // 2 - 1`` of it after the
    line, so an even window reaches one further forwards; the mirrored picture sees it the other
    way round, and samples ``decimateFloat``'s positions counted from the far end. Windows are
    clipped at the ends as ``box1DFloat`` clips them, so the end samples' tents are uneven.
    """
    window = _window(length)
    after = (window + 2) // 2 - 1
    before = window - 1 - after
    if mirrored:
        before, after = after, before
    for i in range(SIDE):
        for t in range(weights.shape[1]):
            weights[i, t] = 0.0
    for i in range(SIDE):
        if mirrored:
            line = length - 1 - int((SIDE - 1 - i + 0.5) * length / SIDE)
        else:
            line = int((i + 0.5) * length / SIDE)
        low = max(line - before, 0)
        high = min(line + after, length - 1)
        start = max(low - before, 0)
        starts[i] = start
        for k in range(low, high + 1):  # the second pass averages the first's values here
            first = max(k - before, 0)
            last = min(k + after, length - 1)
            share = 1.0 / (last - first + 1) / (high - low + 1)
            for pixel in range(first, last + 1):
                weights[i, pixel - start] += share


def _sampled(values: Any, starts: Any, weights: Any, out: Any, at: int, mirrored: bool) -> None:
    """The 64 samples of one line (``values``, zero-padded past its end) into ``out[:, at]``,
    reversed for the mirrored alignment (the mirrored picture's order). Each sum may be
    reassociated, so the compiler can vectorise it: that moves a sample by ~1e-16 of its
    value, far below the float32 PDQ computes in."""
    span = weights.shape[1]
    for i in range(SIDE):
        start = starts[i]
        total = 0.0
        for t in range(span):
            total += weights[i, t] * values[start + t]
        out[SIDE - 1 - i if mirrored else i, at] = total


def _luma_line(line: Any, luma: Any, width: int) -> None:
    """PDQ's luma of one row of interleaved RGB, rounded to float32 as PDQ stores it. Read from
    the flat row, which the compiler vectorises (indexing ``[row, col, channel]`` ran 4x
    slower)."""
    for col in range(width):
        luma[col] = np.float32(
            np.float64(line[3 * col]) * 0.299
            + np.float64(line[3 * col + 1]) * 0.587
            + np.float64(line[3 * col + 2]) * 0.114
        )


def _buffers(flat: Any, mirrors: int) -> Any:
    height, width = flat.shape[0], flat.shape[1] // 3
    column_starts = np.empty((mirrors, SIDE), np.int64)
    column_weights = np.empty((mirrors, SIDE, 2 * _window(width) - 1))
    row_starts = np.empty((mirrors, SIDE), np.int64)
    row_weights = np.empty((mirrors, SIDE, 2 * _window(height) - 1))
    for m in range(mirrors):
        _taps(width, m == 1, column_starts[m], column_weights[m])
        _taps(height, m == 1, row_starts[m], row_weights[m])
    across = np.empty((mirrors, SIDE, height))
    luma = np.zeros(width + column_weights.shape[2])  # the padding stays zero
    for row in range(height):
        _luma_line(flat[row], luma, width)
        for m in range(mirrors):
            _sampled(luma, column_starts[m], column_weights[m], across[m], row, m == 1)
    result = np.zeros((mirrors, mirrors, SIDE, SIDE))
    column = np.zeros(height + row_weights.shape[2])
    for columns_mirrored in range(mirrors):
        for col in range(SIDE):
            for row in range(height):
                column[row] = across[columns_mirrored, col, row]
            for rows_mirrored in range(mirrors):
                _sampled(
                    column,
                    row_starts[rows_mirrored],
                    row_weights[rows_mirrored],
                    result[rows_mirrored, columns_mirrored],
                    col,
                    rows_mirrored == 1,
                )
    return result


with caching_in():  # hashcore's per-user cache, never the (maybe read-only) source tree
    _window = njit(_window, cache=True, nogil=True)
    _taps = njit(_taps, cache=True, nogil=True)
    _sampled = njit(_sampled, cache=True, nogil=True, fastmath={"reassoc", "contract"})
    _luma_line = njit(_luma_line, cache=True, nogil=True)
    _compiled_buffers = njit(
        types.float64[:, :, :, ::1](PIXELS, types.int64), cache=True, nogil=True
    )(_buffers)


def pixels_for_kernel(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``rgb`` in the kernel's one layout (a copy only when it is not C-contiguous)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"PDQ needs H x W x 3 uint8 pixels, got {rgb.dtype} {rgb.shape}")
    pixels = np.ascontiguousarray(rgb).view()
    pixels.flags.writeable = False
    return pixels


def buffers(rgb: npt.NDArray[np.uint8], mirrored: bool = False) -> F64:
    """PDQ's 64x64 buffer of the picture, ``[0, 0]`` of a (1, 1, 64, 64) array; with
    ``mirrored`` a (2, 2, 64, 64) array by (rows mirrored, columns mirrored), each buffer in the
    orientation of the mirrored picture."""
    pixels = pixels_for_kernel(rgb)
    flat = pixels.reshape(pixels.shape[0], pixels.shape[1] * 3)  # a view: no copy
    result: F64 = _compiled_buffers(flat, 2 if mirrored else 1)
    return result


def quality(buffer: F64) -> int:
    """``pdqImageDomainQualityMetric``: the summed vertical and horizontal steps of the
    buffer, each truncated to a whole percentage of 255, over 90, at most 100."""
    values = buffer.astype(np.float32)  # PDQ's buffer is float32
    down = np.trunc((values[:-1, :] - values[1:, :]) * np.float32(100) / np.float32(255))
    across = np.trunc((values[:, :-1] - values[:, 1:]) * np.float32(100) / np.float32(255))
    total = int(np.abs(down).astype(np.int64).sum() + np.abs(across).astype(np.int64).sum())
    return min(total // 90, 100)
