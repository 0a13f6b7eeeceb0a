"""Bad input gives a clear per-file error naming the file and the reason, and loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from samples import write_video

from hashcore import hash_file
from hashcore.hashing import FileHashes
from hashcore.registry import SignalRegistry

DATA = Path(__file__).parent / "data" / "pdq"
BRIDGE = DATA / "dih" / "bridge-1-original.jpg"


def messages(result: FileHashes) -> str:
    return " | ".join(f"{e.type}: {e.message}" for e in result.errors)


def families(result: FileHashes) -> set[str]:
    return {s.type for s in result.signals}


def test_corrupt_jpeg_keeps_md5(tmp_path: Path, registry: SignalRegistry) -> None:
    data = bytearray(BRIDGE.read_bytes())
    data[2000:] = bytes(len(data) - 2000)  # header intact, entropy-coded data destroyed
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(bytes(data))
    result = hash_file(path, registry)
    assert "md5" in families(result)
    assert not result.ok or {"pdq", "phash"} <= families(result)  # decoders may conceal errors


def test_truncated_jpeg(tmp_path: Path, registry: SignalRegistry) -> None:
    path = tmp_path / "truncated.jpg"
    path.write_bytes(BRIDGE.read_bytes()[:50_000])
    result = hash_file(path, registry)
    assert families(result) == {"md5"}
    assert {e.type for e in result.errors} == {"pdq", "phash"}
    assert "truncated.jpg" in messages(result) and "truncated" in messages(result).lower()


def test_empty_file(tmp_path: Path, registry: SignalRegistry) -> None:
    path = tmp_path / "empty.png"
    path.touch()
    result = hash_file(path, registry)
    assert result.signals == [] and "empty.png: empty file" in messages(result)


def test_missing_file_and_directory(tmp_path: Path, registry: SignalRegistry) -> None:
    assert "no such file" in messages(hash_file(tmp_path / "gone.jpg", registry))
    assert "not a regular file" in messages(hash_file(tmp_path, registry))


def test_unreadable_file(registry: SignalRegistry) -> None:
    """/proc/self/mem is a regular file that fails on read, even for root."""
    result = hash_file(Path("/proc/self/mem"), registry)
    assert result.signals == [] and "cannot read" in messages(result)


def test_decompression_bomb_is_capped(tmp_path: Path, registry: SignalRegistry) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000)).save(path)  # 144 MP in a few kilobytes
    assert path.stat().st_size < 100_000
    result = hash_file(path, registry)
    assert families(result) == {"md5"}
    assert "over the limit" in messages(result) and "decompression bomb" in messages(result)


def test_pixel_cap_is_configurable(
    monkeypatch: pytest.MonkeyPatch, registry: SignalRegistry
) -> None:
    monkeypatch.setenv("HASHCORE_MAX_IMAGE_PIXELS", "1000")
    result = hash_file(BRIDGE, registry)
    assert families(result) == {"md5"} and "over the limit of 1,000" in messages(result)


def test_image_too_small(tmp_path: Path, registry: SignalRegistry) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4), "red").save(path)
    result = hash_file(path, registry)
    assert families(result) == {"md5"}
    assert "tiny.png: image is 4x4, too small to hash" in messages(result)


def test_video_without_a_video_stream(tmp_path: Path, registry: SignalRegistry) -> None:
    import av
    import numpy as np

    path = tmp_path / "voice.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    result = hash_file(path, registry)
    assert families(result) == {"md5"}
    assert "voice.mp4: media file without a video stream" in messages(result)


def test_truncated_video(tmp_path: Path, registry: SignalRegistry) -> None:
    clip = write_video(tmp_path, "mp4", frames=30)
    path = tmp_path / "cut.mp4"
    path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    result = hash_file(path, registry)
    assert "md5" in families(result)  # the bytes still have an exact hash


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv", "avi", "wmv"])
def test_a_video_cut_to_its_first_bytes_is_reported_not_hashed_in_silence(
    container: str, tmp_path: Path, registry: SignalRegistry
) -> None:
    """A header that no longer opens (an upload cut short) is a damaged video: the MD5 is kept
    and the file's error says why there is no TMK or vPDQ, where it used to pass as a plain
    file with no error at all (exit 0, and ``bank add`` banked an MD5-only entry quietly)."""
    clip = write_video(tmp_path, container, frames=30)
    path = tmp_path / f"cut{clip.suffix}"
    path.write_bytes(clip.read_bytes()[:16])
    result = hash_file(path, registry)
    assert families(result) == {"md5"}
    assert f"{path.name}: video file does not open (truncated or corrupt?)" in messages(result)
    assert "Errno" not in messages(result)


@pytest.mark.parametrize(("kind", "keep"), [("PNG", 40), ("WEBP", 40), ("TIFF", 6), ("GIF", 8)])
def test_a_picture_cut_before_it_opens_is_reported_not_hashed_in_silence(
    kind: str, keep: int, tmp_path: Path, registry: SignalRegistry
) -> None:
    """A PNG or WebP cut short does not even open in Pillow: it passed as some other file
    (MD5 only, no error), where a cut JPEG said "cannot decode image"."""
    whole = tmp_path / "whole"
    Image.open(BRIDGE).convert("RGB").save(whole, kind)
    path = tmp_path / f"cut.{kind.lower()}"
    path.write_bytes(whole.read_bytes()[:keep])
    result = hash_file(path, registry)
    assert families(result) == {"md5"}
    assert f"{path.name}: image file does not open (truncated or corrupt?)" in messages(result)


def test_a_file_that_is_no_video_stays_a_plain_file_without_error(
    tmp_path: Path, registry: SignalRegistry
) -> None:
    path = tmp_path / "notes.mp4"  # the name says video; the bytes do not
    path.write_bytes(b"minutes of the meeting\n")
    result = hash_file(path, registry)
    assert families(result) == {"md5"} and result.errors == []


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "YCbCr", "1", "I", "F"])
def test_image_modes_convert_to_rgb(mode: str, tmp_path: Path, registry: SignalRegistry) -> None:
    image = Image.open(BRIDGE).resize((128, 96))
    converted = image.convert(mode) if mode not in {"I;16"} else image.convert("L").convert(mode)
    path = tmp_path / f"mode.{'tif' if mode in {'I;16', 'CMYK', 'YCbCr', 'I', 'F'} else 'png'}"
    if mode == "YCbCr":
        path = tmp_path / "mode.jpg"
    converted.save(path)
    result = hash_file(path, registry)
    assert result.ok, messages(result)
    assert {"pdq", "phash", "md5"} <= families(result)
