"""hashcore.bits_to_bytes: a plugin's bit vector packed first bit most significant, from a list
or, faster, from a numpy array, with the same bytes either way."""

from __future__ import annotations

import numpy as np
import pytest

from hashcore import bits_to_bytes


def test_the_first_bit_is_the_most_significant() -> None:
    assert bits_to_bytes([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) == b"\x80\x01"
    assert bits_to_bytes(np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])) == (
        b"\x80\x01"
    )


@pytest.mark.parametrize("size", [8, 64, 256, 1024])
def test_arrays_pack_as_lists_do(size: int) -> None:
    rng = np.random.default_rng(size)
    for _ in range(50):
        bits = rng.integers(0, 2, size, dtype=np.uint8)
        packed = bits_to_bytes(bits.tolist())
        assert len(packed) == size // 8
        assert bits_to_bytes(bits) == packed
        assert bits_to_bytes(bits.astype(bool)) == packed
        assert bits_to_bytes(bits.reshape(-1, 8)) == packed  # row by row, as flatten() reads


def test_any_true_value_is_a_one() -> None:
    assert bits_to_bytes(np.array([2, 0, -1, 0, 0, 0, 0, 7])) == b"\xa1"
    assert bits_to_bytes([2, 0, -1, 0, 0, 0, 0, 7]) == b"\xa1"
