"""Inputs that are not usable videos fail with a clean TmkError, never a crash."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from hashcore_tmk import TmkError, compute_tmk


def _sample_video(tmk_data: Path) -> Path:
    path = tmk_data / "videos" / "chair-19-sd-bar.mp4"
    if not path.is_file():
        pytest.fail(f"sample video missing: {path}")
    return path


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(TmkError, match="cannot read"):
        compute_tmk(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(TmkError):
        compute_tmk(path)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a video\n" * 100)  # ffmpeg would render this as ANSI art
    with pytest.raises(TmkError, match="text"):
        compute_tmk(path)


def test_truncated_header(tmp_path: Path, tmk_data: Path) -> None:
    path = tmp_path / "cut.mp4"
    path.write_bytes(_sample_video(tmk_data).read_bytes()[:20_000])
    with pytest.raises(TmkError):
        compute_tmk(path)


@pytest.mark.slow
def test_truncated_body_hashes_what_decodes(tmp_path: Path, tmk_data: Path) -> None:
    """Like the reference's ffmpeg, a cut-off body yields the frames before the cut."""
    data = _sample_video(tmk_data).read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    feature = compute_tmk(path)
    assert 0 < feature.frame_count < 284
    with pytest.raises(TmkError, match=r"half\.mp4"):
        compute_tmk(path, strict=True)


def test_audio_only(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        samples = (np.sin(np.arange(8000) / 10) * 10_000).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(TmkError, match="no video stream"):
        compute_tmk(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_still_image(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"picture{suffix}"
    pixels = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    with pytest.raises(TmkError, match="image"):
        compute_tmk(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        compute_tmk(tmp_path / "absent.mp4")


def test_playlist_cannot_pull_in_other_files(tmp_path: Path, tmk_data: Path) -> None:
    """An uploaded HLS playlist must not make us hash (or fetch) whatever it points at."""
    target = _sample_video(tmk_data).resolve()
    path = tmp_path / "list.m3u8"
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:19.0,\n{target}\n#EXT-X-ENDLIST\n")
    with pytest.raises(TmkError):
        compute_tmk(path)


def test_concat_list_refused(tmp_path: Path, tmk_data: Path) -> None:
    target = _sample_video(tmk_data).resolve()
    path = tmp_path / "list.ffconcat"
    path.write_text(f"ffconcat version 1.0\nfile '{target}'\n")
    with pytest.raises(TmkError):
        compute_tmk(path)
