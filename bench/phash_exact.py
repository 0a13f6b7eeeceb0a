"""The pHash plugin against ``imagehash.phash`` on every picture of a corpus, and its speed.

    .venv/bin/python -m bench.phash_exact [FOLDER ...]

Every file under the folders (default: the robustness corpus's unpacked packages in
``bench/.corpus/unpacked``, which ``make bench-robustness`` fetches) that Pillow opens is
decoded as hashcore decodes it (``Media.rgb_image``; files it refuses are skipped) and hashed by
the plugin and by imagehash. Prints how many pictures were compared, how many plain hashes and
how many variants differ (the variants against scipy's block, as before the matrix product),
and how many pictures needed scipy (a coefficient within ``UNDECIDED`` of the median).

Then the speed, on every ``EVERY``-th picture: the plugin's ``hash`` and what it did before
(``imagehash.phash``, its bits packed) on the same decoded picture, ``ROUNDS`` times each,
alternating; prints the milliseconds per picture of both and their ratio.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from hashcore import Media
from hashcore.errors import HashcoreError
from hashcore_phash.plugin import PhashSignal
from tests.phash_exactness import exactness

CORPUS = Path(__file__).resolve().parent / ".corpus" / "unpacked"
EVERY = 10
ROUNDS = 3


def pictures(folders: list[Path]) -> Iterator[tuple[Path, Image.Image]]:
    """Every picture Pillow opens and hashcore decodes, in path order, one at a time."""
    warnings.simplefilter("ignore", UserWarning)  # Pillow's palette-transparency notes
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            try:
                with Image.open(path):
                    pass
                yield path, Media(path).rgb_image
            except (OSError, ValueError, HashcoreError, Image.DecompressionBombError):
                continue


def seconds(hasher: Callable[[Media], object], media: Media) -> float:
    started = time.perf_counter()
    hasher(media)
    return time.perf_counter() - started


def imagehash_bits(media: Media) -> list[bool]:
    """What the plugin's ``hash`` did before: ``imagehash.phash`` and its bits."""
    return list(imagehash.phash(media.rgb_image).hash.flatten().tolist())


def main(argv: list[str]) -> int:
    counts = np.zeros(4, dtype=int)  # pictures, plain differs, variants differ, needed scipy
    before = after = 0.0
    timed = 0
    for number, (path, image) in enumerate(pictures([Path(a) for a in argv] or [CORPUS])):
        media = Media.derived(path, image, "decoded")
        plain, variants, fallback = exactness(image)
        counts += (1, not plain, not variants, fallback)
        if fallback or not plain or not variants:
            print(
                f"  {'scipy' if fallback else ''} {'' if plain and variants else 'DIFFERS'} {path}"
            )
        if number % EVERY == 0:
            timed += 1
            for _ in range(ROUNDS):
                before += seconds(imagehash_bits, media)
                after += seconds(PhashSignal().hash, media)
    pictures_, plain_differ, variants_differ, fallbacks = counts.tolist()
    if not timed:
        print("no pictures found")
        return 1
    print(
        f"{pictures_} pictures: plain hash differs from imagehash on {plain_differ}, variants "
        f"differ from scipy's block's on {variants_differ}, scipy needed for {fallbacks}"
    )
    print(
        f"speed on {timed} of them, {ROUNDS} alternations each: imagehash "
        f"{before * 1000 / timed / ROUNDS:.2f} ms, plugin {after * 1000 / timed / ROUNDS:.2f} ms "
        f"a picture (ratio {before / after:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
