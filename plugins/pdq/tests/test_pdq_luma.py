"""PDQ's luma in the compiled kernel, for every colour: pdqhash's value exactly.

pdqhash computes luma as ``r*0.299 + g*0.587 + b*0.114`` in float64 and stores it as float32;
``_tent.c`` divides the integer ``299r + 587g + 114b`` by 1000 in float32, which is cheaper and,
as these tests show for all 2^24 colours, the same number.
"""

from __future__ import annotations

import numpy as np

from hashcore_pdq import kernel

SIDE = 64
"""A 64 px side has a Jarosz window of one pixel and samples every pixel: the buffer of a 64x64
picture is its luma, unfiltered, so each colour's luma can be read back exactly."""


def pdqhash_luma(rgb: np.ndarray) -> np.ndarray:
    """pdqhash's ``compute``: the float64 weighted sum of the channels, as float32."""
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)


def every_colour_with_red(red: int) -> np.ndarray:
    """The 65,536 colours with this red value, as a 256x256x3 ``uint8`` array."""
    green, blue = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    return np.stack([np.full_like(green, red), green, blue], axis=-1).astype(np.uint8)


def test_the_integer_quotient_is_pdqhash_luma_for_every_colour() -> None:
    """The identity the kernel relies on, checked on its own."""
    for red in range(256):
        rgb = every_colour_with_red(red)
        weighted = rgb.astype(np.int32) @ np.array([299, 587, 114], dtype=np.int32)
        quotient = weighted.astype(np.float32) / np.float32(1000)
        assert np.array_equal(quotient, pdqhash_luma(rgb)), f"red {red}"


def test_the_kernel_reads_every_colour_as_pdqhash_does() -> None:
    """Every colour through the kernel itself, 4,096 at a time as 64x64 pictures."""
    for red in range(256):
        colours = every_colour_with_red(red).reshape(-1, SIDE, SIDE, 3)
        for picture in colours:
            buffer = kernel.buffers(picture)[0, 0]
            expected = pdqhash_luma(picture).astype(np.float64)
            assert np.array_equal(buffer, expected), f"red {red}"
