"""The PDQ quality cutoff at its boundary: quality 49 is not matched on, 50 and 51 are.

Real images of exactly those qualities are made here (noise at a contrast found by bisection,
checked through the plugin itself), then followed through the plugin's ``usable`` flag and the
engine: a quality-49 query is skipped, and a quality-49 hash is never banked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashcore import Media
from hashcore.engine import Engine
from hashcore.registry import SignalRegistry
from hashcore.signals import Signal
from hashcore_pdq.plugin import PdqSignal

CUTOFF = 50
"""The published guidance: PDQ hashes of quality below 50 are too featureless to match on."""
QUALITIES = (CUTOFF - 1, CUTOFF, CUTOFF + 1)


def image_of_quality(directory: Path, target: int) -> Path:
    """A 256x256 PNG of smooth noise whose PDQ quality, as the plugin computes it, is ``target``.

    PDQ quality grows with the image's gradients, so the noise's contrast is bisected until the
    quality is exactly right (it moves by one or two per step near the cutoff).
    """
    rng = np.random.default_rng(19)
    coarse = rng.normal(0.0, 1.0, (32, 32)).astype(np.float32)
    noise = np.asarray(Image.fromarray(coarse, "F").resize((256, 256), Image.Resampling.BICUBIC))
    low, high = 0.0, 32.0
    path = directory / f"quality-{target}.png"
    for _ in range(60):
        contrast = (low + high) / 2
        grey = np.clip(128 + contrast * noise, 0, 255).astype(np.uint8)
        Image.fromarray(np.dstack([grey, grey, grey]), "RGB").save(path)
        quality = PdqSignal().hash(Media(path)).quality
        assert quality is not None
        if quality == target:
            return path
        low, high = (contrast, high) if quality < target else (low, contrast)
    pytest.fail(f"no contrast gives PDQ quality {target} (last {quality} at {contrast})")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    directory = tmp_path_factory.mktemp("pdq-quality")
    return {quality: image_of_quality(directory, quality) for quality in QUALITIES}


@pytest.mark.parametrize(
    ("quality", "usable"),
    [(0, False), (1, False), (49, False), (50, True), (51, True), (100, True)],
)
def test_usable_flag_at_the_cutoff(quality: int, usable: bool) -> None:
    vector = np.arange(256) % 2
    signal = PdqSignal()._signal(vector, quality, "orig")
    assert (signal.quality, signal.usable) == (quality, usable)


def test_real_images_at_the_cutoff(images: dict[int, Path]) -> None:
    for quality, path in images.items():
        media = Media(path)
        plain = PdqSignal().hash(media)
        assert (plain.quality, plain.usable) == (quality, quality >= CUTOFF), path.name
        variants = PdqSignal().hash_variants(media)
        assert {(v.quality, v.usable) for v in variants} == {(quality, quality >= CUTOFF)}


def test_engine_skips_a_quality_49_query_and_matches_50(
    tmp_path: Path, images: dict[int, Path], registry: SignalRegistry
) -> None:
    """Every image's PDQ hash is banked as a strong signal; only the query's quality differs."""
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("b")
        for quality, path in images.items():
            value = PdqSignal().hash(Media(path)).value
            engine.add_entry("b", [Signal("pdq", value, quality=90)], external_id=f"q{quality}")
        for quality, path in images.items():
            query = PdqSignal().hash_variants(Media(path))  # all eight, as lookups send them
            result = engine.lookup_signals(query)
            matched = {match.external_id for match in result.matches}
            if quality < CUTOFF:
                assert matched == set(), f"quality {quality} query matched {matched}"
                [skipped] = result.skipped
                assert skipped.type == "pdq" and f"quality {quality} too low" in skipped.reason
            else:
                assert f"q{quality}" in matched, f"quality {quality} query matched {matched}"
                assert result.skipped == []


def test_engine_never_banks_a_quality_49_hash(
    tmp_path: Path, images: dict[int, Path], registry: SignalRegistry
) -> None:
    """``add_file`` keeps the file's other families but not a PDQ hash below the cutoff, so a
    strong query of the very same value finds nothing."""
    with Engine(tmp_path / "store", registry) as engine:
        for quality, path in images.items():
            bank = f"b{quality}"
            engine.create_bank(bank)
            entry = engine.add_file(bank, path)
            value = PdqSignal().hash(Media(path)).value
            banked = [s for s in entry.signals if s.type == "pdq"]
            strong_query = [Signal("pdq", value, quality=90)]
            result = engine.lookup_signals(strong_query, banks=[bank])
            if quality < CUTOFF:
                assert banked == [], f"a quality {quality} PDQ hash was banked"
                assert result.matches == []
                assert {s.type for s in entry.signals} == {"md5", "phash"}
            else:
                assert [(s.value, s.quality) for s in banked] == [(value, quality)]
                assert [m.entry_id for m in result.matches] == [entry.id]
