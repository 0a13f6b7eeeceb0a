"""scipy's DCT loaded without scipy's packages (hashcore_phash.dct): the same values as
``scipy.fftpack.dct``, and scipy itself whenever the direct load fails or its check does not
hold."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from collections.abc import Iterator

import numpy as np
import pytest
import scipy.fftpack

from hashcore_phash import dct


@pytest.fixture(autouse=True)
def fresh_choice() -> Iterator[None]:
    """Each test chooses anew (scipy_dct remembers its choice for the process)."""
    dct.scipy_dct.cache_clear()
    yield
    dct.scipy_dct.cache_clear()


def fftpack(values: np.ndarray, axis: int) -> np.ndarray:
    return np.asarray(scipy.fftpack.dct(values, axis=axis))


def test_this_install_loads_pocketfft_directly() -> None:
    assert dct.scipy_dct().__name__ == "pocketfft_dct"


def test_the_check_digest_is_scipy_fftpacks() -> None:
    """The constant the direct load is checked against is what scipy.fftpack gives."""
    assert dct.digest(fftpack) == dct.CHECK_DIGEST


def test_same_values_as_scipy_fftpack_bit_for_bit() -> None:
    """Random blocks, one-colour, mirrored and checkerboard ones (coefficients that are
    rounding noise), along both axes."""
    rng = np.random.default_rng(15)
    noise = rng.integers(0, 256, (32, 32)).astype(np.float64)
    blocks = [
        noise,
        np.full((32, 32), 128.0),
        np.hstack([noise[:, :16], noise[:, 15::-1]]),
        np.vstack([noise[:16], noise[15::-1]]),
        (np.indices((32, 32)).sum(axis=0) % 2 * 255).astype(np.float64),
        rng.random((32, 32)) * 255,
    ]
    direct = dct.scipy_dct()
    for block in blocks:
        for axis in (0, 1):
            assert direct(block, axis).tobytes() == fftpack(block, axis).tobytes()
        assert np.array_equal(direct(direct(block, 0), 1), fftpack(fftpack(block, 0), 1))


def test_a_failed_check_falls_back_to_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scipy whose private module computes differently: its output fails the check."""
    monkeypatch.setattr(dct, "CHECK_DIGEST", "0" * 64)
    assert dct.scipy_dct().__name__ == "fftpack_dct"


def test_no_pocketfft_module_falls_back_to_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    """scipy laid out otherwise (no pypocketfft file where it was): scipy.fftpack."""
    real = importlib.util.find_spec

    def elsewhere(name: str, *args: object) -> object:
        if name != "scipy":
            return real(name, *args)
        spec = importlib.machinery.ModuleSpec("scipy", None, is_package=True)  # a new one:
        spec.submodule_search_locations = ["/nonexistent"]  # scipy's own is left alone
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", elsewhere)
    assert dct._pocketfft_dct() is None
    assert dct.scipy_dct().__name__ == "fftpack_dct"
    block = np.random.default_rng(3).random((32, 32))
    assert np.array_equal(dct.scipy_dct()(block, 0), fftpack(block, 0))
