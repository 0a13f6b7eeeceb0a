"""PDQ's image-domain steps, compiled: luma, Jarosz filter and 64x64 decimation of a picture,
for its own pixel alignment and, when asked, the mirrored one.

Why compiled: ``pdqhash.compute`` spends ~95% of its time on these steps at full resolution
(four box-filter passes over a float copy of the whole picture), ~50-70 ms a 1 MP photo. PDQ
keeps only 64x64 samples of the filtered picture, so most of that work is thrown away. Two box
passes followed by one sample are one weighted sum (a tent) over the pixels near the sample,
with the same weights on every row: the kernel computes each row's luma, takes its 64 tents,
then the 64 tents down each of the 64 kept columns. One pass over the pixels, ~2 ms a 1 MP
photo, ~3.5 ms with the mirrored alignments that give all eight orientations
(:mod:`hashcore_pdq.turned`).

Why C (``_tent.c``, built when the plugin is installed): loading it takes microseconds. The
numba version it replaced (session 10) cost ~0.45 s of every process that hashed (numba's import
and its machine-code cache, plus seconds of compiling on a fresh install), most of the run of a
``hashcore hash`` of a few large photos.

Exactness: luma is pdqhash's float32 value for every colour, computed from the integer sum
``299r + 587g + 114b`` and one float32 division (``_tent.c`` says why that is the same number;
``plugins/pdq/tests/test_pdq_luma.py`` checks all 2^24 colours). The other steps are
``pdqhashing.cpp``'s (``computeJaroszFilterWindowSize``, ``box1DFloat``'s clipped windows,
``decimateFloat``'s sample positions); sums are in float64
where PDQ sums in float32 (and in another order), so a coefficient exactly at the median could
in principle round the other way. On the 308 robustness-corpus pictures and the reference
pictures every hash and quality equals ``pdqhash.compute`` bit for bit, and the plugin tests pin
it on pictures whose sides give every window parity, and each buffer to the reference's passes
written out in numpy. The C kernel gave the numba kernel's hashes and qualities on the 4,210
corpus pictures of 64 px and more, in all four alignments (``bench/pdq_kernel_ab.py``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hashcore_pdq import _tent  # type: ignore[attr-defined]

F64 = npt.NDArray[np.float64]
SIDE = 64
"""PDQ's decimated buffer is 64x64."""


def pixels_for_kernel(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``rgb`` as the kernel reads it: C-contiguous H x W x 3 ``uint8`` (a copy only when it
    is not contiguous)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"PDQ needs H x W x 3 uint8 pixels, got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def buffers(rgb: npt.NDArray[np.uint8], mirrored: bool = False) -> F64:
    """PDQ's 64x64 buffer of the picture, ``[0, 0]`` of a (1, 1, 64, 64) array; with
    ``mirrored`` a (2, 2, 64, 64) array by (rows mirrored, columns mirrored), each buffer in the
    orientation of the mirrored picture."""
    pixels = pixels_for_kernel(rgb)
    mirrors = 2 if mirrored else 1
    result: F64 = np.empty((mirrors, mirrors, SIDE, SIDE))
    _tent.fill(pixels, pixels.shape[0], pixels.shape[1], mirrors, result)
    return result


def quality(buffer: F64) -> int:
    """``pdqImageDomainQualityMetric``: the summed vertical and horizontal steps of the
    buffer, each truncated to a whole percentage of 255, over 90, at most 100. Computed by
    ``_tent.c`` in the same float32 operations as :func:`numpy_quality` (the tests compare)."""
    result: int = _tent.quality(np.ascontiguousarray(buffer, dtype=np.float64))
    return result


def numpy_quality(buffer: F64) -> int:
    """:func:`quality` written in numpy: the definition the compiled one is checked against."""
    values = buffer.astype(np.float32)  # PDQ's buffer is float32
    down = np.trunc((values[:-1, :] - values[1:, :]) * np.float32(100) / np.float32(255))
    across = np.trunc((values[:, :-1] - values[:, 1:]) * np.float32(100) / np.float32(255))
    total = int(np.abs(down).astype(np.int64).sum() + np.abs(across).astype(np.int64).sum())
    return min(total // 90, 100)
