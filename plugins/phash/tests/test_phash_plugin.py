"""pHash equals what imagehash prints, plus the conformance kit."""

from __future__ import annotations

from pathlib import Path

import imagehash
from PIL import Image

from hashcore import Media
from hashcore.testing import SignalTypeConformance
from hashcore_phash.plugin import PhashSignal

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "pdq"
SAMPLES = [DATA / "dih" / "bridge-1-original.jpg", DATA / "misc" / "wee.jpg"]


class TestPhashConformance(SignalTypeConformance):
    signal_type = PhashSignal
    sample_files = SAMPLES


def test_hex_equals_imagehash_str() -> None:
    for path in SAMPLES:
        expected = str(imagehash.phash(Image.open(path).convert("RGB")))
        assert PhashSignal().format(PhashSignal().hash(Media(path)).value) == expected
        assert len(expected) == 16


def test_golden_value() -> None:
    """Pinned so a dependency upgrade that changes hashes is noticed."""
    value = PhashSignal().hash(Media(DATA / "dih" / "bridge-1-original.jpg")).value
    assert value.hex() == "aca29c1c33dc23d7"
