"""Content is recognised by decoding, in every format StopNCII accepts that we can read."""

from __future__ import annotations

from pathlib import Path

import pytest
from samples import IMAGE_FORMATS, VIDEO_CONTAINERS, write_image, write_video

from hashcore import ContentKind, detect_kind, hash_file
from hashcore.registry import SignalRegistry

WEE = Path(__file__).parent / "data" / "pdq" / "misc" / "wee.jpg"


@pytest.mark.parametrize("name", [*IMAGE_FORMATS, "psd"])
def test_image_formats_are_images_and_hash(
    name: str, tmp_path: Path, registry: SignalRegistry
) -> None:
    path = write_image(WEE, tmp_path, name)
    renamed = path.rename(tmp_path / "no_extension")  # the name must not matter
    assert detect_kind(renamed) is ContentKind.IMAGE
    result = hash_file(renamed, registry)
    assert result.ok, result.errors
    assert {s.type for s in result.signals} >= {"pdq", "phash", "md5"}


@pytest.mark.parametrize("name", VIDEO_CONTAINERS)
def test_video_containers_are_videos(name: str, tmp_path: Path) -> None:
    path = write_video(tmp_path, name)
    renamed = path.rename(tmp_path / "clip.jpg")  # a misleading name changes nothing
    assert detect_kind(renamed) is ContentKind.VIDEO


@pytest.mark.parametrize(
    "header", [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", b"PK\x03\x04" + bytes(26)]
)
def test_a_video_behind_a_document_signature_is_still_a_video(
    header: bytes, tmp_path: Path, registry: SignalRegistry
) -> None:
    """FFmpeg plays an MPEG-TS stream whatever bytes come before it, so a video disguised
    behind a PDF or ZIP signature must be hashed as a video. Sorting files by their leading
    signature would spare a real document 20-90 ms of probing, and let this one through."""
    video = write_video(tmp_path, "ts")
    disguised = tmp_path / "report.pdf"
    disguised.write_bytes(header + video.read_bytes())
    assert detect_kind(disguised) is ContentKind.VIDEO
    result = hash_file(disguised, registry)
    assert result.ok, result.errors
    assert "tmk_pdqf" in {s.type for s in result.signals}


def test_other_files_are_files_and_still_get_md5(tmp_path: Path, registry: SignalRegistry) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all")
    assert detect_kind(text) is ContentKind.FILE
    result = hash_file(text, registry)
    assert result.ok and [s.type for s in result.signals] == ["md5"]


def test_audio_with_cover_art_is_not_a_video(tmp_path: Path) -> None:
    import av

    path = tmp_path / "tone.wav"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        import numpy as np

        samples = (np.sin(np.arange(8000) / 5) * 3000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert detect_kind(path) is ContentKind.FILE
