"""How far reduced-scale JPEG decoding moves PDQ and pHash from their full-resolution values.

    .venv/bin/python -m bench.image_path_deviation [FOLDER ...]

Every JPEG of 1280 px or more on its shorter side under the folders (default: the robustness
corpus's unpacked packages in ``bench/.corpus/unpacked``, which ``make bench-robustness``
fetches) is hashed by the PDQ and pHash plugins on the reference path
(``HASHCORE_IMAGE_PATH=reference``: full resolution) and on the fast path with the shorter side
kept at 1024, 720 (the default), 640 and 512 px. Prints, per setting, the largest,
95th-percentile and median PDQ distance, and the largest pHash distance (docs/thresholds.md
has the table).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import hashcore.decode
from hashcore import Media, load_registry
from hashcore.signals import hamming_distance

CORPUS = Path(__file__).resolve().parent / ".corpus" / "unpacked"
MIN_SHORTER_SIDE = 1280
"""Pictures every setting from 640 px down decodes at reduced scale."""
SIDES = (1024, 720, 640, 512)


def big_jpegs(folders: list[Path]) -> list[Path]:
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in (".jpg", ".jpeg"):
                continue
            try:
                with Image.open(path) as image:
                    if min(image.size) >= MIN_SHORTER_SIDE:
                        found.append(path)
            except OSError:
                continue
    return found


def hashes(path: Path) -> tuple[bytes, bytes]:
    registry = load_registry()
    media = Media(path)
    return registry.get("pdq").hash(media).value, registry.get("phash").hash(media).value


def main(argv: list[str]) -> int:
    paths = big_jpegs([Path(a) for a in argv] or [CORPUS])
    print(f"{len(paths)} JPEGs of {MIN_SHORTER_SIDE} px or more on their shorter side")
    os.environ["HASHCORE_IMAGE_PATH"] = "reference"
    reference = [hashes(path) for path in paths]
    os.environ["HASHCORE_IMAGE_PATH"] = "fast"
    for side in SIDES:
        hashcore.decode.DRAFT_MIN_SIDE = side
        fast = [hashes(path) for path in paths]
        pdq = np.array([hamming_distance(a[0], b[0]) for a, b in zip(fast, reference, strict=True)])
        phash = [hamming_distance(a[1], b[1]) for a, b in zip(fast, reference, strict=True)]
        print(
            f"shorter side kept {side} px: PDQ max {pdq.max()}, 95% within "
            f"{np.percentile(pdq, 95):.0f}, median {np.median(pdq):.0f}; pHash max {max(phash)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
