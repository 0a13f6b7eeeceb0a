"""pHash against an independent oracle written here from the published algorithm, not imagehash.

The plugin promises imagehash's pHash (``str(imagehash.phash(img))``), so the oracle follows
imagehash 4.3's definition exactly, which is the hackerfactor.com "Looks Like It" pHash with one
difference noted below:

1. convert to greyscale (PIL mode ``L``: ITU-R 601-2 luma);
2. resize to 32x32 (``hash_size`` 8 x ``highfreq_factor`` 4) with the Lanczos filter
   (imagehash's ``ANTIALIAS`` is ``Image.Resampling.LANCZOS``);
3. 2-D DCT-II, unnormalised (``scipy.fftpack.dct`` type 2, ``norm=None``), along axis 0 (the
   columns) then axis 1 (the rows);
4. keep the top-left 8x8 block ``dct[:8, :8]``, the DC term included, as imagehash does;
5. the median of those 64 values, the DC term INCLUDED (the textbook description excludes it
   from the average; imagehash takes ``numpy.median`` of the whole block). The two give the
   same bits: with pixels >= 0 the DC term ``4 * sum(pixels)`` is at least the magnitude of
   every other coefficient, so it is the block's largest either way and the 32 values above
   the median are the same;
6. a bit per coefficient, 1 where it is greater than the median, row by row, and the 64 bits
   packed most significant bit first (imagehash's hex string).

The DCT is computed here as a matrix product, not with scipy or numpy's FFT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashcore import Media
from hashcore_phash.plugin import PhashSignal
from tests.media_data import TESTS_DATA

HASH_SIZE = 8
IMAGE_SIZE = HASH_SIZE * 4
SAMPLE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def dct_ii_matrix(n: int) -> np.ndarray:
    """``C[k, m] = 2 cos(pi k (2m + 1) / 2n)``: ``C @ x`` is scipy's unnormalised DCT-II of x."""
    k = np.arange(n)[:, None]
    m = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * m + 1) / (2 * n))


def oracle_phash(image: Image.Image) -> tuple[bytes, float]:
    """imagehash's pHash of ``image``, and how far the nearest coefficient is from the median
    (relative to the block's largest magnitude): a tiny margin would make a bit a coin toss."""
    grey = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    basis = dct_ii_matrix(IMAGE_SIZE)
    dct = basis @ pixels @ basis.T  # axis 0 (down the columns), then axis 1 (along the rows)
    block = dct[:HASH_SIZE, :HASH_SIZE]
    median = float(np.median(block))
    bits = (block > median).flatten()  # row-major, like ImageHash.hash.flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    margin = float(np.min(np.abs(block - median)) / max(float(np.max(np.abs(block))), 1.0))
    return value.to_bytes(HASH_SIZE * HASH_SIZE // 8, "big"), margin


def decoded(path: Path) -> Image.Image:
    """The file's pixels as hashcore decodes them for every image family: ``convert("RGB")``."""
    with Image.open(path) as image:
        return image.convert("RGB")


def sample_images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in SAMPLE_SUFFIXES)


def mismatches(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        expected, margin = oracle_phash(decoded(path))
        assert margin > 1e-9, f"{path.name}: a coefficient sits on the median, no bit is sure"
        got = PhashSignal().hash(Media(path)).value
        if got != expected:
            found.append(f"{path.name}: plugin {got.hex()}, oracle {expected.hex()}")
    return found


def test_oracle_and_plugin_give_a_hash_known_by_construction(tmp_path: Path) -> None:
    """A 32x32 image made of chosen DCT basis functions, so every bit is known by hand.

    At 32x32 nothing is resampled, and the DCT of ``128 + sum a[k, l] cos(k, rows) cos(l,
    columns)`` is ``a[k, l]`` times a positive constant (orthogonality; rounding to bytes moves
    a coefficient by about 20, the amplitudes are 500 or more). The DC term is the largest, 31
    other coefficients are positive and 32 negative, so the median lies between the two groups
    and the hash is 1 at the DC term and at the positive ones: bit ``8 k + l`` counted from the
    most significant, ``k`` the vertical frequency. The pattern is not symmetric, so a
    transposed or reversed layout gives another value.
    """
    rng = np.random.default_rng(19)
    positive = np.zeros(HASH_SIZE * HASH_SIZE, dtype=bool)
    positive[0] = True  # the DC term
    positive[1 + rng.choice(HASH_SIZE * HASH_SIZE - 1, 31, replace=False)] = True
    amplitude = np.where(positive, 1, -1) * rng.uniform(0.5, 1.9, positive.size)
    amplitude[0] = 0.0  # the DC term comes from the mean grey level, 128
    basis = dct_ii_matrix(IMAGE_SIZE)[:HASH_SIZE] / 2  # cos(pi k (2m + 1) / 64), k < 8
    pixels = 128 + basis.T @ amplitude.reshape(HASH_SIZE, HASH_SIZE) @ basis
    assert pixels.min() >= 0 and pixels.max() <= 255
    path = tmp_path / "basis.png"
    Image.fromarray(np.rint(pixels).astype(np.uint8), "L").save(path)
    bits = "".join("1" if bit else "0" for bit in positive)
    known = int(bits, 2).to_bytes(8, "big")
    assert bits != "".join("1" if b else "0" for b in positive.reshape(8, 8).T.flatten())
    assert oracle_phash(decoded(path))[0] == known
    assert PhashSignal().hash(Media(path)).value == known


def test_plugin_equals_the_oracle_on_the_bundled_samples() -> None:
    paths = sample_images(TESTS_DATA / "pdq")
    assert len(paths) >= 10
    assert mismatches(paths) == []


def test_plugin_equals_the_oracle_on_the_shared_pdq_samples(shared_data: Path) -> None:
    """Every image of the shared PDQ set: JPEG and RGBA PNG, 34x42 to 4032x3024."""
    paths = sample_images(shared_data / "pdq")
    assert len(paths) >= 20, f"only {len(paths)} images under {shared_data / 'pdq'}"
    assert mismatches(paths) == []


@pytest.mark.parametrize(
    ("mode", "size"),
    [("RGB", (8, 8)), ("L", (33, 1000)), ("RGBA", (640, 480)), ("P", (101, 67))],
)
def test_plugin_equals_the_oracle_on_generated_images(
    tmp_path: Path, mode: str, size: tuple[int, int]
) -> None:
    """Noise over gradients in other modes and shapes, saved losslessly."""
    width, height = size
    rng = np.random.default_rng(width * height)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    pixels = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode == "RGBA":
        alpha = (rng.random((height, width)) * 255).astype(np.uint8)
        image = Image.fromarray(np.dstack([pixels, alpha]), "RGBA")
    elif mode != "RGB":
        image = image.convert(mode)
    path = tmp_path / f"generated-{mode}.png"
    image.save(path)
    assert mismatches([path]) == []
