#!/bin/bash
# CLI start-up, two revisions side by side (session 9):
#   git worktree add /tmp/hc-base REV && bench/cli_startup.sh /tmp/hc-base [ROUNDS]
# Alternates the base tree and this one (the same .venv, imports from each tree through
# PYTHONPATH, as /work/wt-env.sh sets it) on three commands: hash of one picture, bank list and
# lookup of one picture on a one-entry store. Prints wall seconds per command and round.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BASE="${1:?base tree}"
ROUNDS="${2:-3}"
PICTURE="$HERE/tests/data/pdq/misc/small.jpg"
STORE="$(mktemp -d)/store"
PY="$HERE/.venv/bin/python"
in_tree() {
  local tree="$1"; shift
  # in the tree: ``-m`` puts the working directory first on sys.path, before PYTHONPATH
  (cd "$tree" && PYTHONPATH="$tree:$tree/server:$(ls -d "$tree"/plugins/*/ | sed 's:/$::' | paste -sd:)" \
    "$PY" -m hashcore.cli.main "$@" >/dev/null 2>&1)
}
seconds() { local s e; s=$(date +%s.%N); in_tree "$@"; e=$(date +%s.%N); echo "$e - $s" | bc; }
in_tree "$HERE" --store "$STORE" bank create b
in_tree "$HERE" --store "$STORE" bank add b "$PICTURE"
in_tree "$BASE" hash "$PICTURE"  # first runs out of the timing: bytecode and numba caches
in_tree "$HERE" hash "$PICTURE"
in_tree "$BASE" --store "$STORE" lookup "$PICTURE"
in_tree "$HERE" --store "$STORE" lookup "$PICTURE"
for round in $(seq "$ROUNDS"); do
  for command in "hash --json $PICTURE" "--store $STORE bank list" "--store $STORE lookup $PICTURE"; do
    # shellcheck disable=SC2086
    echo "round $round | $command | base $(seconds "$BASE" $command) | this $(seconds "$HERE" $command)"
  done
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
