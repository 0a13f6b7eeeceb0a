"""Index load time (restart) of two hashcore trees, alternately, on the same snapshots.

Usage (from the repository root)::

    .venv/bin/python bench/index_load.py --base REV_OR_DIR [--n 10000000] [--pairs 2]

Builds, once, an MD5 ``ExactIndex`` and a PDQ ``HammingIndex`` snapshot of ``n`` random values
(``bench/.cache/index-load-<n>``), then times ``load`` of each in a fresh process of each tree
(base, new, base, new...). A load includes the snapshot's integrity checks (value ids distinct
and sorted, digests), which is where ``np.unique`` cost 10 s at 10M ids. Prints each run and
per index the median of the pairs' ratios base/new (>1: new loads faster).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from compare_revisions import json_line, tree_of, tree_parser  # noqa: E402 - shared helpers

CACHE = REPO / "bench" / ".cache"
KINDS = {"md5": "hashcore.index.exact:ExactIndex", "pdq": "hashcore.index.hamming:HammingIndex"}

LOAD = """
import importlib, json, sys, time
from pathlib import Path
module, name = sys.argv[1].split(":")
cls = getattr(importlib.import_module(module), name)
started = time.perf_counter()
index = cls.load(Path(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - started, "values": len(index),
                  "hashcore": str(Path(importlib.import_module("hashcore").__file__).parents[1])}))
"""


def build(n: int) -> Path:
    """The two snapshots of ``n`` random values, written once by this tree."""
    import numpy as np

    from hashcore.index.exact import ExactIndex
    from hashcore.index.hamming import HammingIndex

    root = CACHE / f"index-load-{n}"
    if (root / "ready").exists():
        return root
    rng = np.random.default_rng(n)
    ids = rng.permutation(n).astype(np.int64)  # value ids arrive in any order
    for kind, index in (("md5", ExactIndex(16)), ("pdq", HammingIndex(256))):
        nbytes = 16 if kind == "md5" else 32
        index.add_array(ids, rng.integers(0, 256, (n, nbytes), dtype=np.uint8))
        index.compact()
        index.save(root / kind)
        del index
    (root / "ready").touch()
    return root


def load(tree: Path, kind: str, directory: Path) -> dict[str, float]:
    result: dict[str, float] = json_line(tree, ["-c", LOAD, KINDS[kind], str(directory)])
    return result


def main() -> int:
    args = tree_parser(__doc__, 10_000_000).parse_args()
    trees = {"base": tree_of(args.base), "new": tree_of(args.new)}
    started = time.perf_counter()
    root = build(args.n)
    print(f"snapshots of {args.n:,} values: {root} ({time.perf_counter() - started:.0f} s)")
    for kind in KINDS:
        ratios = []
        for pair in range(args.pairs):
            seconds = {}
            for name in ("base", "new"):
                result = load(trees[name], kind, root / kind)
                seconds[name] = result["seconds"]
                print(f"{kind} pair {pair + 1} {name}: {json.dumps(result)}", flush=True)
            ratios.append(seconds["base"] / seconds["new"])
        shown = ", ".join(f"{r:.1f}" for r in ratios)
        print(f"{kind}: base/new load time x{statistics.median(ratios):.1f} (pairs: {shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
