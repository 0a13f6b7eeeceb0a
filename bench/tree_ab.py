"""This tree against an earlier revision, whole: the same signals, and the CLI's time.

    .venv/bin/python bench/tree_ab.py signals REV DIR...       # every signal equal?
    .venv/bin/python bench/tree_ab.py hash REV DIR [--rounds N]  # hash --jobs 1 / 2, both trees

The revision is checked out in a temporary worktree with compiled bytecode and compiled
extensions: this tree's where the revision's C source is the same (or absent: the revision does
not load it), else built from the revision's own source with its own compile arguments (its
``pyproject.toml``), so a change to a C kernel shows in both commands. Each run puts one tree
first on ``sys.path`` (setuptools' editable finders, which would map every import to this tree,
are removed). ``signals`` hashes
every picture under the folders with both trees, plain and with lookup variants, and reports
any signal that differs; ``hash`` alternates ``hashcore hash --json`` of ``DIR`` with
``--jobs 1`` and ``--jobs 2`` between the trees, with the straightforward path
(``bench/straightforward.py``) once a round, so every ratio comes from the same minutes.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from at_revision import build_extension

REPO = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = ("plugins/vpdq", "plugins/tmk_video", "plugins/md5", "plugins/phash", "plugins/pdq")
EXTENSIONS = ("hashcore/*.so", "plugins/pdq/hashcore_pdq/*.so")
PICTURE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}

TREE_FIRST = """
import sys
root = sys.argv.pop(1)
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
for folder in {folders!r}:
    sys.path.insert(0, f"{{root}}/{{folder}}")
"""

RUN_CLI = (
    TREE_FIRST
    + """
import runpy
sys.argv = ["hashcore"] + sys.argv[1:]
runpy.run_module("hashcore.cli.main", run_name="__main__", alter_sys=True)
"""
)

DUMP_SIGNALS = (
    TREE_FIRST
    + """
import json
from pathlib import Path
import hashcore
from hashcore import hash_file, load_registry
assert hashcore.__file__.startswith(root), hashcore.__file__
registry = load_registry()
found = {{}}
for name in sys.argv[1:]:
    for variants in (False, True):
        hashed = hash_file(Path(name), registry, variants=variants)
        found[f"{{name}} variants={{variants}}"] = [
            [s.type, s.value.hex(), s.quality, s.usable, s.variant] for s in hashed.signals
        ] + [[e.type, e.message] for e in hashed.errors]
print(json.dumps(found))
"""
)

FOLDERS = (*PLUGIN_DIRS, "server", ".")


def worktree(revision: str, into: Path) -> Path:
    """``revision`` checked out under ``into``, with this tree's extensions and bytecode."""
    tree = into / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-q", str(tree), revision], cwd=REPO, check=True
    )
    for pattern in EXTENSIONS:
        for built in REPO.glob(pattern):
            place = tree / built.relative_to(REPO)
            source = place.parent / f"{built.name.split('.')[0]}.c"
            mine = built.parent / source.name
            if source.exists() and source.read_bytes() != mine.read_bytes():
                print(f"building the revision's {source.relative_to(tree)}", flush=True)
                shutil.copy2(build_extension(source, into)[1], place)
            else:
                shutil.copy2(built, place)
    for folder in ("hashcore", "plugins", "server"):
        compileall.compile_dir(tree / folder, quiet=1)
        compileall.compile_dir(REPO / folder, quiet=1)
    return tree


def pictures(folders: list[str]) -> list[str]:
    return sorted(
        str(path)
        for folder in folders
        for path in Path(folder).rglob("*")
        if path.is_file() and path.suffix.lower() in PICTURE_SUFFIXES
    )


def signals_of(tree: Path, files: list[str]) -> dict[str, list[list[object]]]:
    script = DUMP_SIGNALS.format(folders=FOLDERS)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tree), *files], check=True, capture_output=True
    )
    found: dict[str, list[list[object]]] = json.loads(done.stdout)
    return found


def compare_signals(tree: Path, folders: list[str]) -> int:
    files = pictures(folders)
    before, after = signals_of(tree, files), signals_of(REPO, files)
    differing = [key for key in before if before[key] != after.get(key)]
    count = sum(len(value) for value in before.values())
    print(f"{len(files)} pictures, {len(before)} hashings, {count} signals; differing: "
          f"{len(differing)}")  # fmt: skip
    for key in differing[:10]:
        print(f"  {key}\n    before {before[key]}\n    after  {after.get(key)}")
    return 1 if differing else 0


def seconds(*command: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_hash(tree: Path, folder: str, rounds: int) -> int:
    script = RUN_CLI.format(folders=FOLDERS)

    def cli(root: Path, jobs: int) -> float:
        args = ("hash", "--json", "--jobs", str(jobs), folder)
        return seconds(sys.executable, "-c", script, str(root), *args)

    for number in range(1, rounds + 1):
        base = seconds(sys.executable, str(REPO / "bench" / "straightforward.py"), folder)
        old1, new1, old2, new2 = cli(tree, 1), cli(REPO, 1), cli(tree, 2), cli(REPO, 2)
        print(
            f"round {number}: straightforward {base:.2f} s | before --jobs 1 {old1:.2f} s, "
            f"--jobs 2 {old2:.2f} s | after {new1:.2f} s, {new2:.2f} s | straightforward / "
            f"--jobs 1 x{base / old1:.2f} -> x{base / new1:.2f}; --jobs 1 / --jobs 2 "
            f"x{old1 / old2:.2f} -> x{new1 / new2:.2f}; after / before x{old1 / new1:.2f} "
            f"(--jobs 1), x{old2 / new2:.2f} (--jobs 2)",
            flush=True,
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("signals", "hash"))
    parser.add_argument("revision")
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hashcore-tree-ab-") as temporary:
        tree = worktree(args.revision, Path(temporary))
        try:
            if args.what == "signals":
                return compare_signals(tree, args.folders)
            return time_hash(tree, args.folders[0], args.rounds)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO)


if __name__ == "__main__":
    sys.exit(main())
