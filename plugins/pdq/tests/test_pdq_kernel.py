"""The compiled PDQ path against ``pdqhash`` itself: hashes and qualities bit for bit, one
compiled layout, and ``HASHCORE_IMAGE_PATH=reference``, which hashes with the reference code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from hashcore import InvalidInput, Media
from hashcore_pdq import _tent, kernel, turned  # type: ignore[attr-defined]
from hashcore_pdq.plugin import DIHEDRAL_VARIANTS, PdqSignal, compiled_kernel
from tests.fresh_python import python_output

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "pdq"
PICTURES = sorted(p for p in DATA.rglob("*") if p.suffix in (".jpg", ".png"))


def _noisy(size: tuple[int, int], contrast: int, seed: int) -> np.ndarray:
    """A smooth picture with noise: coarse colour patches scaled up, plus ``contrast`` noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    picture = np.asarray(Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC))
    noise = rng.integers(-contrast, contrast + 1, picture.shape)
    return np.clip(picture.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _smooth(size: tuple[int, int], amplitude: float, seed: int) -> np.ndarray:
    """A gentle wave plus faint noise: PDQ qualities between 0 and 100, not only 100."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    f = rng.uniform(1, 4, 4)
    wave = np.sin(x / width * f[0] * np.pi + f[1]) * np.cos(y / height * f[2] * np.pi + f[3])
    values = 128 + amplitude * wave[..., None] + rng.normal(0, 1.5, (height, width, 3))
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _box(values: np.ndarray, axis: int) -> np.ndarray:
    """``box1DFloat`` along ``axis``: the mean over a window of ``ceil(length / 128)`` with
    ``(window + 2) // 2 - 1`` of it after each position, clipped at both ends."""
    length = values.shape[axis]
    window = -(-length // 128)
    after = (window + 2) // 2 - 1
    before = window - 1 - after
    sums = np.concatenate([np.zeros_like(np.take(values, [0], axis)), values.cumsum(axis)], axis)
    first = np.maximum(np.arange(length) - before, 0)
    last = np.minimum(np.arange(length) + after, length - 1)
    shape = [1, 1]
    shape[axis] = length
    counts = (last - first + 1).reshape(shape)
    return (np.take(sums, last + 1, axis) - np.take(sums, first, axis)) / counts


def _reference_buffer(pixels: np.ndarray) -> np.ndarray:
    """``pdqhashing.cpp``'s image-domain steps written out in numpy, pass by pass: luma, two box
    passes along each axis, then ``decimateFloat``'s 64x64 samples."""
    rgb = pixels.astype(np.float64)
    luma = (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)
    filtered = luma.astype(np.float64)
    for axis in (1, 1, 0, 0):
        filtered = _box(filtered, axis)
    height, width = filtered.shape
    rows = [int((i + 0.5) * height / 64) for i in range(64)]
    cols = [int((i + 0.5) * width / 64) for i in range(64)]
    return filtered[np.ix_(rows, cols)]


@pytest.mark.parametrize("size", [(64, 64), (97, 65), (129, 128), (257, 300), (1155, 866)])
def test_buffers_equal_the_reference_passes_in_every_alignment(size: tuple[int, int]) -> None:
    """The kernel folds two box passes and the sample into one tent of weights per sample;
    each of its four buffers equals the passes run one after another on the picture mirrored
    that way (rows, columns), to float64 rounding."""
    pixels = _noisy(size, 30, seed=size[0])
    buffers = kernel.buffers(pixels, mirrored=True)
    for rows_mirrored in (0, 1):
        for columns_mirrored in (0, 1):
            turned_pixels = pixels[:: -1 if rows_mirrored else 1, :: -1 if columns_mirrored else 1]
            expected = _reference_buffer(turned_pixels)
            assert np.allclose(buffers[rows_mirrored, columns_mirrored], expected, rtol=1e-12)
    assert np.array_equal(kernel.buffers(pixels)[0, 0], buffers[0, 0])


@pytest.mark.parametrize("amplitude", [30, 40, 60, 80])
@pytest.mark.parametrize("size", [(300, 200), (777, 513)])
def test_mid_range_qualities_equal_pdqhash(size: tuple[int, int], amplitude: int) -> None:
    """Qualities of 1-83, where each truncated step counts (quality 100 hides them)."""
    pixels = _smooth(size, amplitude, seed=amplitude)
    expected, expected_quality = pdqhash.compute(pixels)
    assert 0 < expected_quality < 100
    buffer = kernel.buffers(pixels)[0, 0]
    assert kernel.quality(buffer) == expected_quality
    assert np.array_equal(turned.bits(buffer), expected.astype(np.uint8))


@pytest.mark.parametrize("path", PICTURES, ids=lambda p: p.name)
def test_hash_and_quality_equal_pdqhash_on_the_reference_pictures(path: Path) -> None:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    expected, expected_quality = pdqhash.compute(pixels)
    buffer = kernel.buffers(pixels)[0, 0]
    assert np.array_equal(turned.bits(buffer), expected.astype(np.uint8))
    assert kernel.quality(buffer) == expected_quality


@pytest.mark.parametrize("contrast", [0, 1, 2, 4, 8, 40])
@pytest.mark.parametrize("size", [(64, 64), (77, 300), (513, 129), (1200, 901)])
def test_quality_equals_pdqhash_from_flat_to_busy(size: tuple[int, int], contrast: int) -> None:
    """Qualities from 0 (one colour) through the 50 cut-off to 100."""
    pixels = _noisy(size, contrast, seed=size[0] + contrast)
    expected, expected_quality = pdqhash.compute(pixels)
    buffer = kernel.buffers(pixels)[0, 0]
    assert kernel.quality(buffer) == expected_quality
    if expected_quality > 0:  # a flat picture's bits are all ties, whatever the rounding
        assert np.array_equal(turned.bits(buffer), expected.astype(np.uint8))


def _buffers_of_every_kind(count: int) -> list[np.ndarray]:
    """Random 64x64 buffers: uniform, rounded to cents, faint noise around grey, smooth walks,
    and black-and-white (every step at 100, the largest sum)."""
    rng = np.random.default_rng(11)
    made = [np.zeros((64, 64)), np.full((64, 64), 255.0)]
    for number in range(count):
        kind = number % 5
        if kind == 0:
            made.append(rng.random((64, 64)) * 255)
        elif kind == 1:
            made.append(np.round(rng.random((64, 64)) * 255, 2))
        elif kind == 2:
            made.append(128 + rng.normal(0, 0.5 + number % 7, (64, 64)))
        elif kind == 3:
            made.append(np.cumsum(rng.normal(0, 1, (64, 64)), axis=number % 2) + 100)
        else:
            made.append(np.where(rng.random((64, 64)) < 0.5, 0.0, 255.0))
    return made


def test_the_compiled_quality_equals_the_numpy_definition() -> None:
    """``_tent.c``'s quality runs the numpy version's float32 steps, vectorised."""
    buffers = _buffers_of_every_kind(5000)
    assert [kernel.quality(b) for b in buffers] == [kernel.numpy_quality(b) for b in buffers]
    assert {kernel.quality(b) for b in buffers} >= {0, 100}
    assert kernel.quality(np.asfortranarray(buffers[3])) == kernel.numpy_quality(buffers[3])
    with pytest.raises(ValueError, match="64x64"):
        _tent.quality(np.zeros((64, 63)))


@pytest.mark.parametrize("size", [(8, 8), (16, 16), (8, 300), (63, 90)])
def test_small_pictures_hash_exactly_as_pdqhash(size: tuple[int, int], tmp_path: Path) -> None:
    """Under 64 px a side PDQ's samples repeat pixels and its coefficients tie at the median,
    where float rounding picks the bits (the kernel differs from pdqhash on most random 8 and
    16 px pictures): the plugin hands them to pdqhash."""
    pixels = _noisy(size, 60, seed=size[0] * size[1])
    Image.fromarray(pixels).save(tmp_path / "small.png")
    media = Media(tmp_path / "small.png")
    expected, quality = pdqhash.compute(pixels)
    signal = PdqSignal().hash(media)
    assert signal.value == np.packbits(expected.astype(np.uint8)).tobytes()
    assert signal.quality == quality
    variants = {s.variant: s.value for s in PdqSignal().hash_variants(media)}
    rotated, _ = pdqhash.compute(np.ascontiguousarray(np.rot90(pixels)))
    assert variants["rot90"] == np.packbits(rotated.astype(np.uint8)).tobytes()


def test_this_install_hashes_with_the_compiled_kernel() -> None:
    """The C kernel is optional at build time (no compiler: pdqhash hashes): the dev and CI
    installs must have built it, or every speed figure would silently be pdqhash's."""
    assert compiled_kernel()
    assert kernel._tent.__file__.endswith(".so")


def test_every_array_layout_the_plugin_sees_gives_the_same_buffers() -> None:
    """Writeable, strided, transposed and Pillow-backed arrays: the kernel reads a contiguous
    copy where needed, so each gives the buffers of its contiguous copy."""
    pixels = _noisy((120, 90), 10, seed=3)
    for array in (
        pixels,
        pixels[::-1],
        pixels.transpose(1, 0, 2),
        np.asarray(Image.fromarray(pixels)),
    ):
        copy = np.ascontiguousarray(array)
        assert np.array_equal(kernel.buffers(array), kernel.buffers(copy))
        assert np.array_equal(kernel.buffers(array, mirrored=True), kernel.buffers(copy, True))


def test_the_c_entry_point_refuses_sizes_that_disagree() -> None:
    """``_tent.fill`` checks every size against the buffers it is given (a wrong one would
    read or write past them), whoever calls it."""
    pixels = np.zeros((10, 20, 3), np.uint8)
    out = np.empty((1, 1, 64, 64))
    kernel._tent.fill(pixels, 10, 20, 1, out)
    for args in (
        (pixels, 10, 21, 1, out),
        (pixels, 11, 20, 1, out),
        (pixels, 10, 20, 2, out),
        (pixels, 10, 20, 3, np.empty((3, 3, 64, 64))),
        (pixels, 0, 0, 1, out),
        (pixels, 10, 20, 1, np.empty((1, 1, 64, 63))),
        (pixels[:, ::2], 10, 10, 1, out),
    ):
        with pytest.raises((ValueError, BufferError)):
            kernel._tent.fill(*args)
    with pytest.raises(TypeError):
        kernel._tent.fill(pixels, 10, 20, 1, out.tobytes())  # read-only: nowhere to write


def test_wrong_pixel_layouts_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        kernel.buffers(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        kernel.buffers(np.zeros((10, 10, 3), np.float32))


def test_the_reference_implementation_gives_the_same_signals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media = Media(DATA / "dih" / "bridge-1-original.jpg")
    compiled = PdqSignal().hash_variants(media)
    plain = PdqSignal().hash(media)
    monkeypatch.setenv("HASHCORE_IMAGE_PATH", "reference")
    reference = PdqSignal().hash_variants(media)
    assert [s.variant for s in reference] == list(DIHEDRAL_VARIANTS)
    assert reference == compiled
    assert PdqSignal().hash(media) == plain
    expected, quality = pdqhash.compute(np.asarray(media.rgb_image))
    assert plain.value == np.packbits(expected.astype(np.uint8)).tobytes()
    assert plain.quality == quality


def test_an_unknown_implementation_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHCORE_IMAGE_PATH", "exact")
    with pytest.raises(
        InvalidInput, match="HASHCORE_IMAGE_PATH='exact': choose one of fast, reference"
    ):
        PdqSignal().hash(Media(DATA / "misc" / "wee.jpg"))


def test_an_install_without_the_compiled_kernel_hashes_with_pdqhash() -> None:
    """No C compiler at install: the extension is missing, the plugin still loads, hashes
    exactly as ``pdqhash`` (plain and the eight variants) and says so in its description."""
    picture = DATA / "dih" / "bridge-1-original.jpg"
    code = (
        "import sys; sys.modules['hashcore_pdq._tent'] = None; "  # import of it fails
        "import numpy as np, pdqhash; from hashcore import Media; "
        "from hashcore_pdq import plugin; "
        "assert not plugin.compiled_kernel(); "
        "assert 'no compiled kernel' in plugin.PdqSignal.description; "
        f"media = Media({str(picture)!r}); signal = plugin.PdqSignal().hash(media); "
        "bits, quality = pdqhash.compute(np.asarray(media.rgb_image)); "
        "assert signal.value == np.packbits(bits.astype(np.uint8)).tobytes(); "
        "assert signal.quality == quality; "
        "assert len(plugin.PdqSignal().hash_variants(media)) == 8; print('ok')"
    )
    assert python_output(code) == "ok\n"
