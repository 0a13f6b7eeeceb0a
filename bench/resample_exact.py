"""The compiled resampler against Pillow on every picture of a corpus, and its speed.

    .venv/bin/python -m bench.resample_exact [FOLDER ...]

Every file under the folders (default: the robustness corpus's unpacked packages in
``bench/.corpus/unpacked``, which ``make bench-robustness`` fetches) that hashcore decodes
(``Media.rgb_array``; files it refuses are skipped) gets pHash's 32x32 Lanczos greyscale picture
and the crops' working copy both ways: :func:`hashcore.resample.resized` and Pillow's
``resize``; and every signal ``hash_file`` gives it (lookup variants and crops included) with
the compiled resampler and with Pillow's (``hashcore.resample`` without its extension, as an
install without a compiler runs). Prints how many pictures were compared and how many differ,
then the milliseconds
per picture of both on the pictures of 512 px and more (each side of the figure alternating,
``ROUNDS`` times).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from hashcore import Media, load_registry, resample
from hashcore.crops import WORKING_SIDE, working_copy
from hashcore.errors import HashcoreError
from hashcore.hashing import hash_file
from hashcore.resample import Filter, resized

CORPUS = Path(__file__).parent / ".corpus" / "unpacked"
ROUNDS = 3
PHASH_SIZE = (32, 32)


def pictures(folders: list[Path]) -> list[Media]:
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            media = Media(path)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    media.rgb_array  # noqa: B018 - decoded once, as hashing does
            except (HashcoreError, OSError, ValueError):
                continue
            found.append(media)
    return found


def pillow_grey(media: Media) -> np.ndarray:
    small = media.rgb_image.convert("L").resize(PHASH_SIZE, Image.Resampling.LANCZOS)
    return np.asarray(small)


def pillow_working_copy(image: Image.Image) -> np.ndarray:
    scale = WORKING_SIDE / max(image.size)
    if scale >= 1:
        return np.asarray(image)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def main(folders: list[Path]) -> None:
    medias = pictures(folders)
    grey_differ = working_differ = 0
    for media in medias:
        ours = resized(media.rgb_array, PHASH_SIZE, Filter.LANCZOS, grey=True)
        grey_differ += not np.array_equal(ours, pillow_grey(media))
        copy = working_copy(media.rgb_image, media.rgb_array)
        working_differ += not np.array_equal(copy, pillow_working_copy(media.rgb_image))
    registry = load_registry()
    signals_differ = 0
    compiled = resample._resample
    for media in medias:
        ours = hash_file(media.path, registry, variants=True).signals
        resample._resample = None
        try:
            theirs = hash_file(media.path, registry, variants=True).signals
        finally:
            resample._resample = compiled
        signals_differ += ours != theirs
    print(
        f"{len(medias)} pictures: pHash's 32x32 picture differs from Pillow's on {grey_differ}, "
        f"the working copy on {working_differ}, hash_file's signals on {signals_differ}"
    )
    large = [media for media in medias if max(media.rgb_image.size) >= 512]
    timings: dict[str, list[float]] = {"pillow": [], "compiled": []}
    for _ in range(ROUNDS):
        for name, pixels in (("pillow", False), ("compiled", True)):
            started = time.perf_counter()
            for media in large:
                if pixels:
                    resized(media.rgb_array, PHASH_SIZE, Filter.LANCZOS, grey=True)
                    working_copy(media.rgb_image, media.rgb_array)
                else:
                    pillow_grey(media)
                    pillow_working_copy(media.rgb_image)
            timings[name].append((time.perf_counter() - started) / max(1, len(large)))
    pillow_ms, compiled_ms = (min(timings[name]) * 1000 for name in ("pillow", "compiled"))
    print(
        f"speed on the {len(large)} of 512 px and more (pHash's picture and the working copy, "
        f"best of {ROUNDS}): Pillow {pillow_ms:.2f} ms, compiled {compiled_ms:.2f} ms a picture "
        f"(x{pillow_ms / compiled_ms:.2f})"
    )


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]] or [CORPUS])
