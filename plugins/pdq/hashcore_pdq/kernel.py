"""PDQ's image-domain steps, compiled: luma, Jarosz filter and 64x64 decimation of a picture,
for its own pixel alignment and, when asked, the mirrored one.

Why compiled: ``pdqhash.compute`` spends ~95% of its time on these steps at full resolution
(four box-filter passes over a float copy of the whole picture), ~50-70 ms a 1 MP photo. PDQ
keeps only 64x64 samples of the filtered picture, so most of that work is thrown away. Here
each row's luma is summed once; the first box pass is read from those running sums only on the
lines that the second pass averages around the 64 sampled columns, and the same again down the
64 kept columns: one pass over the pixels, ~7 ms a 1 MP photo, 10 ms with the mirrored
alignments that give all eight orientations (:mod:`hashcore_pdq.turned`).

Exactness: the steps are ``pdqhashing.cpp``'s (luma weights, ``computeJaroszFilterWindowSize``,
``box1DFloat``'s clipped windows, ``decimateFloat``'s sample positions); sums are in float64
where PDQ sums in float32, so a coefficient exactly at the median could in principle round the
other way. On the 308 robustness-corpus pictures and the reference pictures every hash and
quality equals ``pdqhash.compute`` bit for bit, and the plugin tests pin it on pictures whose
sides give every window parity.

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

PIXELS = types.Array(types.uint8, 3, "C", readonly=True)
"""The one layout the kernel is compiled for."""


def _plan(length: int, mirrored: bool) -> tuple[Any, int, int]:
    """The 64 sampled lines along a dimension of ``length`` (in the picture's own order) and
    how far ``box1DFloat``'s window reaches before and after a line.

    The window is ``ceil(length / 128)`` long with ``(width + 2) // 2 - 1`` of it after the
    line, so an even window reaches one further forwards; the mirrored picture sees it the other
    way round, and samples ``decimateFloat``'s positions counted from the far end.
    """
    width = (length + 2 * SIDE - 1) // (2 * SIDE)
    after = (width + 2) // 2 - 1
    before = width - 1 - after
    lines = np.empty(SIDE, np.int64)
    for i in range(SIDE):
        if mirrored:
            lines[i] = length - 1 - int((SIDE - 1 - i + 0.5) * length / SIDE)
        else:
            lines[i] = int((i + 0.5) * length / SIDE)
    if mirrored:
        return lines, after, before
    return lines, before, after


def _twice_filtered(
    sums: Any, length: int, plan: tuple[Any, int, int], mirrored: bool, out: Any, at: int
) -> None:
    """Both box passes along one line, kept at the 64 sampled positions, from the line's
    running sums (``sums[k]``: of the first k values); written to ``out[:, at]``, reversed for
    the mirrored alignment (the mirrored picture's order)."""
    lines, before, after = plan
    for i in range(SIDE):
        low = max(lines[i] - before, 0)
        high = min(lines[i] + after, length - 1)
        total = 0.0
        for k in range(low, high + 1):
            first = max(k - before, 0)
            last = min(k + after, length - 1)
            total += (sums[last + 1] - sums[first]) / (last - first + 1)
        out[SIDE - 1 - i if mirrored else i, at] = total / (high - low + 1)


def _buffers(rgb: Any, mirrors: int) -> Any:
    height, width = rgb.shape[0], rgb.shape[1]
    across = np.empty((mirrors, SIDE, height))
    sums = np.empty(width + 1)
    column_plans = [_plan(width, m == 1) for m in range(mirrors)]
    row_plans = [_plan(height, m == 1) for m in range(mirrors)]
    for row in range(height):
        sums[0] = 0.0
        running = 0.0
        for col in range(width):
            luma = np.float32(
                rgb[row, col, 0] * 0.299 + rgb[row, col, 1] * 0.587 + rgb[row, col, 2] * 0.114
            )
            running += luma
            sums[col + 1] = running
        for m in range(mirrors):
            _twice_filtered(sums, width, column_plans[m], m == 1, across[m], row)
    result = np.zeros((mirrors, mirrors, SIDE, SIDE))
    column_sums = np.empty(height + 1)
    for columns_mirrored in range(mirrors):
        for col in range(SIDE):
            column_sums[0] = 0.0
            running = 0.0
            for row in range(height):
                running += across[columns_mirrored, col, row]
                column_sums[row + 1] = running
            for rows_mirrored in range(mirrors):
                _twice_filtered(
                    column_sums,
                    height,
                    row_plans[rows_mirrored],
                    rows_mirrored == 1,
                    result[rows_mirrored, columns_mirrored],
                    col,
                )
    return result


with caching_in():  # hashcore's per-user cache, never the (maybe read-only) source tree
    _plan = njit(_plan, cache=True, nogil=True)
    _twice_filtered = njit(_twice_filtered, cache=True, nogil=True)
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
    result: F64 = _compiled_buffers(pixels_for_kernel(rgb), 2 if mirrored else 1)
    return result


def quality(buffer: F64) -> int:
    """``pdqImageDomainQualityMetric``: the summed vertical and horizontal steps of the
    buffer, each truncated to a whole percentage of 255, over 90, at most 100."""
    values = buffer.astype(np.float32)  # PDQ's buffer is float32
    down = np.trunc((values[:-1, :] - values[1:, :]) * np.float32(100) / np.float32(255))
    across = np.trunc((values[:, :-1] - values[:, 1:]) * np.float32(100) / np.float32(255))
    total = int(np.abs(down).astype(np.int64).sum() + np.abs(across).astype(np.int64).sum())
    return min(total // 90, 100)
