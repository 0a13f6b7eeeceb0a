"""Standard crops as variants: cropped and captioned copies find the banked original, and a
picture's crops do not find a different picture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from engine_support import registry
from PIL import Image, ImageDraw

from hashcore import BitSignalType, ContentKind, Media, PluginError, Signal
from hashcore.borders import Box
from hashcore.crops import BANKED, CROPS, LOOKUP_ONLY, WORKING_SIDE, Crop, crop_box
from hashcore.engine import Engine
from hashcore.hashing import hash_file
from hashcore.model import Match, SignalHit
from hashcore.registry import SignalRegistry
from hashcore.signals import DERIVED_VARIANTS, stored_variant
from tests.media_data import media, shared_file

PHOTO = Path("pdq/dih/bridge-1-original.jpg")
OTHERS = (  # shared PDQ sample photos PDQ can match on (not q0003, q0004: quality < 50)
    "pdq/labelme-subset/q0122.jpg",
    "pdq/labelme-subset/q0291.jpg",
    "pdq/labelme-subset/q1050.jpg",
    "pdq/pen-and-coaster.png",
)
PDQ_BANKED = ["centre90", "top80", "bottom80"]
PDQ_LOOKUP_ONLY = ["centre90-left", "centre90-top", "centre90-right", "centre90-bottom"]


def photo() -> Path:
    return media(str(PHOTO))


def save(image: Image.Image, path: Path) -> Path:
    image.convert("RGB").save(path, quality=90)
    return path


def cropped_copy(source: Path, path: Path, left: float, top: float, right: float, bottom: float):
    image = Image.open(source).convert("RGB")
    w, h = image.size
    box = (round(w * left), round(h * top), w - round(w * right), h - round(h * bottom))
    return save(image.crop(box), path)


def captioned_copy(source: Path, path: Path, position: str, fraction: float) -> Path:
    """A meme-style bar with text drawn over the top or bottom ``fraction`` of the picture."""
    image = Image.open(source).convert("RGB")
    height = round(image.height * fraction)
    top = 0 if position == "top" else image.height - height
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, top, image.width, top + height), fill=(0, 0, 0))
    draw.text((height // 3, top + height // 3), "shared via example.app", fill=(255, 255, 255))
    return save(image, path)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(tmp_path / "store", registry()) as engine:
        engine.create_bank("csem")
        yield engine


def pdq_hit(match: Match) -> SignalHit:
    return next(hit for hit in match.signals if hit.type == "pdq")


# Geometry -----------------------------------------------------------------------------------


def test_crop_boxes_are_exact() -> None:
    size = (200, 100)
    assert crop_box(size, CROPS["centre90"]) == Box(10, 5, 190, 95)
    assert crop_box(size, CROPS["top80"]) == Box(0, 0, 200, 80)
    assert crop_box(size, CROPS["bottom80"]) == Box(0, 20, 200, 100)
    assert crop_box(size, CROPS["centre90-left"]) == Box(0, 5, 190, 95)
    assert crop_box(size, CROPS["centre90-top"]) == Box(10, 0, 190, 95)
    assert crop_box(size, CROPS["centre90-right"]) == Box(10, 5, 200, 95)
    assert crop_box(size, CROPS["centre90-bottom"]) == Box(10, 5, 190, 100)
    assert crop_box((7, 7), Crop(0.0, 0.0, 0.0, 0.0)) == Box(0, 0, 7, 7)


def test_crop_sets() -> None:
    assert set(BANKED) & set(LOOKUP_ONLY) == set()
    assert set(BANKED) <= DERIVED_VARIANTS  # kept by a store
    assert not set(LOOKUP_ONLY) & DERIVED_VARIANTS  # describe a query, never stored
    assert stored_variant("centre90") == "centre90"
    assert stored_variant("centre90-right") is None


def synthetic(path: Path, width: int, height: int) -> Path:
    """Every pixel distinct: red = column, green = row (mod 256), blue = both high bits."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    pixels = np.stack([x % 256, y % 256, (x // 256) * 16 + (y // 256)], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_media_crops_are_the_exact_boxes_of_a_small_picture(tmp_path: Path) -> None:
    path = synthetic(tmp_path / "grid.png", 300, 200)
    item = Media(path)
    assert item.working_pixels is item.rgb_array  # under WORKING_SIDE: used as it is
    original = np.asarray(Image.open(path).convert("RGB"))
    for name, box in [
        ("centre90", (15, 10, 285, 190)),
        ("top80", (0, 0, 300, 160)),
        ("bottom80", (0, 40, 300, 200)),
        ("centre90-right", (15, 10, 300, 190)),
    ]:
        crop = item.cropped(name)
        assert crop is not None and crop.variant == name
        left, top, right, bottom = box
        assert np.array_equal(np.asarray(crop.rgb_image), original[top:bottom, left:right])
    assert item.cropped("centre90") is item.cropped("centre90")  # computed once
    assert item.cropped("centre90").cropped("top80") is None  # a derived picture is not cropped
    with pytest.raises(KeyError):
        item.cropped("centre80")


def test_large_picture_is_cropped_from_its_working_copy(tmp_path: Path) -> None:
    """The crops are views of the working copy (no copy for PDQ's kernel to read), and a
    picture made from one only when asked for."""
    item = Media(synthetic(tmp_path / "grid.png", 1024, 640))
    assert item.working_pixels.shape == (320, WORKING_SIDE, 3)
    centre = item.cropped("centre90")
    assert centre.rgb_image.size == (512 - 2 * 26, 320 - 2 * 16)
    assert np.shares_memory(centre.rgb_array, item.working_pixels)
    assert np.array_equal(np.asarray(centre.rgb_image), item.working_pixels[16:-16, 26:-26])
    assert not centre.rgb_array.flags.writeable  # shared: no family may change it
    assert item.cropped("top80").rgb_image.size == (512, 320 - 64)


def test_crop_too_small_to_hash_is_left_out(tmp_path: Path) -> None:
    kept = Media(synthetic(tmp_path / "thin.png", 200, 10)).cropped("top80")
    assert kept is not None and kept.rgb_image.size == (200, 8)  # 10 - 2 rows: still hashable
    assert Media(synthetic(tmp_path / "tiny.png", 200, 9)).cropped("top80") is None  # 7 rows


# Names: stored and looked up -----------------------------------------------------------------


def test_banked_and_looked_up_variants_have_the_crop_names() -> None:
    banked = hash_file(photo(), registry()).signals
    assert [(s.type, s.variant) for s in banked] == [
        ("md5", None),
        ("pdq", "orig"),
        ("phash", None),
        *(("pdq", name) for name in PDQ_BANKED),
    ]
    looked_up = [s for s in hash_file(photo(), registry(), variants=True).signals]
    crops = [s.variant for s in looked_up if s.type == "pdq" and s.variant in CROPS]
    assert crops == PDQ_BANKED + PDQ_LOOKUP_ONLY
    assert not any(s.variant in CROPS for s in looked_up if s.type != "pdq")
    # The same crops hash the same whether banked or looked up.
    values = {s.variant: s.value for s in looked_up if s.type == "pdq"}
    assert all(values[s.variant] == s.value for s in banked if s.variant in BANKED)


def test_banked_entry_stores_its_crops(engine: Engine) -> None:
    entry = engine.add_file("csem", photo())
    stored = [s.variant for s in entry.signals if s.type == "pdq"]
    assert sorted(stored, key=str) == sorted([None, *PDQ_BANKED], key=str)
    assert engine.get_bank("csem").signals_per_family["pdq"] == 1  # the file's, not its crops'
    with engine.store.transaction() as writer:  # a partner record with two PDQs counts both
        writer.add_entry("csem", [Signal("pdq", bytes(32)), Signal("pdq", bytes([1]) * 32)])
    assert engine.get_bank("csem").signals_per_family["pdq"] == 3


def test_unknown_crop_name_is_refused_at_load() -> None:
    class Cropper(BitSignalType):
        name: ClassVar[str] = "cropper"
        content_kinds: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})
        bits: ClassVar[int] = 8
        default_threshold: ClassVar[float] = 0
        crop_variants: ClassVar[tuple[str, ...]] = ("centre80",)

        def hash(self, media: Media) -> Signal:
            return Signal(self.name, b"\0")

    with pytest.raises(PluginError, match="crop_variants"):
        SignalRegistry([Cropper()])


# Through the real engine ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "query_variant", "banked_variant"),
    [
        ("caption bottom 15%", "top80", "top80"),
        ("caption top 10%", "bottom80", "bottom80"),
        ("crop 5% all sides", "orig", "centre90"),
        ("crop 5% right", "centre90-right", "centre90"),
        ("crop 5% top", "centre90-top", "centre90"),
    ],
)
def test_edited_copy_finds_the_banked_original(
    tmp_path: Path, edit: str, query_variant: str, banked_variant: str
) -> None:
    source = photo()
    copies = {
        "caption bottom 15%": lambda p: captioned_copy(source, p, "bottom", 0.15),
        "caption top 10%": lambda p: captioned_copy(source, p, "top", 0.10),
        "crop 5% all sides": lambda p: cropped_copy(source, p, 0.05, 0.05, 0.05, 0.05),
        "crop 5% right": lambda p: cropped_copy(source, p, 0, 0, 0.05, 0),
        "crop 5% top": lambda p: cropped_copy(source, p, 0, 0.05, 0, 0),
    }
    copy = copies[edit](tmp_path / "copy.jpg")
    plain = next(s.value for s in hash_file(copy, registry()).signals if s.type == "pdq")
    original = next(s.value for s in hash_file(source, registry()).signals if s.type == "pdq")
    assert registry().get("pdq").compare(plain, original) > 31  # out of reach without crops
    with Engine(tmp_path / "store", registry()) as engine:
        engine.create_bank("csem")
        entry = engine.add_file("csem", source)
    with Engine(tmp_path / "store", registry()) as engine:  # from the store on disk
        result = engine.lookup_file(copy)
    assert [m.entry_id for m in result.matches] == [entry.id]
    hit = pdq_hit(result.matches[0])
    assert (hit.variant, hit.stored_variant) == (query_variant, banked_variant)
    assert hit.distance <= 16


def test_original_finds_a_banked_crop(engine: Engine, tmp_path: Path) -> None:
    """The reverse: a 5%-cropped copy is banked, the full picture is looked up."""
    entry = engine.add_file("csem", cropped_copy(photo(), tmp_path / "c.jpg", *(0.05,) * 4))
    result = engine.lookup_file(photo())
    assert [m.entry_id for m in result.matches] == [entry.id]
    hit = pdq_hit(result.matches[0])
    assert (hit.variant, hit.stored_variant) == ("centre90", None)


def test_crops_of_a_picture_do_not_find_a_different_one(engine: Engine, tmp_path: Path) -> None:
    """A captioned and a cropped copy of each picture find only their own entry; and every
    PDQ a lookup of one picture tries (plain, dihedral, crops) stays beyond the threshold from
    every PDQ banked for the others."""
    pictures = [photo(), *(shared_file(name) for name in OTHERS)]
    entries = [engine.add_file("csem", picture).id for picture in pictures]
    for number, picture in enumerate(pictures):
        edits = [
            captioned_copy(picture, tmp_path / f"{number}-cap.jpg", "bottom", 0.15),
            cropped_copy(picture, tmp_path / f"{number}-crop.jpg", 0, 0, 0.05, 0),
        ]
        for copy in edits:
            result = engine.lookup_file(copy)
            assert [m.entry_id for m in result.matches] == [entries[number]], copy.name
    pdq = registry().get("pdq")
    variants = {
        picture: [s for s in hash_file(picture, registry(), variants=True).signals]
        for picture in pictures
    }
    banked = {
        picture: [s.value for s in hash_file(picture, registry()).signals if s.type == "pdq"]
        for picture in pictures
    }
    closest = min(
        pdq.compare(query.value, value)
        for picture in pictures
        for query in variants[picture]
        if query.type == "pdq" and query.usable
        for other in pictures
        if other != picture
        for value in banked[other]
    )
    assert closest > 31
