"""Fast checks of the robustness benchmark's pieces (no network, no fetched corpus)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.robustness import corpus
from bench.robustness.edits import EDITS, encode
from bench.robustness.evaluate import binom_cdf_half, per_lookup


def picture() -> Image.Image:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((400, 300), Image.Resampling.BICUBIC)


@pytest.mark.parametrize("edit", EDITS, ids=[e.name for e in EDITS])
def test_every_edit_writes_a_decodable_deterministic_file(edit):
    if edit.format == "SOURCE":
        return
    image = picture()
    first = encode(edit.apply(image, 7), edit)
    assert first == encode(edit.apply(image, 7), edit)
    with Image.open(io.BytesIO(first)) as decoded:
        assert decoded.width >= 8 and decoded.height >= 8


def test_edit_geometry():
    image = picture()
    by_name = {e.name: e for e in EDITS}
    assert by_name["crop 10% all sides"].apply(image, 0).size == (320, 240)
    assert by_name["crop 5% one side"].apply(image, 0).size == (380, 300)
    assert by_name["border black 5%"].apply(image, 0).size == (440, 330)
    assert by_name["letterbox black 12% top+bottom"].apply(image, 0).size == (400, 372)
    assert by_name["rotate 90"].apply(image, 0).size == (300, 400)
    assert by_name["resize 50%"].apply(image, 0).size == (200, 150)


def test_near_duplicates_keep_the_first_of_each_picture():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 2, 256).astype(bool), rng.integers(0, 2, 256).astype(bool)
    close = a.copy()
    close[:10] = ~close[:10]
    dropped = corpus.near_duplicates([a, b, close, None], threshold=20)
    assert dropped == [(2, 0, 10)]


def test_group_key_folds_a_wallpaper_folders_resolutions():
    one = corpus.group_key("usr/share/wallpapers/Autumn/contents/images/1920x1080.jpg")
    two = corpus.group_key("usr/share/wallpapers/Autumn/contents/images/2560x1600.jpg")
    assert one == two
    assert corpus.group_key("usr/share/backgrounds/a.jpg") != corpus.group_key("usr/share/b.jpg")


def test_prepare_flattens_and_bounds_the_size():
    big = Image.new("RGBA", (3000, 1000), (0, 0, 0, 0))
    out = corpus.prepare(big)
    assert out.mode == "RGB" and max(out.size) == corpus.LONG_SIDE
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_uniform_code_rates():
    assert binom_cdf_half(64, 64) == pytest.approx(1.0)
    assert binom_cdf_half(64, 0) == pytest.approx(2.0**-64)
    assert per_lookup(1e-10, 8) == pytest.approx(8e-10)


def _fake_corpus(root):
    """A fetched-looking corpus folder: one empty .deb per package and two prepared originals."""
    (root / "debs").mkdir(parents=True)
    for package in {s.package for s in corpus.SOURCES}:
        (root / "debs" / f"{package}_1.0_all.deb").write_bytes(b"deb")
    (root / "originals").mkdir()
    originals = []
    for ident in ("0000", "0001"):
        path = root / "originals" / f"{ident}.jpg"
        picture().save(path, "JPEG", quality=95)
        originals.append(corpus.Original(ident, str(path), "p", f"m/{ident}", "photo", (400, 300)))
    manifest = {
        **dataclasses.asdict(corpus.Corpus(originals, {}, 2, 0, 0, [], 0, 0)),
        "cache_key": corpus.cache_key(root),
        "file_sizes": {o.id: Path(o.path).stat().st_size for o in originals},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_prepared_corpus_is_reused_while_its_key_matches(tmp_path):
    _fake_corpus(tmp_path)
    cached = corpus.load_cached(tmp_path)
    assert cached is not None and [o.id for o in cached.originals] == ["0000", "0001"]
    assert cached.originals[0].path == str(tmp_path / "originals" / "0000.jpg")
    # Another version of a package: the key changes and the corpus is built again.
    deb = next((tmp_path / "debs").glob("gnome-backgrounds_*"))
    deb.rename(deb.with_name("gnome-backgrounds_2.0_all.deb"))
    assert corpus.load_cached(tmp_path) is None


def test_a_damaged_prepared_file_invalidates_the_cache(tmp_path):
    _fake_corpus(tmp_path)
    (tmp_path / "originals" / "0001.jpg").write_bytes(b"truncated")
    assert corpus.load_cached(tmp_path) is None


def test_quick_mode_subset_is_deterministic_and_spread():
    originals = [corpus.Original(f"{n:04d}", "", "p", "", "photo", (1, 1)) for n in range(340)]
    first = corpus.sample_limited(originals, 120)
    assert first == corpus.sample_limited(list(originals), 120)
    assert len(first) == 120 and first[0].id == "0000" and first[-1].id == "0337"
