"""MD5 equals hashlib on the whole file, streams, and passes the conformance kit."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

from hashcore import ContentKind, Media
from hashcore.testing import SignalTypeConformance
from hashcore_md5.plugin import Md5Signal

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
SAMPLES = [DATA / "pdq" / "dih" / "bridge-1-original.jpg", DATA / "pdq" / "misc" / "wee.jpg"]


class TestMd5Conformance(SignalTypeConformance):
    signal_type = Md5Signal
    sample_files = SAMPLES


def test_equals_md5sum() -> None:
    for path in SAMPLES:
        got = Md5Signal().hash(Media(path)).value.hex()
        assert got == hashlib.md5(path.read_bytes()).hexdigest()


def test_known_digest_of_shared_video(shared_data: Path) -> None:
    video = shared_data / "tmk" / "videos" / "chair-19-sd-bar.mp4"
    value = Md5Signal().hash(Media(video, ContentKind.VIDEO)).value
    assert value.hex() == "0a21c8f85a55a9e276ffc2c53f6887c4"


def test_large_file_is_streamed_not_loaded(tmp_path: Path) -> None:
    """A 64 MiB file hashes with well under 64 MiB allocated: memory does not grow with size."""
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(64 << 20)  # sparse: cheap to create
    tracemalloc.start()
    try:
        value = Md5Signal().hash(Media(big, ContentKind.FILE)).value
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert value == hashlib.md5(bytes(64 << 20)).digest()
    assert peak < 8 << 20, f"peak {peak:,} bytes: the file was not streamed"
