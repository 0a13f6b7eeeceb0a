"""``hashcore hash`` start-up and ``load_registry()``, a base tree against this one, alternating.

    git worktree add --detach /tmp/hc-base REV
    .venv/bin/python -m bench.hash_startup_ab /tmp/hc-base [ROUNDS] [PICTURE]

Each round runs, in a fresh interpreter per tree and in turn (base, then this tree), the whole
command ``python -m hashcore.cli.main hash --json --jobs 1 PICTURE`` (wall seconds, default
picture the 1.6 MP ``bridge-1-original.jpg``) and a script timing ``load_registry()`` after
importing the CLI. Imports come from each tree through PYTHONPATH as /work/wt-env.sh sets it,
with the same .venv, run in that tree (``-m`` and ``-c`` put the working directory first on
sys.path); one untimed run of each first writes bytecode and numba caches. Prints every round
and the medians.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PICTURE = HERE / "tests" / "data" / "pdq" / "dih" / "bridge-1-original.jpg"
TIME_REGISTRY = """
import time
import hashcore.cli.main
from hashcore.registry import load_registry
started = time.perf_counter()
load_registry()
print(hashcore.__file__, time.perf_counter() - started)
"""


def environment(tree: Path) -> dict[str, str]:
    plugins = sorted(str(p) for p in (tree / "plugins").iterdir() if p.is_dir())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "server"), *plugins])}
    env["NUMBA_CACHE_DIR"] = str(tree / ".numba-cache")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("HASHCORE_DISABLE_PLUGINS", None)
    return env


def hash_seconds(tree: Path, picture: Path) -> float:
    command = [sys.executable, "-m", "hashcore.cli.main", "hash", "--json", "--jobs", "1"]
    started = time.perf_counter()
    subprocess.run(
        [*command, str(picture)], env=environment(tree), cwd=tree, check=True, capture_output=True
    )
    return time.perf_counter() - started


def registry_seconds(tree: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", TIME_REGISTRY],
        env=environment(tree),
        cwd=tree,  # ``-c`` and ``-m`` put the working directory first on sys.path
        check=True,
        capture_output=True,
        text=True,
    )
    where, seconds = done.stdout.split()
    assert Path(where).is_relative_to(tree), f"{tree}'s run imported {where}"
    return float(seconds)


def main(argv: list[str]) -> int:
    base = Path(argv[0]).resolve()
    rounds = int(argv[1]) if len(argv) > 1 else 7
    picture = Path(argv[2]).resolve() if len(argv) > 2 else PICTURE
    trees = {"base": base, "this": HERE}
    for tree in trees.values():
        hash_seconds(tree, picture)
    hashing: dict[str, list[float]] = {name: [] for name in trees}
    registry: dict[str, list[float]] = {name: [] for name in trees}
    for round_ in range(1, rounds + 1):
        for name, tree in trees.items():
            hashing[name].append(hash_seconds(tree, picture))
            registry[name].append(registry_seconds(tree))
        print(
            f"round {round_}: hash base {hashing['base'][-1]:.3f} s, this "
            f"{hashing['this'][-1]:.3f} s; load_registry base {registry['base'][-1] * 1000:.1f} "
            f"ms, this {registry['this'][-1] * 1000:.1f} ms"
        )
    median = {name: statistics.median(values) for name, values in hashing.items()}
    loaded = {name: statistics.median(values) for name, values in registry.items()}
    print(
        f"median hash start-up: base {median['base']:.3f} s, this {median['this']:.3f} s "
        f"(saved {median['base'] - median['this']:.3f} s); median load_registry: base "
        f"{loaded['base'] * 1000:.1f} ms, this {loaded['this'] * 1000:.1f} ms"
    )
    print(f"load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
