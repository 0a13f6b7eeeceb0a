"""Border detection (hashcore.borders): known borders in, exact content boxes out."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from hashcore import borders
from hashcore.borders import STRICT_MEAN_DEVIATION, Box, content_box, content_boxes
from hashcore.media import Media
from tests.fresh_python import python_output

DATA = Path(__file__).parent / "data" / "pdq"
PHOTO = DATA / "dih" / "bridge-1-original.jpg"

JPEG_SLACK = 8
"""A JPEG border may end up to one 8 px block early (ringing next to the content)."""


def texture(width: int, height: int, seed: int = 1, low: int = 0, high: int = 256) -> Image.Image:
    """Random RGB noise: no line of it is uniform."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(low, high, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def framed(
    content: Image.Image, left: int, top: int, right: int, bottom: int, colour: object
) -> tuple[Image.Image, Box]:
    """``content`` with borders of the given widths, and where the content is."""
    image = ImageOps.expand(content, border=(left, top, right, bottom), fill=colour)
    return image, Box(left, top, left + content.width, top + content.height)


def jpeg(image: Image.Image, quality: int = 75) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def photo() -> Image.Image:
    return Image.open(PHOTO).convert("RGB")


@pytest.mark.parametrize("colour", ["black", "white", (200, 30, 40), (90, 140, 90)])
@pytest.mark.parametrize(
    "sides",
    [
        (0, 40, 0, 40),  # letterbox
        (30, 0, 30, 0),  # pillarbox
        (20, 20, 20, 20),  # frame
        (0, 25, 0, 0),  # one side
        (7, 30, 50, 11),  # every side its own width
    ],
)
def test_exact_box_of_a_known_border(colour: object, sides: tuple[int, int, int, int]) -> None:
    image, box = framed(texture(300, 200), *sides, colour)
    assert content_box(image) == box


def test_exact_box_around_a_real_photo() -> None:
    image, box = framed(photo(), 160, 100, 160, 100, "black")
    assert content_box(image) == box


@pytest.mark.parametrize("colour", ["black", "white", (200, 30, 40)])
@pytest.mark.parametrize("quality", [75, 40])
def test_jpeg_border_within_one_block(colour: object, quality: int) -> None:
    original = photo().resize((800, 502))
    image, box = framed(original, 0, 60, 0, 60, colour)
    found = content_box(jpeg(image, quality))
    assert found is not None
    assert all(abs(a - b) <= JPEG_SLACK for a, b in zip(found, box, strict=True)), (found, box)
    # Never inside the content: a JPEG border can only end early.
    assert found.top <= box.top and found.bottom >= box.bottom


def test_soft_edge_of_a_resized_bordered_picture() -> None:
    image, box = framed(photo(), 100, 0, 100, 0, "white")
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    found = content_box(half)
    assert found is not None
    want = Box(*(edge // 2 for edge in box))
    assert all(abs(a - b) <= 2 for a, b in zip(found, want, strict=True)), (found, want)


@pytest.mark.parametrize("colour", ["black", "white", (12, 200, 99)])
def test_picture_all_one_colour_is_not_trimmed(colour: object) -> None:
    assert content_box(Image.new("RGB", (320, 240), colour)) is None
    assert content_box(jpeg(Image.new("RGB", (320, 240), colour))) is None


def test_dark_photo_edges_are_not_trimmed() -> None:
    dark = ImageEnhance.Brightness(photo()).enhance(0.35)
    assert content_box(dark) is None
    assert content_box(jpeg(dark)) is None


def test_dark_texture_is_not_taken_for_a_black_border() -> None:
    dark = texture(300, 200, low=0, high=40)
    assert content_box(dark) is None
    image, box = framed(dark, 0, 30, 0, 30, "black")
    assert content_box(image) == box  # the bars go, the dark content stays whole


def test_thin_border_is_not_worth_trimming() -> None:
    image, _ = framed(texture(400, 300), 1, 1, 1, 1, "black")  # < 2% of each side
    assert content_box(image) is None


def test_border_leaving_too_little_content_is_not_trimmed() -> None:
    image, _ = framed(texture(60, 60), 70, 70, 70, 70, "white")  # content 1/9 of the area
    assert content_box(image) is None


def test_no_border_is_none() -> None:
    assert content_box(photo()) is None
    assert content_box(texture(64, 64)) is None


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "LA", "I;16", "CMYK"])
def test_any_mode(mode: str) -> None:
    image, box = framed(texture(200, 160), 0, 30, 0, 30, "black")
    assert content_box(image.convert(mode)) == box


def test_media_trims_once_for_every_family(tmp_path: Path) -> None:
    image, box = framed(photo(), 0, 100, 0, 100, "black")
    path = tmp_path / "bordered.png"
    image.save(path)
    media = Media(path)
    assert media.content_box == box
    trimmed = media.trimmed
    assert trimmed is not None and trimmed is media.trimmed
    assert trimmed.variant == "trimmed"
    assert trimmed.rgb_image.size == (box.width, box.height)
    assert trimmed.trimmed is None  # a trimmed picture is not trimmed again
    assert Media(PHOTO).trimmed is None


def night_sky(seed: int = 5) -> Image.Image:
    """A dark, faintly noisy sky with a few stars and a glow in the middle: its own margins
    are nearly flat, which the tolerant reading takes for border."""
    rng = np.random.default_rng(seed)
    sky = rng.normal(8, 1.2, (240, 320))
    for y, x in rng.integers(0, (240, 320), (40, 2)):
        sky[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2] = 160
    rows, columns = np.mgrid[:240, :320]
    sky += 90 * np.exp(-(((rows - 120) / 30) ** 2 + ((columns - 160) / 45) ** 2))
    grey = np.clip(sky, 0, 255).astype(np.uint8)
    return jpeg(Image.fromarray(np.dstack([grey] * 3), "RGB"), 90)


def test_strict_reading_finds_the_bar_of_a_letterboxed_night_sky() -> None:
    """The tolerant box of a letterboxed dark photo runs into the photo's own dark margins and
    does not come back to the original frame; the strict one stops at the bar, so the copy
    trimmed to it is the original picture again."""
    sky = night_sky()
    letterboxed, bar = framed(sky, 0, 30, 0, 30, "black")
    boxes = content_boxes(jpeg(letterboxed, 90))
    tolerant = content_box(jpeg(letterboxed, 90))
    assert boxes[0] == tolerant and tolerant != bar
    assert tolerant.left > 0 and tolerant.right < letterboxed.width  # the sky's own margins
    strict = [box for box in boxes[1:] if box.left == 0 and box.right == letterboxed.width]
    assert len(strict) == 1
    assert abs(strict[0].top - bar.top) <= JPEG_SLACK
    assert abs(strict[0].bottom - bar.bottom) <= JPEG_SLACK


def test_content_boxes_are_distinct_and_empty_without_a_border() -> None:
    image, box = framed(texture(300, 200), 0, 40, 0, 40, "black")
    assert content_boxes(image) == [box]  # both readings agree on a flat bar: one box
    assert content_boxes(texture(300, 200)) == []
    assert content_boxes(Image.new("RGB", (320, 240), "black")) == []


def test_media_hashes_each_distinct_trimmed_picture(tmp_path: Path) -> None:
    sky = night_sky()
    letterboxed, _ = framed(sky, 0, 30, 0, 30, "black")
    path = tmp_path / "letterboxed.jpg"
    letterboxed.save(path, quality=90)
    media = Media(path)
    pictures = media.trimmed_pictures
    assert [p.variant for p in pictures] == ["trimmed", "trimmed-flat"]
    assert [p.rgb_image.size for p in pictures] == [
        (b.width, b.height) for b in media.content_boxes
    ]
    assert media.trimmed is pictures[0] and pictures[0].trimmed_pictures == []


def test_both_readings_in_one_scan_give_each_reading_alone() -> None:
    """content_boxes reads each side's lines once for the tolerant and the strict readings:
    its boxes must be each reading's own (content_box), in that order, on pictures where they
    agree, differ, or find nothing; and where only the strict reading's end differs from a
    line where the tolerant one stops."""
    sky = night_sky()
    letterboxed, _ = framed(sky, 0, 30, 0, 30, "black")
    pictures = [
        jpeg(letterboxed, 90),  # the readings differ
        framed(texture(300, 200), 0, 40, 0, 40, "black")[0],  # they agree
        framed(photo(), 12, 0, 9, 0, (90, 140, 90))[0],
        jpeg(framed(photo(), 0, 25, 0, 0, "white")[0], 40),
        texture(300, 200),  # no border
        Image.new("RGB", (320, 240), "black"),  # one colour
        sky,  # dark margins the tolerant reading may take
    ]
    for picture in pictures:
        singles = [content_box(picture), content_box(picture, STRICT_MEAN_DEVIATION)]
        expected = list(dict.fromkeys(box for box in singles if box is not None))
        assert content_boxes(picture) == expected


def test_this_install_scans_borders_with_the_compiled_code() -> None:
    """The extension is optional at build time (no compiler: numpy scans); the dev and CI
    installs must have built it, or the figures would silently be numpy's."""
    assert borders._borders is not None
    assert borders._borders.__file__.endswith(".so")


def bordered_noise(rng: np.random.Generator) -> np.ndarray:
    """A random picture: a noisy border of random widths (a side may have none) around random
    or faint content, so lines fall on both sides of every threshold."""
    height, width = (int(side) for side in rng.integers(8, 700, 2))
    colour = rng.integers(0, 256, 3)
    noise = int(rng.integers(0, 40))
    pixels = np.clip(colour + rng.integers(-noise, noise + 1, (height, width, 3)), 0, 255)
    top, bottom = (int(rng.integers(0, height // 3 + 1)) for _ in range(2))
    left, right = (int(rng.integers(0, width // 3 + 1)) for _ in range(2))
    inside = pixels[top : height - bottom, left : width - right]
    content = rng.integers(0, 256, inside.shape)
    inside[...] = content if rng.random() < 0.6 else np.clip(colour + content // 16, 0, 255)
    return pixels.astype(np.uint8)


def scans_agree(pixels: np.ndarray) -> None:
    readings = (borders.MAX_MEAN_DEVIATION, STRICT_MEAN_DEVIATION)
    for side in borders.SIDES:
        compiled = borders._depths(pixels, side, readings)
        assert compiled == borders._numpy_depths(pixels, side, readings), (pixels.shape, side)


def test_the_compiled_scan_finds_the_numpy_scans_depths_on_random_pictures() -> None:
    rng = np.random.default_rng(2026)
    for _ in range(300):
        scans_agree(bordered_noise(rng))
    scans_agree(np.full((40, 600, 3), 7, np.uint8))  # one colour: every line is border
    scans_agree(np.zeros((9, 1100, 3), np.uint8))  # over 512 samples a line: every 3rd


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (30, 120, 200)])
def test_the_compiled_scan_finds_the_numpy_scans_depths_on_bordered_photos(
    colour: tuple[int, int, int],
) -> None:
    for path in sorted(DATA.rglob("*.jpg"))[:10]:
        photo = Image.open(path).convert("RGB")
        if min(photo.size) < 8:
            continue
        image, _ = framed(photo, 5, 20, 40, 30, colour)
        for picture in (image, jpeg(image), jpeg(image, 40)):
            scans_agree(np.asarray(picture))


def test_the_compiled_scan_checks_its_arguments() -> None:
    pixels = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="bad sizes, side or readings"):
        borders._borders.depths(pixels, 4, 6, 0, (1.0,), 24, 0.98, 512)  # 4 x 6 is not 4 x 5
    with pytest.raises(ValueError, match="bad sizes, side or readings"):
        borders._borders.depths(pixels, 4, 5, 4, (1.0,), 24, 0.98, 512)  # no fifth side
    with pytest.raises(ValueError, match="bad sizes, side or readings"):
        borders._borders.depths(pixels, 4, 5, 0, (), 24, 0.98, 512)  # no reading
    with pytest.raises(TypeError):
        borders._borders.depths(pixels, 4, 5, 0, ("1",), 24, 0.98, 512)


def test_an_install_without_the_compiled_scan_finds_the_same_boxes() -> None:
    code = (
        "import sys; sys.modules['hashcore._borders'] = None; "  # import of it fails
        "from PIL import Image, ImageOps; from hashcore import borders; "
        "assert borders._borders is None; "
        f"photo = Image.open({str(PHOTO)!r}).convert('RGB'); "
        "image = ImageOps.expand(photo, border=(10, 30, 10, 30), fill=(0, 0, 0)); "
        "print(borders.content_boxes(image))"
    )
    photo = Image.open(PHOTO).convert("RGB")
    image = ImageOps.expand(photo, border=(10, 30, 10, 30), fill=(0, 0, 0))
    assert python_output(code) == f"{content_boxes(image)}\n"
