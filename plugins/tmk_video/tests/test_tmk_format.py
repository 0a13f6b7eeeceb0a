"""The ``.tmk`` exchange format: byte-exact round trips and refusal of other layouts."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from hashcore_tmk import TmkError, TmkFeature, read_tmk, write_tmk
from hashcore_tmk.feature import TMK_FILE_SIZE, TmkAccumulator


def test_file_size_constant() -> None:
    assert TMK_FILE_SIZE == 263_344


def test_round_trip_byte_exact(reference_stem: str, tmk_data: Path, tmp_path: Path) -> None:
    source = tmk_data / "reference" / f"{reference_stem}.tmk"
    original = source.read_bytes()
    feature = read_tmk(source)
    assert feature.to_bytes() == original
    out = tmp_path / "copy.tmk"
    write_tmk(out, feature)
    assert out.read_bytes() == original
    assert TmkFeature.from_bytes(original).frame_count == feature.frame_count


@pytest.fixture
def sample_bytes() -> bytes:
    rng = np.random.default_rng(1)
    acc = TmkAccumulator()
    acc.add(rng.normal(size=(40, 256)).astype(np.float32))
    return acc.finish().to_bytes()


def _patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (0, b"TMK2", "magic"),
        (4, b"FVEX", "magic"),
        (8, b"PDQ ", "magic"),
        (12, struct.pack("<i", 30), "frame rate"),
        (16, struct.pack("<i", 3), "P=3"),
        (20, struct.pack("<i", 16), "m=16"),
        (24, struct.pack("<i", 128), "d=128"),
        (28, struct.pack("<i", -5), "negative"),
        (32, struct.pack("<i", 2732), "periods"),
        (44, struct.pack("<i", 1), "periods"),
    ],
)
def test_rejects_wrong_header(sample_bytes: bytes, offset: int, value: bytes, reason: str) -> None:
    TmkFeature.from_bytes(sample_bytes)  # the unpatched file is fine
    with pytest.raises(TmkError, match=reason):
        TmkFeature.from_bytes(_patch(sample_bytes, offset, value))


@pytest.mark.parametrize("size", [0, 11, 48, 1200, TMK_FILE_SIZE - 4, TMK_FILE_SIZE - 1])
def test_rejects_truncated(sample_bytes: bytes, size: int, tmp_path: Path) -> None:
    with pytest.raises(TmkError, match="bytes"):
        TmkFeature.from_bytes(sample_bytes[:size])
    path = tmp_path / "short.tmk"
    path.write_bytes(sample_bytes[:size])
    with pytest.raises(TmkError):
        read_tmk(path)


def test_rejects_trailing_data(sample_bytes: bytes, tmp_path: Path) -> None:
    with pytest.raises(TmkError):
        TmkFeature.from_bytes(sample_bytes + b"\0")
    path = tmp_path / "long.tmk"
    path.write_bytes(sample_bytes + b"\0" * 100)
    with pytest.raises(TmkError):
        read_tmk(path)


def test_rejects_non_finite(sample_bytes: bytes) -> None:
    nan = np.array([np.nan], dtype="<f4").tobytes()
    with pytest.raises(TmkError, match="non-finite"):
        TmkFeature.from_bytes(_patch(sample_bytes, 2000, nan))


def test_feature_validates_shapes() -> None:
    zeros = np.zeros((4, 32, 256), dtype=np.float32)
    with pytest.raises(TmkError, match="average"):
        TmkFeature(frame_count=1, average=np.zeros(255), cos=zeros, sin=zeros)
    with pytest.raises(TmkError, match="sin"):
        TmkFeature(frame_count=1, average=np.zeros(256), cos=zeros, sin=zeros[:3])
    with pytest.raises(TmkError, match="frame count"):
        TmkFeature(frame_count=-1, average=np.zeros(256), cos=zeros, sin=zeros)


def test_feature_arrays_are_read_only_copies() -> None:
    average = np.ones(256, dtype=np.float32)
    feature = TmkFeature(
        frame_count=1, average=average, cos=np.zeros((4, 32, 256)), sin=np.zeros((4, 32, 256))
    )
    average[0] = 5.0
    assert feature.average[0] == 1.0
    assert feature.cos.dtype == np.float32
    with pytest.raises(ValueError, match="read-only"):
        feature.average[0] = 2.0
