"""The video part: TMK+PDQF (and fused) recall on re-encoded, resized, trimmed, grey, logo'd and
bordered copies of the shared TMK samples and of short clips made from corpus photographs.

Kept small on purpose: TMK hashing decodes every frame, and the issue's budget is 30 minutes
for everything. Clips from photographs are a slow pan-and-zoom over the picture (4 s, 320x240,
25 fps, H.264): real motion, so the TMK time features have something to see, and lawful content
we already have. Edits decode the source with PyAV, change frames with Pillow and encode again
(H.264, CRF 23 unless the edit says otherwise).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageOps

from bench.robustness import evaluate
from bench.robustness.edits import logo
from bench.robustness.evaluate import EditResult

SHARED = Path("/work/shared/data/tmk/videos")
SHARED_ORIGINALS = ("chair-orig-22-sd-bar", "doorknob-hd-no-bar", "pattern-hd-no-bar")
# The samples' own edited versions (made by the TMK authors), with the original they come from.
SHARED_VARIANTS = {
    "chair-19-sd-bar": "chair-orig-22-sd-bar",
    "chair-20-sd-bar": "chair-orig-22-sd-bar",
    "chair-22-sd-grey-bar": "chair-orig-22-sd-bar",
    "chair-22-with-large-logo-bar": "chair-orig-22-sd-bar",
    "chair-22-with-small-logo-bar": "chair-orig-22-sd-bar",
    "pattern-sd-grey-bar": "pattern-hd-no-bar",
}
CLIP_SIZE = (320, 240)
CLIP_SECONDS = 4
FPS = 25
VIDEO_BANK = "videos"


@dataclass(frozen=True)
class VideoEdit:
    name: str
    frame: Callable[[Image.Image], Image.Image] | None = None
    scale: float = 1.0
    trim_start: float = 0.0  # fraction of frames dropped at the start
    trim_end: float = 0.0
    crf: int = 23


def _even(image: Image.Image) -> Image.Image:
    w, h = image.width // 2 * 2, image.height // 2 * 2
    return image if (w, h) == image.size else image.crop((0, 0, w, h))


VIDEO_EDITS: tuple[VideoEdit, ...] = (
    VideoEdit("re-encode CRF 35", crf=35),
    VideoEdit("resize 50%", scale=0.5),
    VideoEdit("trim start 20%", trim_start=0.2),
    VideoEdit("trim end 20%", trim_end=0.2),
    VideoEdit("greyscale", frame=lambda im: im.convert("L").convert("RGB")),
    VideoEdit("logo bottom-right", frame=lambda im: logo(im, 0)),
    VideoEdit(
        "letterbox black 12%",
        frame=lambda im: ImageOps.expand(
            im, border=(0, im.height * 12 // 100, 0, im.height * 12 // 100), fill=(0, 0, 0)
        ),
    ),
    VideoEdit(
        "border white 10%",
        frame=lambda im: ImageOps.expand(
            im, border=(im.width // 10, im.height // 10), fill=(255, 255, 255)
        ),
    ),
)


def _write(path: Path, frames: Iterator[Image.Image], fps: Fraction | int, crf: int = 23) -> None:
    with av.open(str(path), "w") as out:
        stream = None
        for image in frames:
            image = _even(image.convert("RGB"))
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.width, stream.height = image.size
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "ultrafast"}
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                out.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)


def make_clip(photo: Path, target: Path) -> None:
    """A pan-and-zoom over ``photo``: the window shrinks from 90% to 60% and drifts across."""
    with Image.open(photo) as raw:
        image = raw.convert("RGB")
    frames = CLIP_SECONDS * FPS

    def generate() -> Iterator[Image.Image]:
        for n in range(frames):
            t = n / (frames - 1)
            scale = 0.9 - 0.3 * t
            w, h = image.width * scale, image.height * scale
            x = (image.width - w) * t
            y = (image.height - h) * (0.5 + 0.4 * (t - 0.5))
            box = (round(x), round(y), round(x + w), round(y + h))
            yield image.resize(CLIP_SIZE, Image.Resampling.BILINEAR, box=box)

    _write(target, generate(), FPS)


def decode(source: Path) -> tuple[list[Image.Image], Fraction | int]:
    """Every frame of ``source`` and its frame rate (decoded once per original, for all edits)."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        fps = stream.average_rate or FPS
        images = [frame.to_image() for frame in container.decode(stream)]
    return images, fps


def apply_edit(
    frames: Sequence[Image.Image], fps: Fraction | int, target: Path, edit: VideoEdit
) -> None:
    start = int(len(frames) * edit.trim_start)
    stop = len(frames) - int(len(frames) * edit.trim_end)
    images = frames[start:stop]

    def generate() -> Iterator[Image.Image]:
        for image in images:
            if edit.scale != 1.0:
                image = image.resize(
                    (
                        max(16, round(image.width * edit.scale)),
                        max(16, round(image.height * edit.scale)),
                    )
                )
            if edit.frame is not None:
                image = edit.frame(image)
            yield image

    _write(target, generate(), fps, edit.crf)


def prepare_videos(work: Path, photos: Sequence[Path]) -> list[Path]:
    """The video originals: shared samples (copied) and clips made from ``photos``."""
    work.mkdir(parents=True, exist_ok=True)
    originals = []
    for name in SHARED_ORIGINALS:
        target = work / f"{name}.mp4"
        if not target.exists():
            shutil.copyfile(SHARED / f"{name}.mp4", target)
        originals.append(target)
    for n, photo in enumerate(photos):
        target = work / f"clip-{n}-{photo.stem}.mp4"
        if not target.exists():
            make_clip(photo, target)
        originals.append(target)
    return originals


def run_video(index: int, path: str, workdir: str) -> list[EditResult]:
    """Edits of one video original (plus the shared variants of it), looked up in a worker."""
    source = Path(path)
    results = [evaluate.lookup_copy(source, index, "identical file")]
    for name, parent in SHARED_VARIANTS.items():
        if source.stem == parent:
            results.append(
                evaluate.lookup_copy(SHARED / f"{name}.mp4", index, f"shared sample: {name}")
            )
    if source.stem in SHARED_VARIANTS.values():
        return results  # the long shared samples: their own variants only (time budget)
    frames, fps = decode(source)
    for n, edit in enumerate(VIDEO_EDITS):
        target = Path(workdir) / f"{index}-{n}.mp4"
        apply_edit(frames, fps, target, edit)
        try:
            results.append(evaluate.lookup_copy(target, index, edit.name))
        finally:
            target.unlink()
    return results
