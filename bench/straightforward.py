"""The straightforward single-core image path issue 15 compares hashcore with.

    python bench/straightforward.py FOLDER

A full-resolution Pillow decode, ``pdqhash``, ``imagehash`` and ``hashlib``, one file after
another. ``bench/test_bench_parallel.py`` runs this file as a command (interpreter start
included, as for the CLI) and calls :func:`hash_file` in its own process (start excluded).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import imagehash
import numpy
import pdqhash
from PIL import Image


def hash_file(path: Path) -> None:
    image = Image.open(path).convert("RGB")
    pdqhash.compute(numpy.asarray(image))
    imagehash.phash(image)
    hashlib.md5(path.read_bytes()).hexdigest()


def pdq_of_file(path: Path) -> None:
    """The PDQ family alone: decode, then ``pdqhash``."""
    pdqhash.compute(numpy.asarray(Image.open(path).convert("RGB")))


def phash_of_file(path: Path) -> None:
    """The pHash family alone: decode, then ``imagehash``."""
    imagehash.phash(Image.open(path).convert("RGB"))


def md5_of_file(path: Path) -> None:
    """The MD5 family alone."""
    hashlib.md5(path.read_bytes()).hexdigest()


FAMILIES = {"pdq": pdq_of_file, "phash": phash_of_file, "md5": md5_of_file}
"""Each family the straightforward path computes, on its own, by hashcore's family name."""


def main(folder: str) -> None:
    for path in sorted(Path(folder).iterdir()):
        hash_file(path)


if __name__ == "__main__":
    main(sys.argv[1])
