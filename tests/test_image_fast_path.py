"""The fast image path keeps the hashes: big JPEGs decoded at reduced scale stay within the
issue's bound of their full-resolution hashes, and ``HASHCORE_IMAGE_PATH=reference`` gives
python-threatexchange's full-resolution hashes exactly.

The pictures are the shared 12 MP EXIF-rotation photos (4032x3024) and the reference
pictures enlarged past 2048 px a side, re-encoded as JPEG.
"""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from hashcore import InvalidInput, Media
from hashcore.decode import DRAFT_MIN_SIDE
from hashcore.hashing import hash_file
from hashcore.registry import SignalRegistry
from hashcore.signals import hamming_distance

DATA = Path(__file__).parent / "data" / "pdq"
PDQ_BOUND = 10
"""The issue's bound: every PDQ hash within 10 bits of the full-resolution one..."""
PDQ_TYPICAL = 8
"""... and 95% within 8 (on the corpus: at most 8, median 2; docs/thresholds.md)."""


@pytest.fixture(scope="module")
def big_jpegs(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> list[Path]:
    folder = tmp_path_factory.mktemp("big-jpegs")
    paths = sorted((shared_data / "pdq" / "exif-rotn").glob("*.jpg"))
    for number, source in enumerate(sorted((DATA / "dih").glob("*.jpg"))[:4]):
        with Image.open(source) as image:
            picture = image.convert("RGB")
        scale = 2100 / min(picture.size)
        enlarged = picture.resize(
            (round(picture.width * scale), round(picture.height * scale)),
            Image.Resampling.BICUBIC,
        )
        path = folder / f"enlarged-{number}.jpg"
        enlarged.save(path, quality=90)
        paths.append(path)
    return paths


def _plain(hashes: object, family: str) -> bytes:
    return next(
        s.value
        for s in hashes.signals  # type: ignore[attr-defined]
        if s.type == family and s.variant in (None, "orig")
    )


def test_big_jpegs_decode_at_the_smallest_scale_keeping_the_side(big_jpegs: list[Path]) -> None:
    for path in big_jpegs:
        with Image.open(path) as image:
            full = image.size
        reduced = Media(path).rgb_image.size
        assert min(reduced) >= DRAFT_MIN_SIDE, path.name
        assert min(reduced) < min(full), path.name
        assert min(reduced) // DRAFT_MIN_SIDE < 2, path.name  # the smallest scale that keeps it


def test_a_12_mp_photo_decodes_at_quarter_scale(shared_data: Path) -> None:
    """4032x3024: 1/4 keeps 756 px (>= 720); 1/8 would keep 378."""
    media = Media(shared_data / "pdq" / "exif-rotn" / "exif-rotn-1.jpg")
    assert media.rgb_image.size == (1008, 756)


def test_an_rgb_jpeg_is_the_decoded_image_not_a_converted_copy() -> None:
    """``convert("RGB")`` of an RGB picture copies it (~4 ms a 1 MP photo) for nothing."""
    from PIL.JpegImagePlugin import JpegImageFile

    picture = Media(DATA / "dih" / "bridge-1-original.jpg").rgb_image
    assert isinstance(picture, JpegImageFile) and picture.mode == "RGB"


def test_pictures_under_twice_draft_min_side_decode_at_full_resolution() -> None:
    path = DATA / "dih" / "bridge-1-original.jpg"  # 1004 px: half would keep 502 (< 720)
    assert Media(path).rgb_image.size == (1600, 1004)


def test_fast_hashes_stay_within_the_bound_of_the_full_resolution_ones(
    big_jpegs: list[Path], registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = [hash_file(path, registry) for path in big_jpegs]
    monkeypatch.setenv("HASHCORE_IMAGE_PATH", "reference")
    full = [hash_file(path, registry) for path in big_jpegs]
    pairs = list(zip(fast, full, strict=True))
    pdq = [hamming_distance(_plain(a, "pdq"), _plain(b, "pdq")) for a, b in pairs]
    phash = [hamming_distance(_plain(a, "phash"), _plain(b, "phash")) for a, b in pairs]
    assert max(pdq) <= PDQ_BOUND and np.mean(np.array(pdq) <= PDQ_TYPICAL) >= 0.95, pdq
    assert max(phash) <= 4, phash
    assert [_plain(a, "md5") for a in fast] == [_plain(b, "md5") for b in full]


def test_the_reference_path_is_python_threatexchanges_hash(
    big_jpegs: list[Path], registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytx: ``pdqhash.compute`` and ``imagehash.phash`` of ``Image.open(path).convert("RGB")``."""
    monkeypatch.setenv("HASHCORE_IMAGE_PATH", "reference")
    path = big_jpegs[0]
    with Image.open(path) as image:
        picture = image.convert("RGB")
    vector, _ = pdqhash.compute(np.asarray(picture))
    hashes = hash_file(path, registry)
    assert _plain(hashes, "pdq") == np.packbits(vector.astype(np.uint8)).tobytes()
    expected_phash = bytes.fromhex(str(imagehash.phash(picture)))
    assert _plain(hashes, "phash") == expected_phash


def test_an_unknown_image_path_is_a_clear_error_for_each_image_family(
    registry: SignalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASHCORE_IMAGE_PATH", "exact")
    with pytest.raises(InvalidInput, match="choose one of fast, reference"):
        assert Media(DATA / "dih" / "bridge-1-original.jpg").rgb_image
    hashes = hash_file(DATA / "dih" / "bridge-1-original.jpg", registry)
    assert {s.type for s in hashes.signals} == {"md5"}
    assert hashes.errors and all("HASHCORE_IMAGE_PATH" in e.message for e in hashes.errors)
