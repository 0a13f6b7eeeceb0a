"""Inputs vPDQ cannot use fail with a clear VpdqError, never a crash; other families still hash."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import sample
from hashcore import Media, load_registry
from hashcore.hashing import hash_file
from hashcore_vpdq import VpdqError, compute_vpdq
from hashcore_vpdq.plugin import MAX_FRAMES_ENV, VpdqSignal


def write_video(path: Path, frames: int, fps: int = 10, size: tuple[int, int] = (32, 24)) -> Path:
    """A moving gradient (``frames`` may be 0: a video stream without a single frame)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        y, x = np.mgrid[0 : size[1], 0 : size[0]]
        for index in range(frames):
            pixels = np.stack(
                [(x * 8 + index * 16) % 256, (y * 9) % 256, (x + y + index * 5) % 256], axis=-1
            ).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        if not frames:
            container.start_encoding()  # the header alone
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _noise(path: Path, shared: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())


def _text(path: Path, shared: Path) -> None:
    path.write_text("not a video\n" * 100)  # FFmpeg would render it as ANSI art


def _png(path: Path, shared: Path) -> None:
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(path, format="PNG")


def _cut_header(path: Path, shared: Path) -> None:
    path.write_bytes(sample(shared, "doorknob-hd-no-bar").read_bytes()[:20_000])


def _wav(path: Path, shared: Path) -> None:
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes((np.sin(np.arange(8000) / 10) * 10_000).astype("<i2").tobytes())


UNUSABLE = {
    "empty": (lambda path, shared: path.write_bytes(b""), "cannot read"),
    "noise": (_noise, None),
    "text": (_text, "text"),
    "picture": (_png, "image"),
    "cut header": (_cut_header, None),
    "audio only": (_wav, "no video stream"),
}


@pytest.mark.parametrize("kind", sorted(UNUSABLE))
def test_unusable_file(kind: str, tmp_path: Path, shared: Path) -> None:
    write, reason = UNUSABLE[kind]
    path = tmp_path / "upload.mp4"
    write(path, shared)
    with pytest.raises(VpdqError, match=reason):
        compute_vpdq(path)


def test_truncated_body_hashes_what_decodes(tmp_path: Path, shared: Path) -> None:
    """Like the reference's decoder, a cut-off body yields the frames before the cut."""
    data = sample(shared, "doorknob-hd-no-bar").read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    hashed = compute_vpdq(path, seconds_per_hash=1.0)
    assert 0 < len(hashed) < 4  # of 4 a second over its 4 s
    with pytest.raises(VpdqError, match=r"half\.mp4"):
        compute_vpdq(path, seconds_per_hash=1.0, strict=True)


def test_zero_length_video(tmp_path: Path, shared: Path) -> None:
    """A video stream without a frame: an empty Matroska file, and an MP4 whose media data
    ends right after the index (the frames' bytes all cut off)."""
    path = write_video(tmp_path / "none.mkv", frames=0)
    with pytest.raises(VpdqError, match="cannot read"):
        compute_vpdq(path)
    data = sample(shared, "doorknob-hd-no-bar").read_bytes()
    path = tmp_path / "no-frames.mp4"
    path.write_bytes(data[: data.index(b"mdat") + 68])
    with pytest.raises(VpdqError, match="no video frames could be decoded"):
        compute_vpdq(path)


def test_frames_too_small(tmp_path: Path) -> None:
    path = write_video(tmp_path / "tiny.mp4", frames=3, size=(4, 4))
    with pytest.raises(VpdqError, match="smaller than 5"):
        compute_vpdq(path)


def test_extremely_long_video_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap on hashed frames: refused from the header, and while decoding when the header
    says nothing (the check counts frames as they come)."""
    path = write_video(tmp_path / "long.mp4", frames=60)
    with pytest.raises(VpdqError, match="too long for vPDQ"):
        compute_vpdq(path, max_frames=50)
    assert len(compute_vpdq(path, max_frames=60)) == 60
    assert len(compute_vpdq(path, seconds_per_hash=0.5, max_frames=12)) == 12
    monkeypatch.setenv(MAX_FRAMES_ENV, "10")
    with pytest.raises(VpdqError, match="HASHCORE_VPDQ_MAX_FRAMES"):
        VpdqSignal().hash(Media(path))


def test_the_cap_also_holds_while_decoding(tmp_path: Path) -> None:
    raw = tmp_path / "long.h263"  # a raw stream: no frame count nor duration in a header
    with av.open(str(raw), mode="w", format="h263") as container:
        stream = container.add_stream("h263", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for index in range(30):
            pixels = np.full((96, 128, 3), index * 8, np.uint8)
            pixels[:, : index * 4] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(VpdqError, match="too long"):
        compute_vpdq(raw, max_frames=20)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        compute_vpdq(tmp_path / "absent.mp4")


def test_other_families_still_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A video vPDQ refuses is still hashed by MD5 and TMK, with vPDQ's reason per file."""
    path = write_video(tmp_path / "clip.mp4", frames=30, size=(64, 48))
    monkeypatch.setenv(MAX_FRAMES_ENV, "5")
    result = hash_file(path, load_registry())
    assert {s.type for s in result.signals} >= {"md5", "tmk_pdqf"}
    [failure] = [e for e in result.errors if e.type == "vpdq"]
    assert "too long for vPDQ" in failure.message and str(path) in failure.message
