"""scipy's DCT-II, the one ``imagehash.phash`` computes with, loaded in ~2 ms instead of ~0.3 s.

pHash takes scipy's block when a coefficient ties at the median (plugin.py). Importing
``scipy.fftpack`` costs ~0.3 s (``scipy.fft``'s package and helpers), paid by every process
that meets one featureless or symmetric picture (3% of the corpus): 12 of the 120 bench JPEGs
come from one such photo, and the import was ~12% of ``hash --jobs 1`` of the folder, paid
again by each of ``--jobs 2``'s workers. ``scipy.fftpack.dct`` calls scipy's compiled pocketfft
module (``scipy/fft/_pocketfft/pypocketfft``); it is loaded here from scipy's install without
its packages and called with the arguments scipy passes (type 2, unnormalised, one axis, one
thread).

Before its first use the module's output on a fixed block (half of it a mirror of the other, so
half its coefficients are rounding noise around zero) is checked against what ``scipy.fftpack``
gave for it (a SHA-256 of the float64 values): any difference, any change in that private
module, any failure to load, and ``scipy.fftpack`` itself is imported and used.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

Transform = Callable[[np.ndarray, int], np.ndarray]
"""``dct(values, axis)``: scipy.fftpack's unnormalised DCT-II along ``axis``."""

CHECK_DIGEST = "29476d3492ab4d1c03808f2127ca865e34c67594a0cf90efc4561a17a9d40c54"
"""SHA-256 of ``scipy.fftpack.dct(scipy.fftpack.dct(check_block(), axis=0), axis=1)``."""


def check_block() -> np.ndarray:
    """A fixed 32x32 block whose right half mirrors its left: 512 coefficients vanish exactly
    in arithmetic, so their values are the transform's own rounding."""
    block = (np.arange(1024).reshape(32, 32) * 7919 % 251).astype(np.float64)
    block[:, 16:] = block[:, 15::-1]
    return block


def digest(dct: Transform) -> str:
    values = dct(dct(check_block(), 0), 1)
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


@cache
def scipy_dct() -> Transform:
    """scipy.fftpack's DCT-II: pocketfft loaded directly when it passes the check, else
    ``scipy.fftpack.dct`` itself."""
    direct = _pocketfft_dct()
    if direct is not None:
        return direct
    import scipy.fftpack  # ~0.3 s

    def fftpack_dct(values: np.ndarray, axis: int) -> np.ndarray:
        return np.asarray(scipy.fftpack.dct(values, axis=axis), dtype=np.float64)

    return fftpack_dct


def _pocketfft_dct() -> Transform | None:
    try:
        spec = importlib.util.find_spec("scipy")
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations)), "fft", "_pocketfft")
        path = next(folder.glob("pypocketfft*.so"), None)
        if path is None:
            return None
        name = "scipy.fft._pocketfft.pypocketfft"
        loader = importlib.machinery.ExtensionFileLoader(name, str(path))
        module_spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        if module_spec is None:
            return None
        module: Any = importlib.util.module_from_spec(module_spec)
        loader.exec_module(module)

        def pocketfft_dct(values: np.ndarray, axis: int) -> np.ndarray:
            # scipy.fft._pocketfft.realtransforms._r2r: dct(x, type, axes, inorm, out, nthreads,
            # orthogonalize), as scipy.fftpack.dct(x, axis=axis) calls it
            data = np.asarray(values, dtype=np.float64)
            return np.asarray(module.dct(data, 2, (axis,), 0, None, 1, None), dtype=np.float64)

        return pocketfft_dct if digest(pocketfft_dct) == CHECK_DIGEST else None
    except Exception:  # noqa: BLE001 - any surprise in scipy's private layout: use scipy itself
        return None
