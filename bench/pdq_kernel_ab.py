"""The PDQ kernel of an earlier revision against the current one, side by side in one process.

    .venv/bin/python bench/pdq_kernel_ab.py [REV] [FOLDER]

REV (default 8412a72, before the tent kernel) is read with ``git show`` and imported beside
the installed kernel, with REV's own ``_tent.c`` built and loaded where it differs from this
tree's (else both run the installed build); both hash every picture under FOLDER (default
``tests/data/pdq``), decoded once, in 5 alternating rounds, plain and with the mirrored
alignments. Prints each round's seconds, the median ratio and the milliseconds per picture, and
counts pictures whose bits or quality differ between the two (a picture of quality 0 may: every
bit is a tie).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from at_revision import REPO, extension_at, module_at
from PIL import Image

from hashcore_pdq import kernel, turned

KERNEL = "plugins/pdq/hashcore_pdq/kernel.py"
TENT = "plugins/pdq/hashcore_pdq/_tent.c"


def kernel_at(revision: str, folder: Path) -> ModuleType:
    kernel_module = module_at(revision, KERNEL, folder)
    compiled = extension_at(revision, TENT, "plugins/pdq", folder)
    if compiled is not None:
        print(f"{TENT} built from {revision}", flush=True)
        kernel_module._tent = compiled  # what its buffers() calls
    return kernel_module


def seconds(module: ModuleType, pictures: list[np.ndarray], mirrored: bool) -> float:
    started = time.perf_counter()
    for pixels in pictures:
        module.buffers(pixels, mirrored)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    revision = argv[0] if argv else "8412a72"
    folder = Path(argv[1]) if len(argv) > 1 else REPO / "tests" / "data" / "pdq"
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    pictures = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    pictures = [p for p in pictures if min(p.shape[:2]) >= 64]
    with tempfile.TemporaryDirectory() as scratch:
        old = kernel_at(revision, Path(scratch))
        differ, qualities = 0, []
        for pixels in pictures:
            a, b = old.buffers(pixels, True), kernel.buffers(pixels, True)
            same = all(
                np.array_equal(turned.bits(a[i, j]), turned.bits(b[i, j]))
                for i in (0, 1)
                for j in (0, 1)
            )
            if not same or old.quality(a[0, 0]) != kernel.quality(b[0, 0]):
                differ += 1
                qualities.append(kernel.quality(b[0, 0]))
        print(
            f"{len(pictures)} pictures; bits or quality differ on {differ}"
            + (f" (their qualities: {sorted(qualities)})" if differ else "")
        )
        for mirrored in (False, True):
            pairs = []
            for round_ in range(5):
                sides = (old, kernel) if round_ % 2 == 0 else (kernel, old)
                timed = {id(m): seconds(m, pictures, mirrored) for m in sides}
                pairs.append((timed[id(old)], timed[id(kernel)]))
            ratio = statistics.median(o / n for o, n in pairs)
            per = [
                1000 * statistics.median(side) / len(pictures) for side in zip(*pairs, strict=True)
            ]
            print(
                f"{'mirrored' if mirrored else 'plain'}: "
                + " ".join(f"{o:.3f}/{n:.3f}" for o, n in pairs)
                + f"  median x{ratio:.2f}; {per[0]:.2f} -> {per[1]:.2f} ms a picture"
            )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # `... | head`: the reader has gone, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # for the final flush
        sys.exit(1)
