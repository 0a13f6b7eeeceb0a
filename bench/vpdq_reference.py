"""Every frame of every sample video against the reference vPDQ hashes, at both sizes.

Run: ``.venv/bin/python bench/vpdq_reference.py`` (about 4 min on one core; the test suite
checks every frame at 128x128 and every 14th at the native size, see
``plugins/vpdq/tests/test_vpdq_reference.py``). Prints, per file: frames (ours, reference),
the largest distance over all frames and over frames of quality >= 50 on both sides, the
median, the share within 6 bits, and how many timestamps and qualities differ.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parents[1]
try:
    import hashcore_vpdq  # noqa: F401
except ImportError:  # a checkout where the plugin is not installed
    sys.path.insert(0, str(_REPO / "plugins" / "vpdq"))

from hashcore_vpdq import VpdqFeature, compute_vpdq  # noqa: E402


def main() -> None:
    shared = Path(os.environ.get("HASHCORE_SHARED_DATA", _REPO.parent / "shared" / "data"))
    references = shared / "vpdq" / "reference"
    for video in sorted((shared / "tmk" / "videos").glob("*.mp4")):
        for size, suffix in ((None, ""), ((128, 128), "-128x128")):
            reference_path = references / f"{video.stem}{suffix}.txt"
            if not reference_path.is_file():
                continue
            started = time.perf_counter()
            ours = compute_vpdq(video, size=size)
            seconds = time.perf_counter() - started
            ref = VpdqFeature.read_reference(reference_path)
            if len(ours) != len(ref):
                print(f"{video.stem}{suffix}: {len(ours)} frames, reference {len(ref)}")
                continue
            bits = np.unpackbits(ours.hashes ^ ref.hashes, axis=1).sum(axis=1)
            usable = (ours.quality >= 50) & (ref.quality >= 50)
            print(
                f"{video.stem}{suffix}: {seconds:.1f} s, frames {len(ours)}/{len(ref)}, "
                f"max {bits.max()}, max q>=50 {bits[usable].max()}, median {np.median(bits):g}, "
                f"within 6 {(bits <= 6).mean():.4f} (q>=50: {(bits[usable] <= 6).mean():.4f}), "
                f"timestamps differing {(ours.ms != ref.ms).sum()}, "
                f"qualities differing {(ours.quality != ref.quality).sum()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
