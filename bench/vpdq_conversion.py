"""What swscale's accurate rounding costs vPDQ: every frame of two sample videos converted to
RGB24 with the fast flags (``SWS_AREA``) and with the reference's (``SWS_AREA |
SWS_ACCURATE_RND``), alternating, 3 rounds; prints the median ms per frame of each and the ratio.

Run: ``.venv/bin/python bench/vpdq_conversion.py`` (about 30 s).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
from av.video.reformatter import Interpolation, VideoReformatter

_REPO = Path(__file__).resolve().parents[1]
ACCURATE_ROUNDING = 0x40000
ROUNDS = 3


def main() -> None:
    shared = Path(os.environ.get("HASHCORE_SHARED_DATA", _REPO.parent / "shared" / "data"))
    for stem in ("chair-19-sd-bar", "doorknob-hd-no-bar"):
        with av.open(str(shared / "tmk" / "videos" / f"{stem}.mp4")) as container:
            frames = list(container.decode(container.streams.video[0]))
        timings: dict[int, list[float]] = {
            Interpolation.AREA: [],
            Interpolation.AREA | ACCURATE_ROUNDING: [],
        }
        for _ in range(ROUNDS):
            for flags, seconds in timings.items():
                reformatter = VideoReformatter()
                started = time.perf_counter()
                for frame in frames:
                    reformatter.reformat(
                        frame, format="rgb24", interpolation=flags, threads=1
                    ).to_ndarray()
                seconds.append((time.perf_counter() - started) * 1000 / len(frames))
        fast, accurate = (sorted(t)[ROUNDS // 2] for t in timings.values())
        print(
            f"{stem}: {len(frames)} frames, fast {fast:.2f} ms/frame, "
            f"accurate {accurate:.2f} ms/frame, x{accurate / fast:.2f}"
        )


if __name__ == "__main__":
    main()
