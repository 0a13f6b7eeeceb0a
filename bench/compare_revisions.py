"""Time ``Engine.lookup_many`` of two hashcore trees alternately on the same cached banks.

Usage (from the repository root)::

    .venv/bin/python bench/compare_revisions.py --base REV_OR_DIR [--new DIR] \\
        [--n 1000000] [--kinds clustered,uniform] [--pairs 2]

``--base`` is a git revision (unpacked with ``git archive`` into a temporary directory, as
``bench/robustness --revision`` does) or a directory holding a hashcore tree; ``--new`` defaults
to this tree. Each measurement is a fresh process (``bench/test_bench_lookup.py measure``, this
tree's benchmark) importing the engine from the tree under test; trees alternate (base, new,
base, new...) so that machine load drifts hit both alike. Banks are built once, by this tree
(``bench/.cache``). Prints each run, then per bank the best lookups/s of each tree, the ratio
new/base, FAISS's flat range search on the same codes, and whether both trees returned
identical results (the digest of every match's entry, distance and variants).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent / "test_bench_lookup.py"


def tree_of(spec: str) -> Path:
    """A directory holding the hashcore tree ``spec`` names (a directory, or a revision)."""
    path = Path(spec)
    if (path / "hashcore" / "__init__.py").exists():
        return path.resolve()
    rev = subprocess.run(
        ["git", "rev-parse", "--short", f"{spec}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = Path(tempfile.gettempdir()) / f"hashcore-rev-{rev}"
    if not (dest / ".extracted").exists():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        archive = subprocess.Popen(["git", "archive", rev], cwd=REPO, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise SystemExit(f"git archive {rev} failed")
        (dest / ".extracted").touch()
    return dest


def env_for(tree: Path) -> dict[str, str]:
    roots = [
        tree,
        tree / "server",
        *sorted(p.parent for p in tree.glob("plugins/*/pyproject.toml")),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(r) for r in roots)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def json_line(tree: Path, argv: list[str]) -> dict[str, Any]:
    """Run ``python argv`` with ``tree``'s hashcore; the JSON object on its last output line."""
    # cwd = a neutral directory, so that no other hashcore shadows the tree's.
    out = subprocess.run(
        [sys.executable, *argv],
        env=env_for(tree),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def run(tree: Path, *args: str) -> dict[str, Any]:
    """One benchmark process with ``tree``'s hashcore; its JSON line."""
    result = json_line(tree, [str(BENCH), *args])
    if "hashcore" in result and Path(result["hashcore"]) != tree:
        raise SystemExit(f"measured {result['hashcore']}, expected {tree}")
    return result


def tree_parser(doc: str | None, n: int) -> argparse.ArgumentParser:
    """The options every two-tree benchmark takes: ``--base``, ``--new``, ``--n``, ``--pairs``."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0] if doc else None)
    parser.add_argument("--base", required=True, help="git revision or directory")
    parser.add_argument("--new", default=str(REPO), help="git revision or directory")
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--pairs", type=int, default=2, help="base/new alternations")
    return parser


def main() -> int:
    parser = tree_parser(__doc__, 1_000_000)
    parser.add_argument("--kinds", default="clustered,uniform")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries per run")
    args = parser.parse_args()
    trees = {"base": tree_of(args.base), "new": tree_of(args.new)}
    print(f"base = {trees['base']}\nnew  = {trees['new']}", flush=True)
    summary = []
    for kind in args.kinds.split(","):
        common = ["--kind", kind, "--n", str(args.n)]
        subprocess.run(
            [sys.executable, str(BENCH), "build", *common], env=env_for(REPO), check=True
        )
        best: dict[str, float] = {}
        ratios: list[float] = []
        digests: dict[str, set[str]] = {"base": set(), "new": set()}
        hits = 0.0
        for pair in range(args.pairs):
            rates: dict[str, float] = {}
            for name in ("base", "new"):
                result = run(trees[name], "measure", *common, "--rounds", str(args.rounds))
                print(f"{kind} {args.n:,} pair {pair + 1} {name}: {json.dumps(result)}", flush=True)
                best[name] = max(best.get(name, 0.0), result["lookups_per_s"])
                digests[name].add(result["digest"])
                hits = result["hits_per_query"]
                rates[name] = result["lookups_per_s"]
            ratios.append(rates["new"] / rates["base"])  # same window, the drift cancels
        flat = run(REPO, "faiss", *common)
        same = digests["base"] == digests["new"] and len(digests["new"]) == 1
        summary.append(
            f"{kind:9} n={args.n:,} hits/query={hits:.1f}: base {best['base']:,.0f}/s, "
            f"new {best['new']:,.0f}/s, new/base x{best['new'] / best['base']:.2f} (best of"
            f" each), x{statistics.median(ratios):.2f} (median of the pairs' ratios:"
            f" {', '.join(f'{r:.2f}' for r in ratios)}); "
            f"FAISS flat {flat['lookups_per_s']:,.0f}/s (new/flat x"
            f"{best['new'] / flat['lookups_per_s']:.2f}); identical results: {same}"
        )
    print("\n".join(["", *summary]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
