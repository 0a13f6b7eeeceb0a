"""The PDQ quality cutoff at its boundary: quality 49 only seconds another family, 50 and 51
match alone, 0 never matches.

Real images of exactly those qualities are made here (noise at a contrast found by bisection,
checked through the plugin itself), then followed through the plugin's ``usable`` flag and the
engine: a quality-49 hit, query or banked, matches only where pHash recognises the entry too,
and adds nothing to the match's confidence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashcore import Media
from hashcore.cli.lookup_cmd import match_to_json
from hashcore.crops import CROPS
from hashcore.engine import Engine
from hashcore.hashing import hash_file
from hashcore.matching import confidence
from hashcore.registry import SignalRegistry
from hashcore.remote.wire import hit_from_pb, hit_to_pb
from hashcore.signals import Signal
from hashcore_pdq.plugin import PdqSignal

CUTOFF = 50
"""The published guidance: PDQ hashes of quality below 50 are too featureless to match alone."""
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
    [(0, False), (1, True), (49, True), (50, True), (51, True), (100, True)],
)
def test_usable_flag_at_the_cutoff(quality: int, usable: bool) -> None:
    vector = np.arange(256) % 2
    signal = PdqSignal()._signal(vector, quality, "orig")
    assert (signal.quality, signal.usable) == (quality, usable)


def test_real_images_at_the_cutoff(images: dict[int, Path]) -> None:
    for quality, path in images.items():
        media = Media(path)
        plain = PdqSignal().hash(media)
        assert (plain.quality, plain.usable) == (quality, True), path.name
        assert PdqSignal().is_weak(plain.quality) == (quality < CUTOFF)
        variants = PdqSignal().hash_variants(media)
        assert {(v.quality, v.usable) for v in variants} == {(quality, True)}


def test_a_quality_49_query_matches_only_with_a_second_family(
    tmp_path: Path, images: dict[int, Path], registry: SignalRegistry
) -> None:
    """Every image's PDQ hash is banked as a strong signal; only the query's quality differs.
    The entry also holds a pHash; the query sends it (second family) or not."""
    phash = registry.get("phash")
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("b")
        for quality, path in images.items():
            value = PdqSignal().hash(Media(path)).value
            signals = [Signal("pdq", value, quality=90), phash.hash(Media(path))]
            engine.add_entry("b", signals, external_id=f"q{quality}")
        for quality, path in images.items():
            pdq_only = PdqSignal().hash_variants(Media(path))  # all eight, as lookups send them
            alone = {m.external_id for m in engine.lookup_signals(pdq_only).matches}
            seconded = engine.lookup_signals([*pdq_only, phash.hash(Media(path))]).matches
            [match] = [m for m in seconded if m.external_id == f"q{quality}"]
            pdq_hit = next(hit for hit in match.signals if hit.type == "pdq")
            if quality < CUTOFF:
                assert f"q{quality}" not in alone, f"quality {quality} PDQ matched alone"
                assert pdq_hit.weak
                phash_hits = [hit for hit in match.signals if hit.type == "phash"]
                assert match.confidence == confidence(registry, phash_hits)  # PDQ adds nothing
                shown = match_to_json(match, registry)["signals"]
                assert {"type": "pdq", "weak": True}.items() <= shown[0].items()
                assert hit_from_pb(hit_to_pb(pdq_hit)) == pdq_hit  # gRPC carries it
            else:
                assert f"q{quality}" in alone, f"quality {quality} query matched {alone}"
                assert not pdq_hit.weak


def test_a_blank_picture_is_not_looked_up(tmp_path: Path, registry: SignalRegistry) -> None:
    path = tmp_path / "grey.png"
    Image.new("RGB", (256, 256), (120, 120, 120)).save(path)
    query = PdqSignal().hash_variants(Media(path))
    assert {(s.quality, s.usable) for s in query} == {(0, False)}
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("b")
        result = engine.lookup_signals(query)
        [skipped] = result.skipped
        assert skipped.type == "pdq" and "quality 0 too low" in skipped.reason


def test_a_banked_quality_49_hash_only_seconds(
    tmp_path: Path, images: dict[int, Path], registry: SignalRegistry
) -> None:
    """``add_file`` banks a quality-49 PDQ hash with its quality; a strong query of the very same
    value finds the entry only together with its pHash."""
    phash = registry.get("phash")
    with Engine(tmp_path / "store", registry) as engine:
        for quality, path in images.items():
            bank = f"b{quality}"
            engine.create_bank(bank)
            entry = engine.add_file(bank, path)
            value = PdqSignal().hash(Media(path)).value
            banked = [s for s in entry.signals if s.type == "pdq" and s.variant is None]
            assert [(s.value, s.quality) for s in banked] == [(value, quality)]
            strong_query = [Signal("pdq", value, quality=90)]
            alone = engine.lookup_signals(strong_query, banks=[bank]).matches
            both = engine.lookup_signals(
                [*strong_query, phash.hash(Media(path))], banks=[bank]
            ).matches
            assert [m.entry_id for m in both] == [entry.id]
            if quality < CUTOFF:
                assert alone == []
            else:
                assert [m.entry_id for m in alone] == [entry.id]


@pytest.mark.parametrize(("distance", "matches"), [(16, True), (17, False)])
def test_a_weak_hit_counts_only_within_the_weak_threshold(
    tmp_path: Path, registry: SignalRegistry, distance: int, matches: bool
) -> None:
    """A quality-49 PDQ query 16 bits from the banked hash seconds pHash; at 17 bits, inside
    the threshold of 31 but beyond ``weak_threshold``, it does not count at all, so pHash is
    left alone and nothing matches."""
    assert PdqSignal.weak_threshold == 16
    banked = bytes(range(32))
    flipped = int.from_bytes(banked, "big") ^ ((1 << distance) - 1)
    query = flipped.to_bytes(32, "big")
    phash = bytes(8)
    with Engine(tmp_path / "store", registry) as engine:
        engine.create_bank("b")
        entry = engine.add_entry(
            "b", [Signal("pdq", banked, quality=90), Signal("phash", phash)], external_id="x"
        )
        result = engine.lookup_signals([Signal("pdq", query, quality=49), Signal("phash", phash)])
        # pHash never matches alone: without the weak PDQ hit there is no match at all.
        assert [m.entry_id for m in result.matches] == ([entry.id] if matches else [])
        strong = engine.lookup_signals([Signal("pdq", query, quality=90)]).matches
        assert [m.entry_id for m in strong] == [entry.id]  # a strong hit at 17 still matches


def test_crops_of_a_low_quality_picture_are_left_out(
    images: dict[int, Path], registry: SignalRegistry
) -> None:
    """A crop only adds comparisons; one that could only second (quality < 50) is not hashed
    in, at bank time or lookup time, while the picture's own weak hash still is."""
    for variants in (False, True):
        signals = hash_file(images[CUTOFF - 1], registry, variants=variants).signals
        pdq = [s for s in signals if s.type == "pdq"]
        assert any(s.variant in (None, "orig") and s.quality == CUTOFF - 1 for s in pdq)
        crops = [s for s in pdq if s.variant in CROPS]
        assert all(not PdqSignal().is_weak(s.quality) for s in crops), crops
