"""The border scan of this tree against a git revision's, on every picture of a corpus.

    .venv/bin/python bench/borders_ab.py REV [FOLDER ...]

``hashcore/borders.py`` at ``REV`` (``git show``) is loaded beside this tree's. Every file
under the folders (default: the robustness corpus's unpacked packages in
``bench/.corpus/unpacked``, which ``make bench-robustness`` fetches) that hashcore decodes gets
``content_boxes`` and both single readings (``content_box``) from each; prints how many
pictures were compared, on how many the boxes differ, and each side's milliseconds a picture
for ``content_boxes`` (timed alternately, picture by picture).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from at_revision import REPO, module_at
from resample_exact import pictures

from hashcore import borders

CORPUS = REPO / "bench" / ".corpus" / "unpacked"


def main(revision: str, folders: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = module_at(revision, "hashcore/borders.py", Path(folder))
        compared = differ = 0
        seconds = {"base": 0.0, "this tree": 0.0}
        for media in pictures(folders):
            image, pixels = media.rgb_image, media.rgb_array
            found = {}
            for name, module in (("base", base), ("this tree", borders)):
                started = time.perf_counter()
                boxes = module.content_boxes(image, pixels)
                seconds[name] += time.perf_counter() - started
                singles = [module.content_box(image), module.content_box(image, 1.0)]
                found[name] = (boxes, singles)
            compared += 1
            differ += found["base"] != found["this tree"]
    print(f"{compared} pictures: boxes differ from {revision}'s on {differ}")
    each = [f"{name} {total / max(1, compared) * 1000:.3f} ms" for name, total in seconds.items()]
    print(f"content_boxes: {', '.join(each)} a picture")


if __name__ == "__main__":
    main(sys.argv[1], [Path(arg) for arg in sys.argv[2:]] or [CORPUS])
