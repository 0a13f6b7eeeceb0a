"""The matrix-product pHash is imagehash's, bit for bit, and leaves scipy unimported.

The plugin computes only the 8x8 block imagehash thresholds, as a matrix product, and falls
back to scipy's DCT (imagehash's own computation) when a coefficient of any variant lies so
near the median that rounding could decide its bit. Each picture is checked against
``imagehash.phash`` for the plain hash and against scipy's block for the eight variants.
"""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from hashcore import Media
from tests.fresh_python import python_output
from tests.media_data import TESTS_DATA
from tests.phash_exactness import exactness

PHOTO = TESTS_DATA / "pdq" / "dih" / "bridge-1-original.jpg"


def pictures_under(*folders: Path) -> list[Path]:
    suffixes = {".jpg", ".jpeg", ".png"}
    return sorted(p for f in folders for p in f.rglob("*") if p.suffix.lower() in suffixes)


def test_the_sample_pictures_hash_as_imagehash_does(shared_data: Path) -> None:
    paths = pictures_under(TESTS_DATA / "pdq", shared_data / "pdq")
    assert len(paths) >= 30
    found = [exactness(Media(path).rgb_image) for path in paths]
    assert all(one.plain and one.variants for one in found)
    assert sum(one.needs_scipy for one in found) < len(paths) // 10  # photographs: no scipy


def test_a_photograph_takes_the_matrix_product() -> None:
    assert exactness(Media(PHOTO).rgb_image) == (True, True, False)


def gradient(width: int, height: int, horizontal: bool) -> Image.Image:
    ramp = np.linspace(0, 255, width if horizontal else height)
    pixels = np.tile(ramp, (height, 1)) if horizontal else np.tile(ramp[:, None], (1, width))
    return Image.fromarray(np.rint(pixels).astype(np.uint8)).convert("RGB")


def mirrored(pixels: np.ndarray, axes: str) -> Image.Image:
    """Random noise made symmetric: left-right (``x``), top-bottom (``y``) or about the
    diagonal (``t``); a symmetry makes whole rows or columns of coefficients exactly 0."""
    if "x" in axes:
        pixels = np.concatenate([pixels, pixels[:, ::-1]], axis=1)
    if "y" in axes:
        pixels = np.concatenate([pixels, pixels[::-1, :]], axis=0)
    if "t" in axes:
        pixels = np.triu(pixels) + np.triu(pixels, 1).T
    return Image.fromarray(pixels.astype(np.uint8)).convert("RGB")


NOISE = np.random.default_rng(15).integers(0, 256, (48, 48))

HARD = {
    "black": Image.new("RGB", (640, 480), (0, 0, 0)),
    "white": Image.new("RGB", (640, 480), (255, 255, 255)),
    "grey": Image.new("RGB", (33, 77), (128, 128, 128)),
    "one-colour": Image.new("RGB", (300, 200), (12, 200, 99)),
    "one-pixel": Image.new("RGB", (1, 1), (200, 10, 10)),
    "two-by-two": Image.fromarray(np.array([[[0] * 3, [255] * 3]] * 2, dtype=np.uint8)),
    "three-by-five": Image.fromarray(np.full((5, 3, 3), 77, dtype=np.uint8)),
    "horizontal-gradient": gradient(640, 480, True),
    "vertical-gradient": gradient(64, 900, False),
    "mirror-x": mirrored(NOISE, "x"),
    "mirror-y": mirrored(NOISE, "y"),
    "mirror-xy": mirrored(NOISE, "xy"),
    "checkerboard": Image.fromarray(
        (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    ).convert("RGB"),
}


@pytest.mark.parametrize("name", list(HARD))
def test_ties_fall_back_to_scipy_and_still_hash_as_imagehash_does(name: str) -> None:
    """One colour, gradients, symmetric pictures and tiny ones leave coefficients on the
    median, where only imagehash's own rounding gives its bits."""
    assert exactness(HARD[name]) == (True, True, True)


@pytest.mark.parametrize("axes", ["", "t"])
def test_noise_without_a_tie_takes_the_matrix_product(axes: str) -> None:
    """The noise the mirrored pictures are made of, as it is or symmetric about the diagonal
    (pairs of equal coefficients, but the median falls between two distinct values here)."""
    assert exactness(mirrored(NOISE, axes)) == (True, True, False)


HASH_ONE_PHOTO = """
import sys
from hashcore import Media
from hashcore_phash.plugin import PhashSignal
media = Media(sys.argv[1])
print(PhashSignal().hash(media).value.hex(), len(PhashSignal().hash_variants(media)))
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("scipy", "imagehash"))))
"""


WARM_UP = """
import sys
from hashcore_phash import dct
from hashcore_phash.plugin import PhashSignal
print(dct.scipy_dct.cache_info().currsize)
PhashSignal().warm_up()
print(dct.scipy_dct.cache_info().currsize, any(m.split(".")[0] == "scipy" for m in sys.modules))
"""

HASH_BLACK = """
import sys
from PIL import Image
from hashcore import Media
from hashcore_phash.plugin import PhashSignal
from hashcore_phash.plugin import decided, grey_pixels, product_low_frequencies
Image.new("RGB", (64, 48)).save(sys.argv[1])
media = Media(sys.argv[1])
assert not decided(product_low_frequencies(grey_pixels(media.rgb_array)))  # a tie: scipy's DCT
print(PhashSignal().hash(media).value.hex())
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("scipy", "imagehash"))))
"""


def python_lines(script: str, *args: str) -> list[str]:
    """What ``script`` prints, run in a fresh interpreter (this one has imported scipy)."""
    return python_output(script, *args).splitlines()


def test_hashing_a_photograph_imports_neither_scipy_nor_imagehash() -> None:
    hashed, imported = python_lines(HASH_ONE_PHOTO, str(PHOTO))
    assert hashed == "aca29c1c33dc23d7 8"  # the golden value: the photograph was hashed
    assert imported == ""


def test_warm_up_loads_the_featureless_fallback() -> None:
    """A server warms up, so its first featureless picture does not wait for scipy's DCT;
    commands do not (``hash_files`` warms nothing), and load it only when such a picture
    comes. Either way without importing scipy's packages (~0.3 s)."""
    assert python_lines(WARM_UP) == ["0", "1 False"]


def test_a_featureless_picture_hashes_as_imagehash_without_importing_scipy(
    tmp_path: Path,
) -> None:
    hashed, imported = python_lines(HASH_BLACK, str(tmp_path / "black.png"))
    assert hashed == str(imagehash.phash(Image.new("RGB", (64, 48))))
    assert imported == ""
