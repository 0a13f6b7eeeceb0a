"""The compiled resampler gives Pillow's pixels exactly: pHash's 32x32 Lanczos picture, the
crops' working copy, and any other size, on photographs and on random pictures."""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from hashcore import Media, resample
from hashcore.crops import WORKING_SIDE, working_copy
from hashcore.resample import Filter, resized, vertical_first
from tests.fresh_python import python_output

DATA = Path(__file__).parent / "data" / "pdq"
PHOTOS = sorted(DATA.rglob("*.jpg"))[:12]


def pillow(rgb: np.ndarray, size: tuple[int, int], kind: Filter, grey: bool) -> np.ndarray:
    image = Image.fromarray(rgb, "RGB")
    if grey:
        image = image.convert("L")
    filters = {Filter.BILINEAR: Image.Resampling.BILINEAR, Filter.LANCZOS: Image.Resampling.LANCZOS}
    return np.asarray(image.resize(size, filters[kind]))


def test_this_install_resamples_with_the_compiled_code() -> None:
    """The extension is optional at build time (no compiler: Pillow resizes); the dev and CI
    installs must have built it, or the speed figures would silently be Pillow's."""
    assert resample.compiled()
    assert resample._resample.__file__.endswith(".so")


@pytest.mark.parametrize("path", PHOTOS, ids=lambda path: path.name)
def test_photographs_resize_as_pillow_does(path: Path) -> None:
    rgb = np.asarray(Image.open(path).convert("RGB"))
    height, width = rgb.shape[:2]
    scale = WORKING_SIDE / max(width, height)
    working = (max(1, round(width * scale)), max(1, round(height * scale)))
    for size, kind, grey in [
        ((32, 32), Filter.LANCZOS, True),  # pHash
        (working, Filter.BILINEAR, False),  # the crops' working copy
        ((width // 3 + 1, height // 2 + 1), Filter.LANCZOS, False),
        ((width * 2, height + 7), Filter.BILINEAR, True),  # larger: the filters' other branch
    ]:
        if vertical_first(height, width, size):
            continue
        assert np.array_equal(resized(rgb, size, kind, grey=grey), pillow(rgb, size, kind, grey))


def test_random_pictures_of_every_size_relation_resize_as_pillow_does() -> None:
    """Noise, posterised noise (runs of equal values) and flat pictures, shrunk, enlarged and
    kept along each side independently, down to one pixel: 600 resizes."""
    rng = np.random.default_rng(15)
    checked = 0
    for case in range(150):
        height, width = (int(side) for side in rng.integers(1, 300, 2))
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        if case % 3 == 1:
            rgb = (rgb // 85 * 85).astype(np.uint8)
        elif case % 3 == 2:
            rgb[:] = rng.integers(0, 256, 3, dtype=np.uint8)
        sizes = [
            (int(rng.integers(1, 2 * width + 2)), int(rng.integers(1, 2 * height + 2))),
            (width, int(rng.integers(1, 2 * height + 2))),  # one pass only
            (int(rng.integers(1, 2 * width + 2)), height),
            (width, height),  # none: a copy
        ]
        for number, size in enumerate(sizes):
            kind = Filter.LANCZOS if (case + number) % 2 else Filter.BILINEAR
            grey = bool((case // 2 + number) % 2)
            ours = resized(rgb, size, kind, grey=grey)
            assert np.array_equal(ours, pillow(rgb, size, kind, grey)), (rgb.shape, size, kind)
            checked += 1
    assert checked == 600


def test_long_lanczos_windows_resize_as_pillow_does() -> None:
    """Widths shrunk 5 to 60 times, pHash's case: windows of 32 to 360 taps, summed 16 at a time
    with split coefficients where the CPU has AVX2; every window length modulo 16, windows at
    the right edge of the last row, and stripes that drive the sums to their extremes."""
    rng = np.random.default_rng(23)
    for case in range(120):
        width = int(rng.integers(160, 1300))
        height = int(rng.integers(1, 40))
        out_width = max(1, width // int(rng.integers(5, 61)))
        if case % 3 == 0:
            rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        elif case % 3 == 1:  # black and white stripes: the negative lobes at full swing
            period = int(rng.integers(1, 9))
            stripes = (np.arange(width) // period % 2 * 255).astype(np.uint8)
            rgb = np.repeat(np.repeat(stripes[None, :, None], height, 0), 3, 2)
        else:
            rgb = np.full((height, width, 3), 255, dtype=np.uint8)
        for size in ((out_width, height), (out_width, max(1, height // 2))):
            expected = pillow(rgb, size, Filter.LANCZOS, True)
            assert np.array_equal(resized(rgb, size, Filter.LANCZOS, grey=True), expected), (
                rgb.shape,
                size,
            )


def test_a_height_shrinking_much_more_than_the_width_goes_to_pillow() -> None:
    """Pillow >= 11 runs the vertical pass first there; the answer is still Pillow's."""
    rgb = np.asarray(Image.open(PHOTOS[0]).convert("RGB"))[:, :40]
    size = (38, 10)
    assert vertical_first(rgb.shape[0], rgb.shape[1], size)
    expected = pillow(rgb, size, Filter.LANCZOS, False)
    assert np.array_equal(resized(rgb, size, Filter.LANCZOS), expected)


def test_the_working_copy_is_pillows() -> None:
    """A 1 MP photo (computed here) and a picture large enough for Pillow's reducing gap (left
    to Pillow): the pixels of Pillow's resize either way."""
    photo = Image.open(PHOTOS[0]).convert("RGB").resize((1155, 866))
    large = photo.resize((2400, 1800))
    for image, size in ((photo, (512, 384)), (large, (512, 384))):
        expected = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        assert np.array_equal(working_copy(image, np.asarray(image)), np.asarray(expected))


def test_phash_of_a_photo_is_imagehashs() -> None:
    from hashcore_phash.plugin import PhashSignal

    for path in PHOTOS[:4]:
        signal = PhashSignal().hash(Media(path))
        assert signal.value.hex() == str(imagehash.phash(Image.open(path).convert("RGB")))


@pytest.mark.parametrize(
    ("pixels", "size", "message"),
    [
        (np.zeros((4, 4), np.uint8), (2, 2), "H x W x 3 uint8"),
        (np.zeros((4, 4, 3), np.float32), (2, 2), "H x W x 3 uint8"),
        (np.zeros((4, 4, 3), np.uint8), (0, 2), "size must be positive"),
    ],
)
def test_bad_arguments_are_clear_errors(
    pixels: np.ndarray, size: tuple[int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resized(pixels, size, Filter.LANCZOS)


def test_the_c_function_checks_its_buffer_sizes() -> None:
    pixels = np.zeros((4, 4, 3), np.uint8)
    out = np.empty((2, 2), np.uint8)
    with pytest.raises(ValueError, match="sizes of pixels and out disagree"):
        resample._resample.resample(pixels, 4, 5, 3, False, 2, 2, 1, out)
    with pytest.raises(ValueError, match="sizes of pixels and out disagree"):
        resample._resample.resample(pixels, 4, 4, 3, False, 2, 2, 1, out)  # out is for grey


def test_an_install_without_the_compiled_resampler_resizes_with_pillow() -> None:
    """No C compiler at install: the module still loads, Pillow resizes, pHash is still
    imagehash's."""
    picture = PHOTOS[1]
    code = (
        "import sys; sys.modules['hashcore._resample'] = None; "  # import of it fails
        "import numpy as np, imagehash; from PIL import Image; "
        "from hashcore import Media, resample; from hashcore_phash.plugin import PhashSignal; "
        "assert not resample.compiled(); "
        f"media = Media({str(picture)!r}); "
        "out = resample.resized(media.rgb_array, (32, 32), resample.Filter.LANCZOS, grey=True); "
        "assert np.array_equal(out, np.asarray(media.rgb_image.convert('L').resize((32, 32), "
        "Image.Resampling.LANCZOS))); "
        "assert PhashSignal().hash(media).value.hex() == str(imagehash.phash(media.rgb_image)); "
        "print('ok')"
    )
    assert python_output(code) == "ok\n"


@pytest.mark.parametrize("path", PHOTOS[:6], ids=lambda path: path.name)
def test_the_pixel_array_is_numpys_of_the_image(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packed from Pillow's memory, the array equals ``numpy.asarray(image)``, read-only like
    it, and Pillow's ``tobytes`` copy is not made."""
    image = Image.open(path).convert("RGB")
    expected = np.asarray(image)
    monkeypatch.setattr(Image.Image, "tobytes", lambda *args, **kwargs: pytest.fail("copied"))
    pixels = resample.rgb_pixels(image)
    assert pixels.shape == expected.shape and pixels.dtype == np.uint8
    assert np.array_equal(pixels, expected)
    assert not pixels.flags.writeable


def test_random_pictures_of_every_shape_pack_as_numpy_does() -> None:
    rng = np.random.default_rng(15)
    for width, height in [(1, 1), (1, 9), (9, 1), (7, 5), (64, 63), (333, 211)]:
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(rgb, "RGB")
        assert np.array_equal(resample.rgb_pixels(image), rgb)


def test_pictures_the_export_cannot_give_are_copied_by_numpy() -> None:
    """Over Pillow's 16 MB block its rows are not in one piece (no Arrow export), and other
    modes are not 4 bytes a pixel: both come from ``numpy.asarray``, equal as ever."""
    large = Image.new("RGB", (3000, 2000), (10, 20, 30))
    large.putpixel((2999, 1999), (1, 2, 3))
    with pytest.raises(ValueError):
        large.__arrow_c_array__()
    pixels = resample.rgb_pixels(large)
    assert pixels.shape == (2000, 3000, 3) and tuple(pixels[1999, 2999]) == (1, 2, 3)
    grey = Image.new("L", (5, 4), 7)
    assert np.array_equal(resample.rgb_pixels(grey), np.full((4, 5), 7, np.uint8))


def test_the_c_packer_checks_what_it_is_given() -> None:
    image = Image.new("RGB", (4, 3), (1, 2, 3))
    with pytest.raises(ValueError, match="not 4 bytes a pixel"):  # out is a pixel short
        resample._resample.rgb_from_arrow(*image.__arrow_c_array__(), np.empty(33, np.uint8))
    grey = Image.new("L", (4, 3))
    with pytest.raises(ValueError, match="not 4 bytes a pixel"):  # one byte a pixel
        resample._resample.rgb_from_arrow(*grey.__arrow_c_array__(), np.empty(36, np.uint8))
    schema, array = image.__arrow_c_array__()
    with pytest.raises(ValueError):  # capsules the wrong way round
        resample._resample.rgb_from_arrow(array, schema, np.empty(36, np.uint8))
