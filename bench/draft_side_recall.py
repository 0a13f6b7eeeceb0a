"""Does keeping 720 px instead of 1024 when decoding big JPEGs lose recall? (session 9)

    .venv/bin/python bench/draft_side_recall.py

Every robustness edit (bench/robustness/edits.py) of the corpus's 308 prepared originals whose
edited copy is 1440 px or more on its shorter side (the only copies the setting changes: the
originals are at most 1024 px) is saved as the benchmark saves it and hashed with each setting.
Prints, per edit and setting, the share of plain PDQ hashes within the default 31 bits of the
banked original's and of pHashes within 8, and the PDQ distances' median and maximum.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import hashcore.decode  # noqa: E402
from bench.robustness.edits import EDITS, encode  # noqa: E402
from hashcore import Media, load_registry  # noqa: E402
from hashcore.signals import hamming_distance  # noqa: E402

SIDES = (1024, 720)


def main() -> int:
    registry = load_registry()
    pdq, phash = registry.get("pdq"), registry.get("phash")
    folder = Path(tempfile.mkdtemp())
    rows: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for number, path in enumerate(sorted((BENCH / ".corpus" / "originals").glob("*.jpg"))):
        image = Image.open(path)
        image.load()
        banked_pdq, banked_phash = pdq.hash(Media(path)).value, phash.hash(Media(path)).value
        for edit in EDITS:
            edited = edit.apply(image, number)
            if min(edited.size) < 1440:
                continue
            copy = folder / f"copy.{edit.format.lower()}"
            copy.write_bytes(encode(edited, edit))
            for side in SIDES:
                hashcore.decode.DRAFT_MIN_SIDE = side
                media = Media(copy)
                rows.setdefault((edit.name, side), []).append(
                    (
                        hamming_distance(pdq.hash(media).value, banked_pdq),
                        hamming_distance(phash.hash(media).value, banked_phash),
                    )
                )
    for (name, side), found in sorted(rows.items()):
        distances = np.array(found)
        pdq_d, phash_d = distances[:, 0], distances[:, 1]
        print(
            f"{name:22s} keep {side:4d} px: {len(found)} copies; PDQ within 31 "
            f"{np.mean(pdq_d <= 31):.3f}, median {np.median(pdq_d):.0f}, max {pdq_d.max()}; "
            f"pHash within 8 {np.mean(phash_d <= 8):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
